"""The remote client against small stand-in servers: each failure becomes a clear, typed error; one request
per call, no retries; the token never shows in messages or logs."""

import json
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from anvil_forge.peering import remote
from anvil_forge.peering.known_forges import parse

TOKEN = "ank_RemoteTokenNeverShown_987654321"


class StandIn:
    """A tiny HTTP server answering every request with ``self.answer`` (status, content type, body) and
    recording the requests it got."""

    def __init__(self):
        self.answer = (200, "application/json", b"{}")
        self.requests: list[tuple[str, dict]] = []
        self.delay = 0.0
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                stand_in.requests.append((self.path, dict(self.headers)))
                if stand_in.delay:
                    time.sleep(stand_in.delay)
                status, content_type, body = stand_in.answer
                if callable(body):
                    body = body(self)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                if 300 <= status < 400:
                    self.send_header("Location", "http://elsewhere.example.com/login")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def forge(self, url=None):
        return parse(json.dumps([{"name": "b", "url": url or self.url, "token": TOKEN}]))[0]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stand_in():
    server = StandIn()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def short_timeouts(settings):
    settings.ANVIL_PEER_CONNECT_TIMEOUT = 1
    settings.ANVIL_PEER_READ_TIMEOUT = 0.5


def envelope(message):
    return json.dumps({"error": {"type": "x", "message": message, "details": []}}).encode()


def info_body():
    return json.dumps({"name": "forge-b", "version": "0.1.0", "url": "http://b", "public_key": "ed25519:abc",
                       "key_id": "k", "api_version": "1", "archive_format_version": 1,
                       "user_email": "peer@b", "future_field": True}).encode()


def test_a_good_answer_is_parsed_and_the_token_sent_once(stand_in):
    stand_in.answer = (200, "application/json", info_body())
    info = remote.info(stand_in.forge())
    assert info.name == "forge-b" and info.public_key == "ed25519:abc" and info.user_email == "peer@b"
    [(path, headers)] = stand_in.requests
    assert path == "/api/v1/forge/info" and headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["User-Agent"].startswith("anvil-forge/")


def test_pages_ask_for_200_and_pass_the_cursor(stand_in):
    stand_in.answer = (200, "application/json", b'{"data": [], "meta": {"next_cursor": null, "has_more": false}}')
    page = remote.organisations(stand_in.forge(), cursor="abc")
    assert page.data == [] and not page.meta.has_more
    assert stand_in.requests[0][0] == "/api/v1/forge/organisations?limit=200&cursor=abc"


def test_unreachable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    forge = parse(json.dumps([{"name": "b", "url": f"http://127.0.0.1:{port}", "token": TOKEN}]))[0]
    with pytest.raises(remote.Unreachable) as caught:
        remote.info(forge)
    assert caught.value.kind == "unreachable"
    assert f"cannot reach b at http://127.0.0.1:{port}" in caught.value.message
    assert "connection refused" in caught.value.message


def test_timed_out(stand_in):
    stand_in.delay = 2
    started = time.monotonic()
    with pytest.raises(remote.TimedOut) as caught:
        remote.info(stand_in.forge())
    assert time.monotonic() - started < 1.8
    assert "b did not answer within 0.5 s" in caught.value.message
    assert len(stand_in.requests) == 1  # no retry


@pytest.mark.parametrize("status, body, error, words", [
    (401, envelope("the API key is not valid"), remote.Unauthorised, "refused the API key configured for it (401)"),
    (403, envelope("no read scope"), remote.Unauthorised, "(403): no read scope"),
    (404, envelope("not found"), remote.RemoteNotFound, "may not see it"),
    (500, b"<h1>oops</h1>", remote.RemoteFailed, "with an error (HTTP 500)"),
    (502, envelope("bad gateway"), remote.RemoteFailed, "(HTTP 502): bad gateway"),
    (429, envelope("slow down"), remote.RemoteFailed, "rate-limiting"),
    (302, b"", remote.Malformed, "redirected the request"),
])
def test_error_statuses(stand_in, status, body, error, words):
    stand_in.answer = (status, "application/json", body)
    with pytest.raises(error) as caught:
        remote.project(stand_in.forge(), uuid.uuid4())
    assert words in caught.value.message and caught.value.status == status
    assert len(stand_in.requests) == 1  # no retry


@pytest.mark.parametrize("content_type, body, words", [
    ("text/html", b"<html>hello</html>", "did not answer with JSON"),
    ("application/json", b"{broken", "with broken JSON"),
    ("application/json", b'{"name": "x"}', "in an unexpected shape (version: Field required)"),
    ("application/json", b"[1, 2]", "unexpected shape"),
])
def test_malformed_answers(stand_in, content_type, body, words):
    stand_in.answer = (200, content_type, body)
    with pytest.raises(remote.Malformed) as caught:
        remote.info(stand_in.forge())
    assert words in caught.value.message


def test_too_big_answers_are_refused(stand_in, monkeypatch):
    monkeypatch.setattr(remote, "BROWSE_MAX_BYTES", 1024 * 1024)
    stand_in.answer = (200, "application/json", b"[" + b"1," * 600_000 + b"1]")
    with pytest.raises(remote.Malformed, match="more than 1 MB"):
        remote.organisations(stand_in.forge())


def test_a_bad_id_never_reaches_the_remote(stand_in):
    with pytest.raises(remote.RemoteNotFound):
        remote.project(stand_in.forge(), "../../admin")
    assert stand_in.requests == []


def test_the_token_never_appears_in_messages_or_logs(stand_in, caplog):
    echo = lambda handler: envelope(f"bad key {handler.headers['Authorization']}")  # noqa: E731
    for status in (401, 403, 500):
        stand_in.answer = (status, "application/json", echo)
        with pytest.raises(remote.RemoteError) as caught:
            remote.info(stand_in.forge())
        assert TOKEN not in caught.value.message and TOKEN not in repr(caught.value) and "•••" in caught.value.message
    assert any(r.name == "anvil_forge.peering" for r in caplog.records)  # failures are logged…
    assert TOKEN not in caplog.text  # …without the token
