"""The disk cache: a cache that cannot be written never stops updates; stale temporary files are cleaned up
when the cache is opened; a cache file that cannot be parsed is refused, never a crash."""

import errno
import json
import os
import time

import pytest

import anvil_client as anvil
from anvil_client import bundle as bundles
from anvil_client.client import Client

from .helpers import PROJECT, make_bundle

KEY = bundles.generate_private_key()
PUBLIC = bundles.public_key_text(KEY)
NEWER = {"emails": ("1.1.0", {"welcome": "Hi {{ name }}!"})}


@pytest.fixture
def make_client(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray .anvil/client.json from elsewhere
    for var in ("ANVIL_FORGE_URL", "ANVIL_PROJECT", "ANVIL_ACCESS_TOKEN", "ANVIL_MODE", "ANVIL_CACHE_DIR",
                "ANVIL_FORGE_PUBLIC_KEY", "ANVIL_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    clients = []

    def make(forge="http://127.0.0.1:9", **kw):
        kw.setdefault("cache_dir", tmp_path / "cache")
        kw.setdefault("public_key", PUBLIC)
        client = Client(forge_url=forge, project=PROJECT, access_token="t", background=False, **kw)
        clients.append(client)
        return client
    yield make
    for c in clients:
        c.stop()


def block(path):
    """Put a directory where the cache writes ``path``: every replace of it fails with a real OSError
    (EISDIR) from the kernel, also when the tests run as root (for whom a read-only mode changes nothing)."""
    if path.exists():
        path.unlink()
    path.mkdir(parents=True)
    return path


def temporaries(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_an_unwritable_cache_does_not_stop_updates(make_client, tmp_path):
    client = make_client()
    client.apply(make_bundle(KEY, 1))
    blocked = block(tmp_path / "cache" / "state.json")
    with pytest.raises(anvil.SyncError) as exc:
        client.apply(make_bundle(KEY, 2, NEWER))
    assert exc.value.reason == "cache" and exc.value.applied is True
    # The verified newer bundle is served (from memory) all the same …
    assert client.sequence == 2 and client.prompt("emails.welcome", name="Ada") == "Hi Ada!"
    # … and status() says what could not be written, and why.
    status = client.status()
    assert str(blocked) in status["cache_error"] and os.strerror(errno.EISDIR) in status["cache_error"]
    assert status["last_error"] == exc.value.message and status["versions"] == {"emails": "1.1.0"}
    # Every later apply tries again; the first write that succeeds clears the error.
    with pytest.raises(anvil.SyncError) as exc:
        client.apply(make_bundle(KEY, 3, NEWER))
    assert exc.value.reason == "cache" and client.sequence == 3
    blocked.rmdir()
    assert client.apply(make_bundle(KEY, 4, NEWER)).applied
    status = client.status()
    assert status["cache_error"] is None and status["last_error"] is None
    restarted = make_client()
    assert restarted.sequence == 4 and restarted.status()["source"] == "disk"
    assert temporaries(tmp_path / "cache") == []


def test_sync_with_a_full_disk_serves_the_bundle_and_persists_it_once_space_is_freed(make_client, tiny_forge, tmp_path,
                                                                                      monkeypatch):
    """First contact (the key is pinned on first use) with a full disk: the key and the bundle are held in
    memory, the sync says "cache", and the next sync — even one with nothing new — writes both."""
    real_fsync = os.fsync

    def disk_full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    bundle = json.dumps(make_bundle(KEY, 5, NEWER)).encode()
    url = tiny_forge(lambda request: (200, json.dumps({"public_key": PUBLIC}).encode())
                if request.path.endswith("/public_key") else (200, bundle))
    client = make_client(forge=url, public_key=None)
    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(anvil.SyncError) as exc:
        client.sync()
    assert exc.value.reason == "cache" and exc.value.applied is True
    assert str(tmp_path / "cache") in exc.value.message and os.strerror(errno.ENOSPC) in exc.value.message
    assert client.prompt("emails.welcome", name="Bo") == "Hi Bo!" and client.public_key() == PUBLIC
    with pytest.raises(anvil.SyncError) as exc:  # still full: an up-to-date sync still says so
        client.sync()
    assert exc.value.reason == "cache" and exc.value.applied is False
    assert os.strerror(errno.ENOSPC) in client.status()["cache_error"]
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert client.sync().detail == "up to date"
    assert client.status()["cache_error"] is None and client.status()["last_error"] is None
    restarted = make_client(forge=url, public_key=None)
    assert restarted.public_key() == PUBLIC and restarted.sequence == 5 and restarted.status()["source"] == "disk"
    assert temporaries(tmp_path / "cache") == []


def test_a_mode_switch_with_an_unwritable_cache_takes_effect_and_is_persisted_later(make_client, tmp_path):
    client = make_client()
    client.apply(make_bundle(KEY, 1))
    blocked = block(tmp_path / "cache" / "state.json")
    with pytest.raises(anvil.SyncError) as exc:
        client.set_mode("frozen")
    assert exc.value.reason == "cache" and client.mode == "frozen"
    with pytest.raises(anvil.SyncError) as exc:
        client.apply(make_bundle(KEY, 2))
    assert exc.value.reason == "frozen"  # FROZEN at once, though not yet on disk
    assert str(blocked) in client.status()["cache_error"]
    blocked.rmdir()
    client.apply(make_bundle(KEY, 2), force=True)
    assert client.status()["cache_error"] is None
    assert make_client().mode == "frozen"


def test_stale_temporary_files_are_removed_when_the_cache_is_opened(make_client, tmp_path):
    """Writers killed mid-write (kill -9) leave ``.state.json.*.tmp`` files: the next start removes those
    older than ten minutes, and nothing else — not a file another process is writing right now."""
    cache = tmp_path / "cache"
    make_client().apply(make_bundle(KEY, 1))
    hour_ago, minutes_ago = time.time() - 3600, time.time() - 300

    def put(name, when=None):
        path = cache / name
        path.write_bytes(b'{"format": "anvil-client-cache", "bun')
        if when is not None:
            os.utime(path, (when, when))
        return path

    stale = [put(".state.json.a1b2c3d4.tmp", hour_ago), put(".state.json.zz_9y8x7.tmp", hour_ago),
             put(".forge.key.k3y0ld12.tmp", hour_ago)]
    kept = [put(".state.json.fr3sh000.tmp"), put(".state.json.r3cent00.tmp", minutes_ago),
            put("notes.txt", hour_ago), put(".state.json.bak", hour_ago), put("state.json.a1b2c3d4.tmp", hour_ago),
            put(".state.json.tmp", hour_ago), put(".other.json.a1b2c3d4.tmp", hour_ago),
            put(".state.json.a1b2c3d4.tmp.keep", hour_ago)]
    directory = cache / ".state.json.d1r00000.tmp"
    directory.mkdir()
    os.utime(directory, (hour_ago, hour_ago))
    outside = put("outside", hour_ago)
    link = cache / ".state.json.l1nk0000.tmp"
    link.symlink_to(outside)
    os.utime(link, (hour_ago, hour_ago), follow_symlinks=False)

    restarted = make_client()
    assert [p.name for p in stale if p.exists()] == []
    assert [p.name for p in kept if not p.exists()] == []
    assert directory.is_dir() and link.is_symlink() and outside.exists()
    assert restarted.sequence == 1 and restarted.status()["last_error"] is None


DEEP = b"[" * 100_000 + b"]" * 100_000


def test_a_deeply_nested_cache_file_is_refused_not_a_crash(make_client, tmp_path):
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "state.json").write_bytes(b'{"format": "anvil-client-cache", "bundles": ' + DEEP + b"}")
    client = make_client(fallbacks={"emails.welcome": "fallback {{ name }}"})
    assert client.prompt("emails.welcome", name="Cy") == "fallback Cy"
    status = client.status()
    assert status["source"] == "fallbacks" and "disk cache refused" in status["last_error"]
    assert "nested too deeply" in status["last_error"]
    client.apply(make_bundle(KEY, 1))  # the next update rewrites it
    assert make_client().status()["source"] == "disk"
