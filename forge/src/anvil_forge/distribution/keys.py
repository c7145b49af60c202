"""The FORGE's Ed25519 signing key, created in the data directory the first time it is needed."""

from __future__ import annotations

from functools import cache

from django.conf import settings

from anvil_client import bundle as bundles
from anvil_forge.core.files import create_once

KEY_FILE = "forge_ed25519.pem"


def _path():
    return settings.DATA_DIR / KEY_FILE


def ensure_key() -> None:
    """Create the key file if it does not exist yet (0600, never overwritten; when processes race, the
    first one's key is everyone's)."""
    create_once(_path(), bundles.private_key_to_pem(bundles.generate_private_key()))


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
