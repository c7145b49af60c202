"""Approved content: what an approver approved, by digest, so that what reaches a LIVE app is only ever
content someone with the approve right has seen (see docs/data-model.md, "Approvals").

A version is approved when its content — its prompts and the set's metadata, :func:`snapshots.content_of` —
equals content that was approved for its set: the working copy when a review was approved, or the version
itself when an approver approved it. So a rollback to approved content needs no new approval, and a version
made after approval (a rollback to a rejected text included) needs its own.
"""

from __future__ import annotations

import hashlib

from anvil_client.bundle import canonical

from .models import Approval, PromptSet, Version
from .snapshots import content_of


def content_digest(snapshot: dict) -> str:
    return hashlib.sha256(canonical(content_of(snapshot))).hexdigest()


def approve(prompt_set: PromptSet, snapshot: dict, source: str, actor=None, version: Version | None = None) -> bool:
    """Record ``snapshot``'s content as approved for the set; False when it already was."""
    _, created = Approval.objects.get_or_create(
        prompt_set=prompt_set, digest=content_digest(snapshot),
        defaults={"source": source, "approved_by": actor, "version": version})
    return created


def approval_of(version: Version) -> Approval | None:
    """The approval covering this version's content, or None."""
    digest = content_digest(version.snapshot)
    cached = getattr(version.prompt_set, "_prefetched_objects_cache", {}).get("approvals")
    if cached is not None:  # prefetched with the versions: no query per version
        return next((a for a in cached if a.digest == digest), None)
    return Approval.objects.filter(prompt_set_id=version.prompt_set_id, digest=digest).first()
