import json
import socket
import threading

import pytest

import anvil_client as anvil
from anvil_client import bundle as bundles
from anvil_client.client import Client

from .helpers import PROJECT, make_bundle

KEY = bundles.generate_private_key()
PUBLIC = bundles.public_key_text(KEY)
NOWHERE = "http://127.0.0.1:9"  # discard port: nothing listens


@pytest.fixture
def make_client(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray .anvil/client.json from elsewhere
    for var in ("ANVIL_FORGE_URL", "ANVIL_PROJECT", "ANVIL_ACCESS_TOKEN", "ANVIL_MODE", "ANVIL_CACHE_DIR",
                "ANVIL_FORGE_PUBLIC_KEY", "ANVIL_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    clients = []

    def make(**kw):
        kw.setdefault("cache_dir", tmp_path / "cache")
        kw.setdefault("public_key", PUBLIC)
        client = Client(forge_url=NOWHERE, project=PROJECT, access_token="t", background=False, **kw)
        clients.append(client)
        return client
    yield make
    for c in clients:
        c.stop()


def test_prompt_renders_the_applied_bundle(make_client):
    client = make_client()
    client.apply(make_bundle(KEY, 1))
    assert client.prompt("emails.welcome", name="Ada") == "Hello Ada!"
    assert client.template("emails.welcome") == "Hello {{ name }}!"
    status = client.status()
    assert (status["sequence"], status["versions"], status["source"], status["prompt_count"]) == (
        1, {"emails": "1.0.0"}, "forge", 1)


def test_typed_errors_name_the_prompt_and_parameter(make_client):
    client = make_client()
    client.apply(make_bundle(KEY, 1))
    with pytest.raises(anvil.UnknownPromptError, match="'emails.nope'"):
        client.prompt("emails.nope")
    with pytest.raises(anvil.PromptInputError) as exc:
        client.prompt("emails.welcome")
    assert exc.value.parameter == "name" and "emails.welcome" in str(exc.value)


def test_a_restarted_client_serves_from_disk_without_network(make_client, monkeypatch):
    make_client().apply(make_bundle(KEY, 2))

    def no_network(*args, **kwargs):
        raise AssertionError("network used")
    monkeypatch.setattr(socket.socket, "connect", no_network)
    restarted = make_client()
    assert restarted.prompt("emails.welcome", name="Bo") == "Hello Bo!"
    assert restarted.status()["source"] == "disk" and restarted.sequence == 2


def test_an_altered_cache_is_refused(make_client, tmp_path):
    make_client().apply(make_bundle(KEY, 2))
    path = tmp_path / "cache" / "state.json"
    path.write_text(path.read_text().replace("Hello", "Hellp"))
    restarted = make_client(fallbacks={"emails.welcome": "Hi {{ name }} (fallback)"})
    assert restarted.prompt("emails.welcome", name="Cy") == "Hi Cy (fallback)"
    status = restarted.status()
    assert status["source"] == "fallbacks" and status["on_fallbacks"] == ["emails.welcome"]
    assert "checksum" in status["last_error"]


def test_a_bad_update_keeps_what_was_served(make_client):
    client = make_client()
    client.apply(make_bundle(KEY, 3))
    other_forge = bundles.generate_private_key()
    refused = [
        (make_bundle(other_forge, 4), "signature"),
        (make_bundle(KEY, 4, project="00000000-0000-0000-0000-000000000000"), "project"),
        (make_bundle(KEY, 2), "stale"),
        (make_bundle(KEY, 3), "stale"),
        ({**make_bundle(KEY, 4), "sequence": 5}, "checksum"),
    ]
    for data, reason in refused:
        with pytest.raises(anvil.SyncError) as exc:
            client.apply(data)
        assert exc.value.reason == reason
        assert client.prompt("emails.welcome", name="Di") == "Hello Di!" and client.sequence == 3


def test_fallbacks_only_while_nothing_verified_is_held(make_client):
    client = make_client(fallbacks={"emails.welcome": "fallback {{ name }}", "chat.system": "be nice"})
    assert client.prompt("emails.welcome", name="E") == "fallback E"
    client.apply(make_bundle(KEY, 1))
    assert client.prompt("emails.welcome", name="E") == "Hello E!"
    assert client.prompt("chat.system") == "be nice"
    assert client.status()["on_fallbacks"] == ["chat.system"]


def test_frozen_ignores_updates_until_an_explicit_sync_and_the_mode_persists(make_client):
    client = make_client(mode="frozen")
    client.apply(make_bundle(KEY, 1), force=True)
    with pytest.raises(anvil.SyncError) as exc:
        client.apply(make_bundle(KEY, 2))
    assert exc.value.reason == "frozen" and client.sequence == 1
    restarted = make_client()
    assert restarted.mode == "frozen"
    restarted.set_mode("accepting")
    assert make_client().mode == "accepting"


def test_pins_hold_a_set_outside_its_specifier(make_client):
    sets_v1 = {"emails": ("1.2.0", {"welcome": "v1.2"}), "chat": ("0.1.0", {"system": "chat 0.1"})}
    sets_v2 = {"emails": ("2.0.0", {"welcome": "v2"}), "chat": ("0.2.0", {"system": "chat 0.2"})}
    sets_v3 = {"emails": ("1.3.0", {"welcome": "v1.3"}), "chat": ("0.2.0", {"system": "chat 0.2"})}
    client = make_client(pins={"emails": "^1.2"})
    client.apply(make_bundle(KEY, 1, sets_v1))
    client.apply(make_bundle(KEY, 2, sets_v2))
    assert client.prompt("emails.welcome") == "v1.2" and client.prompt("chat.system") == "chat 0.2"
    assert client.status()["versions"] == {"emails": "1.2.0", "chat": "0.2.0"}
    restarted = make_client(pins={"emails": "^1.2"})
    assert restarted.prompt("emails.welcome") == "v1.2" and restarted.sequence == 2
    restarted.apply(make_bundle(KEY, 3, sets_v3))
    assert restarted.prompt("emails.welcome") == "v1.3"
    state = json.loads((restarted._cache.state_path).read_text())
    assert [b["sequence"] for b in state["bundles"]] == [3]  # nothing older needed any more


def test_unpublished_sets_disappear(make_client):
    client = make_client()
    client.apply(make_bundle(KEY, 1, {"emails": ("1.0.0", {"a": "A"}), "chat": ("1.0.0", {"b": "B"})}))
    client.apply(make_bundle(KEY, 2, {"emails": ("1.0.1", {"a": "A2"})}))
    assert client.prompt_ids() == ["emails.a"]


def test_prompt_never_sees_half_of_two_versions(make_client):
    client = make_client()
    client.apply(make_bundle(KEY, 1, {"s": ("1.0.1", {"a": "1", "b": "1"})}))
    errors, seen = [], set()
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            table = client._table  # what one call of prompt() reads
            pair = (table.entries["s.a"].template, table.entries["s.b"].template)
            if pair[0] != pair[1]:
                errors.append(pair)
            seen.add(client.prompt("s.a"))

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for seq in range(2, 60):
        client.apply(make_bundle(KEY, seq, {"s": (f"1.0.{seq}", {"a": str(seq), "b": str(seq)})}))
    stop.set()
    for t in threads:
        t.join()
    assert errors == [] and len(seen) > 1


def test_prompt_does_no_network_io(make_client, monkeypatch):
    client = make_client()
    client.apply(make_bundle(KEY, 1))
    calls = []
    monkeypatch.setattr(socket.socket, "connect", lambda *a: calls.append(a))
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: calls.append(a))
    for _ in range(100):
        client.prompt("emails.welcome", name="x")
    assert calls == []


def test_sync_with_the_forge_down_raises_and_keeps_serving(make_client):
    client = make_client()
    client.apply(make_bundle(KEY, 1))
    with pytest.raises(anvil.SyncError) as exc:
        client.sync()
    assert exc.value.reason == "network"
    assert client.prompt("emails.welcome", name="F") == "Hello F!"


@pytest.mark.parametrize("url", ["http://forge.example.com", "http://127.evil.example", "http://localhost.example",
                                 "http://[::2]:8000"])
def test_https_is_required_off_loopback(make_client, url):
    client = make_client()
    client.forge_url = url
    with pytest.raises(anvil.ConfigurationError, match="https"):
        client.sync()


@pytest.mark.parametrize("url", ["http://127.0.0.1:9", "http://127.1.2.3:9", "http://localhost:9", "http://[::1]:9"])
def test_plain_http_is_allowed_on_loopback(make_client, url):
    client = make_client()
    client.forge_url = url
    with pytest.raises(anvil.SyncError) as exc:  # it tries: nothing listens there
        client.sync()
    assert exc.value.reason == "network"


def test_requests_name_the_instance_for_the_forges_rate_limit(make_client, tiny_forge):
    """The FORGE counts LIVE clients per instance (many share a NAT address): every request says which."""
    seen = []

    def answer(request):
        seen.append((request.headers.get("X-Anvil-Instance"), request.headers.get("Authorization")))
        return 500

    client = make_client()
    client.forge_url = tiny_forge(answer)
    with pytest.raises(anvil.SyncError):
        client.sync()
    assert seen == [(client.instance_id, "Bearer t")]


def test_status_says_when_the_forge_last_accepted_a_registration(make_client, tiny_forge):
    """``status()["last_registered"]`` tells an operator (and a test) that the FORGE knows this instance."""
    answers = [503, 200, 500]
    client = make_client()
    client.forge_url = tiny_forge(lambda request: answers.pop(0))
    assert client.status()["last_registered"] is None
    assert client.register() is False
    assert client.status()["last_registered"] is None  # a refused registration is not one
    assert client.register() is True
    accepted = client.status()["last_registered"]
    assert accepted is not None
    assert client.register() is False
    assert client.status()["last_registered"] == accepted  # still the last accepted one


def test_registration_reports_only_the_100_most_used_prompts(make_client, tiny_forge):
    """The FORGE refuses a registration with more than 100 use counts (or an id over 200 characters):
    a client that has served many prompts still registers, reporting its most used ones."""
    refused = []

    def forge(request):
        uses = json.loads(request.body)["use_counts"]
        if len(uses) > 100 or any(len(k) > 200 for k in uses):
            refused.append(len(uses))
            return 400
        return 200

    long_id = "emails." + "x" * 250
    client = make_client(fallbacks={long_id: "a fallback with a very long id"})
    client.apply(make_bundle(KEY, 1, {"s": ("1.0.0", {f"p{i:03d}": "x" for i in range(150)})}))
    for i in range(150):
        for _ in range(i + 1):
            client.prompt(f"s.p{i:03d}")  # s.p149 is used most, s.p000 least
    for _ in range(1000):
        client.prompt(long_id)
    client.forge_url = tiny_forge(forge)
    assert client.describe()["use_counts"] == {f"s.p{i:03d}": i + 1 for i in range(50, 150)}
    assert client.register() is True and refused == []
    assert client.status()["last_registered"] is not None


DEEP = b"[" * 100_000 + b"]" * 100_000  # valid JSON, nested far deeper than any parser recurses


def test_a_deeply_nested_bundle_from_the_forge_is_a_malformed_sync(make_client, tiny_forge):
    client = make_client()
    client.apply(make_bundle(KEY, 1))
    client.forge_url = tiny_forge(lambda request: (200, DEEP))
    with pytest.raises(anvil.SyncError) as exc:
        client.sync()
    assert exc.value.reason == "malformed" and "nested too deeply" in exc.value.message
    assert client.prompt("emails.welcome", name="G") == "Hello G!" and client.sequence == 1
    assert "nested too deeply" in client.status()["last_error"]


def test_a_deeply_nested_public_key_answer_is_a_sync_error(make_client, tiny_forge):
    client = make_client(public_key=None)
    client.forge_url = tiny_forge(lambda request: (200, b'{"public_key":' + DEEP + b"}"))
    with pytest.raises(anvil.SyncError) as exc:
        client.sync()
    assert "public key" in exc.value.message and client.public_key() is None


def test_a_deeply_nested_config_file_is_a_configuration_error(make_client, tmp_path):
    (tmp_path / ".anvil").mkdir()
    (tmp_path / ".anvil" / "client.json").write_bytes(DEEP)
    with pytest.raises(anvil.ConfigurationError, match="client.json"):
        make_client()
