"""The snapshot of a prompt set: what a version freezes and what diffs compare."""

from __future__ import annotations

from .models import PromptSet


def prompt_snapshot(prompt) -> dict:
    return {
        "name": prompt.name,
        "description": prompt.description,
        "template": prompt.template,
        "parameters": list(prompt.parameters),
        "metadata": dict(prompt.metadata),
    }


def build_snapshot(prompt_set: PromptSet) -> dict:
    """The working copy of a set, as a plain JSON-serialisable dict (see docs/data-model.md)."""
    return {
        "name": prompt_set.name,
        "description": prompt_set.description,
        "metadata": dict(prompt_set.metadata),
        "prompts": {p.slug: prompt_snapshot(p) for p in prompt_set.prompts.order_by("slug")},
    }


def content_of(snapshot: dict) -> dict:
    """What counts as a version's content (everything but the set's name/description)."""
    return {"metadata": snapshot.get("metadata", {}), "prompts": snapshot.get("prompts", {})}
