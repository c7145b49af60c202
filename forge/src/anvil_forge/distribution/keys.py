"""The FORGE's Ed25519 signing keys: the current one, created in the data directory the first time it is
needed, and the keys it rotated away from (docs/security.md#key-rotation).

On disk, in the data directory:

* ``forge_ed25519.pem``: the **current** signing key, as every release wrote it (0600). Every process signs
  with what this file holds; it is re-read when it changes, so a worker started before a rotation signs
  with the new key from its next bundle on.
* ``keys/`` (0700): ``keys.json`` (0600), every key this FORGE has had (``key_id``, ``public_key``,
  ``created_at``, ``retired_at``) and the endorsements of each new key by the one before it; and
  ``<key_id>.pem`` (0600), the private key of each **previous** key until it is retired.

A key's state is derived, never stored, so a rotation interrupted half-way cannot leave two current keys:
``current`` (in ``forge_ed25519.pem``), ``retired`` (``retired_at`` set, private key deleted) or
``previous``. Rotations and retirements take ``keys/.lock`` so two at once cannot interleave.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

from django.conf import settings

from anvil_client import bundle as bundles
from anvil_client import keys as key_chain
from anvil_forge.core.files import create_once

KEY_FILE = "forge_ed25519.pem"
KEYS_DIR = "keys"
MANIFEST = "keys.json"
MANIFEST_FORMAT = "anvil-forge-keys"


class KeyStateError(ValueError):
    """A rotation or retirement that cannot be done (the message says why)."""


def _path() -> Path:
    return settings.DATA_DIR / KEY_FILE


def _dir() -> Path:
    return settings.DATA_DIR / KEYS_DIR


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def ensure_key() -> None:
    """Create the key file if it does not exist yet (0600, never overwritten; when processes race, the
    first one's key is everyone's)."""
    create_once(_path(), bundles.private_key_to_pem(bundles.generate_private_key()))


@lru_cache(maxsize=4)
def _load(path: str, stamp: tuple[int, int, int] | None = None):
    # Keyed by the file's identity and change time: a rotation replaces the file (a new inode), so every
    # process picks up the new key on its next call, while an unchanged file is parsed once.
    with open(path, "rb") as fh:
        return bundles.private_key_from_pem(fh.read())


def private_key():
    """The current signing key, as the key file holds it now (one stat per call)."""
    ensure_key()
    path = _path()
    info = os.stat(path)
    return _load(str(path), (info.st_ino, info.st_mtime_ns, info.st_size))


def public_key() -> str:
    """``ed25519:<base64>``, published at /api/v1/forge/public_key for clients to pin."""
    return bundles.public_key_text(private_key())


# --- the manifest --------------------------------------------------------------------------

def _read_manifest() -> dict:
    try:
        data = json.loads((_dir() / MANIFEST).read_bytes())
    except FileNotFoundError:
        return {"format": MANIFEST_FORMAT, "keys": [], "endorsements": []}
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise KeyStateError(f"{_dir() / MANIFEST} is not an Anvil key manifest")
    return data


def _replace(path: Path, content: bytes) -> None:
    """Replace ``path`` at once (0600): readers see the old file or the new one, never half of one."""
    fd, aside = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(aside, path)
    except BaseException:
        os.unlink(aside)
        raise


@contextmanager
def _locked():
    folder = _dir()
    folder.mkdir(mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)
    with open(folder / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _entry(manifest: dict, public: str, created_at: str) -> dict:
    for entry in manifest["keys"]:
        if entry["public_key"] == public:
            return entry
    entry = {"key_id": bundles.key_id(public), "public_key": public, "created_at": created_at, "retired_at": None}
    manifest["keys"].append(entry)
    return entry


def _state(entry: dict, current: str) -> str:
    if entry["public_key"] == current:
        return "current"
    return "retired" if entry.get("retired_at") else "previous"


# --- reading ---------------------------------------------------------------------------------

def signing_keys() -> list[dict]:
    """Every key, oldest first: ``{key_id, public_key, state, created_at, retired_at}`` (the current key
    is listed even before the first rotation)."""
    current = public_key()
    manifest = _read_manifest()
    if not any(e["public_key"] == current for e in manifest["keys"]):
        created = datetime.fromtimestamp(_path().stat().st_mtime, timezone.utc)
        _entry(manifest, current, created.isoformat(timespec="seconds").replace("+00:00", "Z"))
    return [{**e, "state": _state(e, current)} for e in manifest["keys"]]


def endorsements() -> list[dict]:
    """Every endorsement, oldest first (each new key signed by the key before it)."""
    return list(_read_manifest()["endorsements"])


def chain() -> dict:
    """What ``GET /api/v1/forge/keys`` serves: the public keys (never a private one) and the endorsements,
    which let a client pinned to any earlier key reach the current one, retired keys included."""
    return {"current_key": public_key(),
            "keys": [{k: e[k] for k in ("key_id", "public_key", "state", "created_at", "retired_at")}
                     for e in signing_keys()],
            "endorsements": endorsements()}


# --- rotating and retiring -----------------------------------------------------------------------

def rotate() -> tuple[dict, dict]:
    """Make a new signing key, endorsed by the current one, and make it current. Returns the old and the
    new key's entries. The old private key is kept (state ``previous``) until :func:`retire`."""
    with _locked():
        ensure_key()
        old_pem = _path().read_bytes()
        old = bundles.private_key_from_pem(old_pem)
        old_public = bundles.public_key_text(old)
        manifest = _read_manifest()
        created = datetime.fromtimestamp(_path().stat().st_mtime, timezone.utc)
        old_entry = _entry(manifest, old_public, created.isoformat(timespec="seconds").replace("+00:00", "Z"))
        create_once(_dir() / f"{old_entry['key_id']}.pem", old_pem)
        new = bundles.generate_private_key()
        new_pem = bundles.private_key_to_pem(new)
        new_public = bundles.public_key_text(new)
        now = _now()
        new_entry = _entry(manifest, new_public, now)
        manifest["endorsements"].append(key_chain.endorse(old, new_public, now))
        # The endorsement is on disk before the new key is current, so nothing is ever signed by a key no
        # client can reach. (A crash in between leaves an endorsed key that never signed: harmless.)
        _replace(_dir() / MANIFEST, json.dumps(manifest, indent=1).encode())
        _replace(_path(), new_pem)  # the current key lives in forge_ed25519.pem only
    return {**old_entry, "state": "previous"}, {**new_entry, "state": "current"}


def retire(key_id: str) -> dict:
    """Delete a previous key's private key: it signs nothing any more. Its public key and endorsements stay
    served, so clients that only know it can still follow the chain. The current key cannot be retired."""
    with _locked():
        current = public_key()
        manifest = _read_manifest()
        found = [e for e in manifest["keys"] if e["key_id"] == key_id]
        if not found:
            if bundles.key_id(current) == key_id:
                raise KeyStateError(f"{key_id} is the current signing key: rotate first, then retire it")
            raise KeyStateError(f"no signing key {key_id} (see `anvil keys list`)")
        entry = found[0]
        if entry["public_key"] == current:
            raise KeyStateError(f"{key_id} is the current signing key: rotate first, then retire it")
        if entry.get("retired_at"):
            raise KeyStateError(f"{key_id} is already retired")
        entry["retired_at"] = _now()
        _replace(_dir() / MANIFEST, json.dumps(manifest, indent=1).encode())
        try:
            (_dir() / f"{key_id}.pem").unlink()
        except FileNotFoundError:
            pass
    return {**entry, "state": "retired"}
