"""The client against a FORGE stood in by ``httpx.MockTransport``: no sockets, no threads.

``Client(transport=...)`` sends every request to the FORGE through the given transport; the loopback
tests in test_client.py and test_cache.py cover the same paths over real sockets.
"""

import json
import threading
import time

import httpx
import pytest

import anvil_client as anvil
from anvil_client import bundle as bundles
from anvil_client.client import Client, Held

from .helpers import PROJECT, make_bundle

KEY = bundles.generate_private_key()
PUBLIC = bundles.public_key_text(KEY)
FORGE = "https://forge.example.com"  # never resolved: every request ends in the mock transport
BUNDLE_PATH = f"/api/v1/projects/{PROJECT}/current_bundle"
EVENTS_PATH = f"/api/v1/projects/{PROJECT}/events"
REGISTER_PATH = f"/api/v1/projects/{PROJECT}/live_instances"
SSE = {"Content-Type": "text/event-stream"}


class Forge:
    """A scripted FORGE: ``routes`` maps (method, path) to a response or a function of the request;
    every request is kept in ``requests``."""

    def __init__(self, routes):
        self.routes = routes
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.routes.get((request.method, request.url.path), httpx.Response(404))
        return answer(request) if callable(answer) else answer

    def seen(self):
        return [(r.method, r.url.path) for r in self.requests]


