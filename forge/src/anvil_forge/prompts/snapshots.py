"""The snapshot of a prompt set: what a version freezes and what diffs compare (docs/data-model.md).

Keys added after the first release (a prompt's ``kind``, ``messages``, ``config`` and ``tests``; a set's ``config``,
``dependencies`` and ``locks``) are written only when they differ from their default, so the snapshot — and
the content digest approvals are recorded by — of a set that uses none of them is what it always was, and
every snapshot stored before reads the same: a missing key has its default.
"""

from __future__ import annotations

from .models import PromptSet


def prompt_snapshot(prompt) -> dict:
    snapshot = {
        "name": prompt.name,
        "description": prompt.description,
        "template": prompt.template,
        "parameters": list(prompt.parameters),
        "metadata": dict(prompt.metadata),
    }
    if prompt.kind != "text":
        snapshot["kind"] = prompt.kind
        snapshot["messages"] = [dict(m) for m in prompt.messages]
    if prompt.config:
        snapshot["config"] = dict(prompt.config)
    if prompt.tests:
        snapshot["tests"] = [dict(t) for t in prompt.tests]
    return snapshot


def build_snapshot(prompt_set: PromptSet, locks: dict | None = None) -> dict:
    """The working copy of a set, as a plain JSON-serialisable dict; ``locks``: dependency slug → the label
    it resolved to (the working copy's are computed, a version's recorded)."""
    snapshot = {
        "name": prompt_set.name,
        "description": prompt_set.description,
        "metadata": dict(prompt_set.metadata),
        "prompts": {p.slug: prompt_snapshot(p) for p in prompt_set.prompts.order_by("slug")},
    }
    if prompt_set.config:
        snapshot["config"] = dict(prompt_set.config)
    if prompt_set.dependencies:
        snapshot["dependencies"] = dict(prompt_set.dependencies)
        snapshot["locks"] = dict(locks or {})
    return snapshot


CONTENT_KEYS = ("config", "dependencies", "locks")


def content_of(snapshot: dict) -> dict:
    """What counts as a version's content (everything but the set's name/description): what it renders."""
    content = {"metadata": snapshot.get("metadata", {}), "prompts": snapshot.get("prompts", {})}
    for key in CONTENT_KEYS:
        if snapshot.get(key):
            content[key] = snapshot[key]
    return content


def kind(prompt: dict) -> str:
    return prompt.get("kind") or "text"
