"""Signing-key rotation: endorsements and the chain a pinned client follows (docs/security.md#key-rotation).

When a FORGE rotates its signing key it signs an **endorsement** of the new public key with the old private
key::

    {"format": "anvil-key-endorsement", "old_key": "ed25519:…", "new_key": "ed25519:…",
     "created_at": "…Z", "signature": "ed25519:<base64>"}

The signature is Ed25519 by ``old_key`` over the canonical JSON (:func:`anvil_client.bundle.canonical`) of the
endorsement without ``signature``. A client pinned to key A accepts key C only through a chain of such
endorsements A → B → C, each signed by the key before it; nothing unsigned is ever a step. The FORGE and peers
use the same functions, so what the FORGE signs is exactly what clients check.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .bundle import BundleError, canonical, load_public_key, public_key_text

ENDORSEMENT_FORMAT = "anvil-key-endorsement"
_FIELDS = ("format", "old_key", "new_key", "created_at")
MAX_CHAIN = 64
"""The most endorsements a client looks at (a FORGE rotates a few times a year; more is someone's flood)."""


class KeyChainError(BundleError):
    """No valid chain of endorsements leads from the pinned key to the bundle's key."""

    reason = "key"


def endorse(old: Ed25519PrivateKey, new_key: str, created_at: str) -> dict[str, Any]:
    """The endorsement of ``new_key`` (``ed25519:…``) signed by ``old``."""
    load_public_key(new_key)  # refuse to endorse something that is not a key
    body = {"format": ENDORSEMENT_FORMAT, "old_key": public_key_text(old), "new_key": new_key,
            "created_at": created_at}
    return {**body, "signature": "ed25519:" + base64.b64encode(old.sign(canonical(body))).decode("ascii")}


def verify_endorsement(endorsement: Mapping[str, Any], old_key: str) -> str:
    """Check that ``endorsement`` is signed by ``old_key`` and names it; returns the endorsed new key.

    Raises :class:`KeyChainError` (a forged or altered endorsement, or one by another key)."""
    if not isinstance(endorsement, Mapping) or endorsement.get("format") != ENDORSEMENT_FORMAT or not all(
            isinstance(endorsement.get(f), str) for f in (*_FIELDS, "signature")):
        raise KeyChainError("a key endorsement is malformed")
    if endorsement["old_key"] != old_key:
        raise KeyChainError("the key endorsement is not by the pinned key")
    body = {f: endorsement[f] for f in _FIELDS}
    prefix, _, sig = endorsement["signature"].partition(":")
    try:
        if prefix != "ed25519":
            raise ValueError
        load_public_key(old_key).verify(base64.b64decode(sig, validate=True), canonical(body))
        load_public_key(endorsement["new_key"])
    except (ValueError, InvalidSignature):
        raise KeyChainError("a key endorsement's signature does not verify against the key it names "
                            "(forged or altered)") from None
    new_key: str = endorsement["new_key"]
    return new_key


def follow(pinned: str, endorsements: Iterable[Any], target: str) -> list[dict[str, Any]]:
    """The endorsements leading from ``pinned`` to ``target``, each verified against the key before it.

    The list may hold them in any order and hold others (the FORGE serves them all); only links signed by the
    key reached so far count. Raises :class:`KeyChainError` if ``target`` cannot be reached that way."""
    if pinned == target:
        return []
    by_old: dict[str, list[Mapping[str, Any]]] = {}
    for e in list(endorsements)[:MAX_CHAIN]:
        if isinstance(e, Mapping) and isinstance(e.get("old_key"), str):
            by_old.setdefault(e["old_key"], []).append(e)
    # Breadth-first from the pinned key, over verified links only (a key never repeats: no cycles).
    paths: dict[str, list[dict[str, Any]]] = {pinned: []}
    frontier = [pinned]
    failure: KeyChainError | None = None
    while frontier:
        following: list[str] = []
        for key in frontier:
            for e in by_old.get(key, ()):
                try:
                    new_key = verify_endorsement(e, key)
                except KeyChainError as exc:
                    failure = exc
                    continue
                if new_key in paths:
                    continue
                paths[new_key] = [*paths[key], dict(e)]
                if new_key == target:
                    return paths[new_key]
                following.append(new_key)
        frontier = following
    if failure is not None:
        raise KeyChainError(f"no valid endorsement chain from the pinned key to the bundle's key: {failure.message}")
    raise KeyChainError("the bundle is signed by a key the pinned key has not endorsed (no endorsement chain "
                        "leads from the pinned key to it)")


def chain_end(pinned: str, endorsements: Iterable[Any]) -> str:
    """The key a held, already verified chain leads to from ``pinned`` (``pinned`` if it leads nowhere valid).

    Used at start-up: the cache holds the links a client followed, re-checked from its pin every time."""
    key = pinned
    links = list(endorsements)[:MAX_CHAIN]
    for e in links:
        try:
            key = verify_endorsement(e, key)
        except KeyChainError:
            break  # a link that does not verify ends the chain: the keys before it were each endorsed
    return key