@pytest.fixture
def make_client(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray .anvil/client.json from elsewhere
    for var in ("ANVIL_FORGE_URL", "ANVIL_PROJECT", "ANVIL_ACCESS_TOKEN", "ANVIL_MODE", "ANVIL_CACHE_DIR",
                "ANVIL_FORGE_PUBLIC_KEY", "ANVIL_CONFIG", "ANVIL_RECEIVER_URL"):
        monkeypatch.delenv(var, raising=False)
    clients = []

    def make(forge, **kw):
        kw.setdefault("cache_dir", tmp_path / "cache")
        kw.setdefault("public_key", PUBLIC)
        client = Client(forge_url=FORGE, project=PROJECT, access_token="t", background=False,
                        transport=httpx.MockTransport(forge), **kw)
        client._background.report_spread = 0  # report at once after a streamed release: the tests read it
        clients.append(client)
        return client
    yield make
    for c in clients:
        c.stop()


def bundle_response(sequence, etag=None, sets=None):
    headers = {"ETag": etag} if etag else {}
    return httpx.Response(200, content=bundles.canonical(make_bundle(KEY, sequence, sets)), headers=headers)


def test_sync_applies_a_bundle_served_by_the_transport(make_client):
    forge = Forge({("GET", BUNDLE_PATH): bundle_response(1, etag='"s1"')})
    client = make_client(forge)
    result = client.sync()
    assert (result.applied, result.sequence, result.detail) == (True, 1, "applied sequence 1")
    assert client.prompt("emails.welcome", name="Ada") == "Hello Ada!"
    assert client.status()["source"] == "forge" and client.status()["last_error"] is None
    [request] = forge.requests
    assert str(request.url) == FORGE + BUNDLE_PATH
    assert request.headers["Authorization"] == "Bearer t"
    assert request.headers["X-Anvil-Instance"] == client.instance_id
    assert request.headers["User-Agent"] == f"anvil-client/{anvil.__version__}"
    assert "If-None-Match" not in request.headers


def test_a_304_is_up_to_date_and_keeps_what_is_served(make_client):
    answers = iter([bundle_response(1, etag='"s1"'), httpx.Response(304)])
    forge = Forge({("GET", BUNDLE_PATH): lambda request: next(answers)})
    client = make_client(forge)
    client.sync()
    result = client.sync()
    assert (result.applied, result.sequence, result.detail) == (False, 1, "up to date")
    assert forge.requests[1].headers["If-None-Match"] == '"s1"'  # the ETag of the bundle it holds
    assert client.prompt("emails.welcome", name="Bo") == "Hello Bo!"
    assert client.status()["last_sync"] is not None and client.status()["last_error"] is None


def test_the_same_sequence_again_is_up_to_date(make_client):
    client = make_client(Forge({("GET", BUNDLE_PATH): bundle_response(1)}))
    assert client.sync().applied is True
    assert client.sync().detail == "up to date" and client.sequence == 1


def test_a_network_error_is_a_network_sync_error_and_keeps_serving(make_client):
    def unreachable(request):
        raise httpx.ConnectError("connection refused", request=request)

    client = make_client(Forge({("GET", BUNDLE_PATH): unreachable}))
    client.apply(make_bundle(KEY, 1))
    with pytest.raises(anvil.SyncError) as exc:
        client.sync()
    assert exc.value.reason == "network" and "connection refused" in exc.value.message
    assert client.status()["last_error"] == exc.value.message
    assert client.prompt("emails.welcome", name="Cy") == "Hello Cy!" and client.sequence == 1


@pytest.mark.parametrize("status, reason", [(401, "auth"), (403, "auth"), (500, "http"), (404, "http")])
def test_refusals_are_typed_sync_errors(make_client, status, reason):
    client = make_client(Forge({("GET", BUNDLE_PATH): httpx.Response(status)}))
    with pytest.raises(anvil.SyncError) as exc:
        client.sync()
    assert exc.value.reason == reason and str(status) in exc.value.message
    assert client.sequence is None


def test_a_bundle_signed_by_another_key_is_refused(make_client):
    other = bundles.generate_private_key()
    client = make_client(Forge({("GET", BUNDLE_PATH): httpx.Response(
        200, content=bundles.canonical(make_bundle(other, 1)))}))
    with pytest.raises(anvil.SyncError) as exc:
        client.sync()
    assert exc.value.reason == "signature" and client.sequence is None


def test_the_first_sync_trusts_and_pins_the_forges_key(make_client, tmp_path):
    forge = Forge({("GET", "/api/v1/forge/public_key"): httpx.Response(200, json={"public_key": PUBLIC}),
                   ("GET", BUNDLE_PATH): bundle_response(1)})
    client = make_client(forge, public_key=None)
    assert client.sync().applied is True
    assert forge.seen() == [("GET", "/api/v1/forge/public_key"), ("GET", BUNDLE_PATH)]
    assert (tmp_path / "cache" / "forge.key").read_text().strip() == PUBLIC
    assert client.public_key() == PUBLIC


def test_register_posts_what_the_client_holds(make_client):
    forge = Forge({("POST", REGISTER_PATH): httpx.Response(200, json={})})
    client = make_client(forge, receiver_url="https://app.example.com/anvil/receive")
    client.apply(make_bundle(KEY, 3))
    client.prompt("emails.welcome", name="x")
    assert client.register() is True and client.status()["last_registered"] is not None
    sent = json.loads(forge.requests[0].content)
    assert sent == {**client.describe(), "host": sent["host"]}
    assert (sent["sequence"], sent["versions"], sent["use_counts"]) == (3, {"emails": "1.0.0"}, {"emails.welcome": 1})
    assert sent["receiver_url"] == client.receiver_url and sent["receiver_secret"] == client.receiver_secret


def test_held_is_one_reading_of_what_is_served(make_client):
    client = make_client(Forge({}))
    assert client.held() == Held(None, {}, None)
    sealed = make_bundle(KEY, 4)
    client.apply(sealed)
    assert client.held() == Held(4, {"emails": "1.0.0"}, sealed["checksum"])


# --- the event stream (parsed by httpx-sse) -----------------------------------------------------


def test_the_event_stream_joins_multi_line_data_with_newlines(make_client):
    """Per the SSE spec, consecutive ``data:`` lines are one event whose data is the lines joined by
    ``\\n`` (the former hand parser glued them together); comments and ``retry:`` are not events."""
    stream = (b"retry: 3000\n"
              b": a comment\n"
              b"event: hello\n"
              b"data: first line\n"
              b"data:second line\n"
              b"data:  indented\n"
              b"\n"
              b": heartbeat\n\n"
              b"data: {\"sequence\": 1}\n\n")
    client = make_client(Forge({("GET", EVENTS_PATH): httpx.Response(200, content=stream, headers=SSE)}))
    with client._remote.events() as source:
        events = [(event.event, event.data) for event in source.iter_sse()]
    assert events == [("hello", "first line\nsecond line\n indented"), ("message", '{"sequence": 1}')]


def test_a_publish_spread_over_several_data_lines_is_pulled(make_client):
    stream = (b"event: publish\n"
              b"data: {\n"
              b"data:   \"sequence\": 2\n"
              b"data: }\n"
              b"\n")
    forge = Forge({("GET", EVENTS_PATH): httpx.Response(200, content=stream, headers=SSE),
                   ("GET", BUNDLE_PATH): bundle_response(2),
                   ("POST", REGISTER_PATH): httpx.Response(200, json={})})
    client = make_client(forge)
    client.apply(make_bundle(KEY, 1))
    client._background.listen()  # what the stream thread runs, until the stream ends
    assert client.sequence == 2 and not client._streaming
    assert forge.seen() == [("GET", EVENTS_PATH), ("GET", BUNDLE_PATH), ("POST", REGISTER_PATH)]
    assert forge.requests[0].headers["Accept"] == "text/event-stream"


def test_an_announced_sequence_already_held_pulls_nothing(make_client):
    stream = b"event: hello\ndata: {\"sequence\": 1}\n\nevent: other\ndata: {\"sequence\": 9}\n\n"
    forge = Forge({("GET", EVENTS_PATH): httpx.Response(200, content=stream, headers=SSE)})
    client = make_client(forge)
    client.apply(make_bundle(KEY, 1))
    client._background.listen()
    assert forge.seen() == [("GET", EVENTS_PATH)] and client.sequence == 1


def test_a_bundle_in_the_stream_is_applied_without_a_pull_and_a_forged_one_is_refused(make_client):
    good = bundles.canonical(make_bundle(KEY, 2)).decode()
    forged = bundles.canonical(make_bundle(bundles.generate_private_key(), 3)).decode()
    stream = f"event: bundle\ndata: {good}\n\nevent: bundle\ndata: {forged}\n\n".encode()
    forge = Forge({("GET", EVENTS_PATH): httpx.Response(200, content=stream, headers=SSE),
                   ("POST", REGISTER_PATH): httpx.Response(200, json={})})
    client = make_client(forge)
    client.apply(make_bundle(KEY, 1))
    client._background.listen()
    assert client.sequence == 2  # applied from the stream; the forged sequence 3 refused
    # No pull; the forged one's unknown key made it look for a key rotation (there is none).
    assert forge.seen() == [("GET", EVENTS_PATH), ("POST", REGISTER_PATH), ("GET", "/api/v1/forge/keys")]
    assert forge.requests[0].headers["X-Anvil-Stream"] == "bundles"
    assert forge.requests[0].headers[bundles.FORMATS_HEADER] == ",".join(map(str, bundles.FORMAT_VERSIONS))


def test_after_streamed_releases_the_instance_reports_once_a_moment_later(make_client):
    """Every instance of a channel gets a streamed release at the same instant: each reports a random
    moment later (not all at once, competing with the FORGE's streaming), and two releases make one report."""
    stream = "".join(f"event: bundle\ndata: {bundles.canonical(make_bundle(KEY, n)).decode()}\n\n"
                     for n in (2, 3)).encode()
    forge = Forge({("GET", EVENTS_PATH): httpx.Response(200, content=stream, headers=SSE),
                   ("POST", REGISTER_PATH): httpx.Response(200, json={})})
    client = make_client(forge)
    client._background.report_spread = 0.3
    client.apply(make_bundle(KEY, 1))
    client._background.listen()
    assert client.sequence == 3 and ("POST", REGISTER_PATH) not in forge.seen()
    time.sleep(0.5)
    assert forge.seen().count(("POST", REGISTER_PATH)) == 1
    assert json.loads(forge.requests[-1].content)["sequence"] == 3


def test_a_release_arriving_while_a_report_is_being_sent_is_reported_too(make_client):
    holder = {}

    def register(request):
        if len(forge.requests) == 1:  # the first report is on the wire: the next release arrives now
            holder["client"].apply(make_bundle(KEY, 2))
            holder["client"]._background._report_soon()
        return httpx.Response(200, json={})

    forge = Forge({("POST", REGISTER_PATH): register})
    client = holder["client"] = make_client(forge)
    client._background.report_spread = 0.1
    client.apply(make_bundle(KEY, 1))
    client._background._report_soon()
    time.sleep(0.5)
    assert [json.loads(r.content)["sequence"] for r in forge.requests] == [1, 2]


def test_a_pull_after_a_stream_event_that_fails_is_tried_again(make_client):
    stream = b"event: publish\ndata: {\"sequence\": 2}\n\n"
    answers = iter([httpx.Response(503), bundle_response(2)])
    forge = Forge({("GET", EVENTS_PATH): httpx.Response(200, content=stream, headers=SSE),
                   ("GET", BUNDLE_PATH): lambda request: next(answers),
                   ("POST", REGISTER_PATH): httpx.Response(200, json={})})
    client = make_client(forge)
    client.apply(make_bundle(KEY, 1))
    client._background.listen()
    assert client.sequence == 2
    assert forge.seen().count(("GET", BUNDLE_PATH)) == 2


def test_an_event_stream_refused_is_an_http_sync_error(make_client):
    client = make_client(Forge({("GET", EVENTS_PATH): httpx.Response(401)}))
    with pytest.raises(anvil.SyncError) as exc:
        client._background.listen()
    assert exc.value.reason == "http" and "401" in exc.value.message


class EndlessStream(httpx.SyncByteStream):
    """An event stream that never ends on its own: ``hello``, then a heartbeat comment every 50 ms (as the
    FORGE sends every 15 s) until it is closed."""

    def __init__(self):
        self.closed = threading.Event()

    def __iter__(self):
        yield b'event: hello\ndata: {"sequence": null}\n\n'
        while not self.closed.wait(0.05):
            yield b": heartbeat\n\n"

    def close(self):
        self.closed.set()


def wait_for(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def test_switching_to_frozen_leaves_the_event_stream(make_client):
    """Comments are no events, so the stream thread cannot notice FROZEN between heartbeats by itself:
    the switch closes the stream, and the thread ends."""
    stream = EndlessStream()
    forge = Forge({("GET", EVENTS_PATH): httpx.Response(200, stream=stream, headers=SSE),
                   ("POST", REGISTER_PATH): httpx.Response(200, json={})})
    client = make_client(forge, poll_interval=0, heartbeat_interval=3600)
    client.start()
    assert wait_for(lambda: client._streaming), forge.seen()
    client.set_mode("frozen")
    thread = client._background._stream_thread
    assert wait_for(lambda: not thread.is_alive()) and stream.closed.is_set() and not client._streaming
    assert forge.seen().count(("GET", EVENTS_PATH)) == 1  # it did not reconnect


def test_backoff_doubles_within_its_bounds_and_jitters():
    from anvil_client.retry import backoff

    assert [backoff(n, 2.0, cap=600) for n in range(1, 5)] == [4.0, 8.0, 16.0, 32.0]
    assert backoff(20, 2.0, cap=600) == 600 and backoff(0, 0.1, cap=60, floor=1.0) == 1.0
    assert backoff(9, 1.0, cap=1e9, doublings=6) == 64.0
    waits = {backoff(3, 1.0, cap=60, jitter=(0.5, 1.0)) for _ in range(50)}
    assert all(4.0 <= w <= 8.0 for w in waits) and len(waits) > 1
