"""A prompt set's *source*: its working copy (or a version) in the shape prompt files hold, for
``anvil-client pull/diff/push`` (docs/prompts-as-code.md).

A source is a plain JSON document (:func:`document`); its ETag (:func:`etag`) is a digest of exactly that
content, so the client computes the same tag from its files and a push is an HTTP ``PUT`` with
``If-Match``. :func:`plan` says what applying a source would change; services.replace_source applies it.
"""

from __future__ import annotations

import hashlib
from typing import Any

from anvil_client.bundle import canonical

from .models import PromptSet, Version
from .snapshots import kind

SET_KEYS = ("slug", "name", "description", "dependencies", "config", "metadata", "prompts")
PROMPT_KEYS = ("slug", "name", "description", "kind", "template", "messages", "parameters", "config",
               "metadata", "tests")
PROMPT_FIELDS = PROMPT_KEYS[1:]  # what an update may change (the slug is the prompt's address)


def _prompt(slug: str, p: dict) -> dict[str, Any]:
    return {"slug": slug, "name": p["name"], "description": p.get("description", ""), "kind": kind(p),
            "template": p.get("template", ""), "messages": [dict(m) for m in p.get("messages") or []],
            "parameters": list(p.get("parameters") or []), "config": dict(p.get("config") or {}),
            "metadata": dict(p.get("metadata") or {}), "tests": [dict(t) for t in p.get("tests") or []]}


def _from_snapshot(slug: str, snapshot: dict) -> dict[str, Any]:
    return {"slug": slug, "name": snapshot["name"], "description": snapshot.get("description", ""),
            "dependencies": dict(snapshot.get("dependencies") or {}), "config": dict(snapshot.get("config") or {}),
            "metadata": dict(snapshot.get("metadata") or {}),
            "prompts": [_prompt(s, p) for s, p in sorted((snapshot.get("prompts") or {}).items())]}


def document(prompt_set: PromptSet, version: Version | None = None) -> dict[str, Any]:
    """The set's working copy (or ``version``'s content) as a source document."""
    if version is not None:
        return _from_snapshot(prompt_set.slug, version.snapshot)
    prompts = {p.slug: {"name": p.name, "description": p.description, "kind": p.kind, "template": p.template,
                        "messages": p.messages, "parameters": p.parameters, "config": p.config,
                        "metadata": p.metadata, "tests": p.tests}
               for p in prompt_set.prompts.all()}
    return _from_snapshot(prompt_set.slug, {"name": prompt_set.name, "description": prompt_set.description,
                                            "dependencies": prompt_set.dependencies, "config": prompt_set.config,
                                            "metadata": prompt_set.metadata, "prompts": prompts})


def etag(doc: dict[str, Any]) -> str:
    """A strong validator of a source's content: ``"<first 32 hex of SHA-256 of its canonical JSON>"``."""
    content = {key: doc.get(key) for key in SET_KEYS}
    return '"' + hashlib.sha256(canonical(content)).hexdigest()[:32] + '"'


def plan(current: dict[str, Any] | None, wanted: dict[str, Any]) -> dict[str, Any]:
    """What applying ``wanted`` over ``current`` (None: a new set) changes: ``{"set": [fields],
    "created": [slugs], "changed": {slug: [fields]}, "deleted": [slugs]}``."""
    before = {p["slug"]: p for p in (current or {}).get("prompts", [])}
    after = {p["slug"]: p for p in wanted.get("prompts", [])}
    set_fields = [key for key in ("name", "description", "dependencies", "config", "metadata")
                  if current is None or current.get(key) != wanted.get(key)]
    changed = {slug: fields for slug in sorted(set(before) & set(after))
               if (fields := [f for f in PROMPT_FIELDS if before[slug].get(f) != after[slug].get(f)])}
    return {"set": set_fields, "created": sorted(set(after) - set(before)), "changed": changed,
            "deleted": sorted(set(before) - set(after))}
