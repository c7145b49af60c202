"""The push receiver: 200 / 401 / 409 / 400 / 422 exactly, over ASGI, WSGI and the standalone server."""

import asyncio
import errno
import io
import json
import os
import threading

import httpx
import pytest

from anvil_client import bundle as bundles
from anvil_client.client import Client
from anvil_client.receiver import Receiver, asgi_app, make_server, wsgi_app

from .helpers import PROJECT, make_bundle

KEY = bundles.generate_private_key()
PUBLIC = bundles.public_key_text(KEY)


@pytest.fixture
def client(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    c = Client(forge_url="http://127.0.0.1:9", project=PROJECT, access_token="t", cache_dir=tmp_path / "c",
               public_key=PUBLIC, background=False)
    c.apply(make_bundle(KEY, 1))
    return c


def body(data) -> bytes:
    return json.dumps(data).encode()


def test_statuses(client):
    receiver = Receiver(client, "s3cret")
    auth = "Bearer s3cret"
    assert receiver.handle(None, body(make_bundle(KEY, 2)))[0] == 401
    assert receiver.handle("Bearer wrong", body(make_bundle(KEY, 2)))[0] == 401
    assert receiver.handle(auth, b"{not json")[0] == 400
    assert receiver.handle(auth, b"[1, 2]")[0] == 400
    status, answer = receiver.handle(auth, body(make_bundle(bundles.generate_private_key(), 2)))
    assert (status, answer["reason"]) == (422, "signature")
    status, answer = receiver.handle(auth, body(make_bundle(KEY, 2, project="00000000-0000-0000-0000-000000000000")))
    assert (status, answer["reason"]) == (422, "project")
    # Every answer says what the client serves now, so the FORGE can list it without a heartbeat.
    held = {"sequence": 2, "versions": {"emails": "1.0.0"}}
    assert receiver.handle(auth, body(make_bundle(KEY, 2))) == (200, {"applied": True, **held})
    assert receiver.handle(auth, body(make_bundle(KEY, 2))) == (
        200, {"applied": False, "detail": "already held", **held})  # idempotent by sequence
    status, answer = receiver.handle(auth, body(make_bundle(KEY, 1)))
    assert (status, answer["reason"], answer["sequence"], answer["versions"]) == (422, "stale", 2, held["versions"])
    client.set_mode("frozen")
    status, answer = receiver.handle(auth, body(make_bundle(KEY, 3)))
    assert (status, answer["sequence"], answer["versions"]) == (409, 2, held["versions"])
    assert client.sequence == 2 and client.prompt("emails.welcome", name="x") == "Hello x!"


def test_asgi_app(client):
    app = asgi_app(Receiver(client, "k"))

    async def call(method, payload, auth="Bearer k"):
        sent = []
        messages = [{"type": "http.request", "body": payload[:10], "more_body": True},
                    {"type": "http.request", "body": payload[10:], "more_body": False}]

        async def receive():
            return messages.pop(0)

        async def send(message):
            sent.append(message)
        scope = {"type": "http", "method": method, "headers": [(b"authorization", auth.encode())]}
        await app(scope, receive, send)
        return sent[0]["status"], json.loads(sent[1]["body"])

    assert asyncio.run(call("POST", body(make_bundle(KEY, 5)))) == (200, {"applied": True, "sequence": 5, "versions": {"emails": "1.0.0"}})
    assert asyncio.run(call("GET", b""))[0] == 405
    assert asyncio.run(call("POST", body(make_bundle(KEY, 6)), auth="Bearer no"))[0] == 401


def test_wsgi_app(client):
    app = wsgi_app(Receiver(client, "k"))
    payload = body(make_bundle(KEY, 7))
    started = []
    environ = {"REQUEST_METHOD": "POST", "CONTENT_LENGTH": str(len(payload)), "wsgi.input": io.BytesIO(payload),
               "HTTP_AUTHORIZATION": "Bearer k"}
    result = b"".join(app(environ, lambda status, headers: started.append(status)))
    assert started == ["200 OK"] and json.loads(result)["sequence"] == 7


def test_standalone_server(client):
    server = make_server(client.receiver(), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/anvil/receive"
        headers = {"Authorization": f"Bearer {client.receiver_secret}"}
        assert httpx.post(url, content=body(make_bundle(KEY, 9)), headers=headers).status_code == 200
        assert httpx.post(url.replace("receive", "other"), content=b"{}", headers=headers).status_code == 404
        assert client.sequence == 9
    finally:
        server.shutdown()
        server.server_close()


def test_deeply_nested_json_is_a_400_not_a_crash(client):
    receiver = Receiver(client, "k")
    for deep in (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000):
        status, answer = receiver.handle("Bearer k", deep)
        assert status == 400 and answer["reason"] == "malformed" and "nested too deeply" in answer["error"]
        assert answer["sequence"] == 1
    assert client.prompt("emails.welcome", name="x") == "Hello x!"


def test_a_push_is_served_even_when_the_cache_cannot_be_written(client, monkeypatch, tmp_path):
    """A full disk (ENOSPC on fsync) must not turn a push into a 500: the verified bundle is served from
    memory, the answer says it was not persisted, and the write is retried on the next push."""
    real_fsync = os.fsync

    def disk_full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    receiver = Receiver(client, "k")
    push = body(make_bundle(KEY, 2, {"emails": ("1.1.0", {"welcome": "Hi {{ name }}!"})}))
    held = {"sequence": 2, "versions": {"emails": "1.1.0"}}
    status, answer = receiver.handle("Bearer k", push)
    assert (status, answer["applied"], answer["reason"]) == (200, True, "cache")
    assert str(tmp_path / "c") in answer["error"] and os.strerror(errno.ENOSPC) in answer["error"]
    assert {k: answer[k] for k in held} == held
    assert client.prompt("emails.welcome", name="x") == "Hi x!"
    assert os.strerror(errno.ENOSPC) in client.status()["cache_error"]
    status, answer = receiver.handle("Bearer k", push)  # the same push again: held, still not on disk
    assert (status, answer["applied"], answer["reason"]) == (200, False, "cache")
    monkeypatch.setattr(os, "fsync", real_fsync)  # space is freed
    assert receiver.handle("Bearer k", push) == (200, {"applied": False, "detail": "already held", **held})
    assert client.status()["cache_error"] is None
    restarted = Client(forge_url="http://127.0.0.1:9", project=PROJECT, access_token="t", cache_dir=tmp_path / "c",
                       public_key=PUBLIC, background=False)
    assert restarted.sequence == 2 and restarted.prompt("emails.welcome", name="y") == "Hi y!"
    assert [p.name for p in (tmp_path / "c").iterdir() if p.name.endswith(".tmp")] == []
