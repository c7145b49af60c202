"""The FORGE's Ed25519 signing key, created on first start in the data directory."""

from __future__ import annotations

import os
import threading
from functools import cache

from django.conf import settings

from anvil_client import bundle as bundles

KEY_FILE = "forge_ed25519.pem"
_lock = threading.Lock()


def _path():
    return settings.DATA_DIR / KEY_FILE


def ensure_key() -> None:
    """Create the key file if it does not exist yet (0600, never overwritten)."""
    path = _path()
    with _lock:
        if path.exists():
            return
        pem = bundles.private_key_to_pem(bundles.generate_private_key())
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process won the race: use theirs
            return
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())


@cache
def _load(path: str):
    with open(path, "rb") as fh:
        return bundles.private_key_from_pem(fh.read())


def private_key():
    ensure_key()
    return _load(str(_path()))


def public_key() -> str:
    """``ed25519:<base64>``, published at /api/v1/forge/public_key for clients to pin."""
    return bundles.public_key_text(private_key())
