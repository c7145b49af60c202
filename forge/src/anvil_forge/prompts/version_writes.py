"""Writes of versions: create (snapshot the working copy, recording its tests' results), roll back, approve,
delete. Part of the prompts face: services.py hands these out; each takes the acting user, checks policy,
runs in one transaction and is audited."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from django.db import transaction

from anvil_client import versions as semver_rules

from anvil_forge.audit.services import record
from anvil_forge.core.errors import Conflict, NotFound, ValidationError
from anvil_forge.orgs import policy
from anvil_forge.orgs.policy import Action

from . import approvals, composition, services, testresults
from .models import ApprovalSource, PromptSet, Version

if TYPE_CHECKING:
    from anvil_forge.accounts.models import User


def _check_label(prompt_set: PromptSet, label: str) -> str:
    label = (label or "").strip()
    limit = cast(int, Version._meta.get_field("label").max_length)  # a CharField's: always set
    if len(label) > limit:
        raise ValidationError.field("label", f"a label has at most {limit} characters")
    existing = list(prompt_set.versions.values_list("label", flat=True))
    try:
        semver_rules.check_new_label(label, existing)
    except semver_rules.VersionError as exc:
        raise ValidationError.field("label", str(exc)) from None
    return label


def _new_version(actor: User, prompt_set: PromptSet, label: str, changelog: str, snapshot: dict, verb: str,
                 extra=None) -> Version:
    organisation = prompt_set.project.organisation
    label = _check_label(prompt_set, label)
    results = testresults.for_snapshot(prompt_set, snapshot)
    sequence = prompt_set.last_sequence + 1
    prompt_set.last_sequence = sequence
    prompt_set.save(update_fields=["last_sequence", "updated_at"])
    version = services._save(
        Version(prompt_set=prompt_set, label=label, changelog=changelog or "", snapshot=snapshot,
                sequence=sequence, created_by=actor, test_results=results),
        f"version {label} already exists",
    )
    tests = {"tests": testresults.summary(results)} if results else {}
    record(actor, organisation, f"version.{verb}", version,
           {"prompt_set": prompt_set.slug, "label": label, "sequence": sequence, **(extra or {}), **tests})
    return version


@transaction.atomic
def create_version(actor: User, prompt_set: PromptSet, label: str, changelog: str = "") -> Version:
    """Snapshot the working copy. Allowed in any status: it does not change the set's content."""
    prompt_set = services._locked_set(prompt_set)
    policy.require(actor, Action.EDIT_PROMPTS, prompt_set.project.organisation, "prompt set")
    snapshot = composition.snapshot_for_version(prompt_set)
    return _new_version(actor, prompt_set, label, changelog, snapshot, "create",
                        {"locks": snapshot["locks"]} if snapshot.get("locks") else None)


@transaction.atomic
def rollback(actor: User, prompt_set: PromptSet, to: str, label: str, changelog: str | None = None) -> Version:
    """A new, higher version whose content equals version ``to``; the working copy is left as it is."""
    prompt_set = services._locked_set(prompt_set)
    policy.require(actor, Action.EDIT_PROMPTS, prompt_set.project.organisation, "prompt set")
    source = prompt_set.versions.filter(label=to).first()
    if source is None:
        raise NotFound(f"prompt set '{prompt_set.slug}' has no version {to!r}", [{"field": "to", "message": "no such version"}])
    return _new_version(actor, prompt_set, label, changelog or f"Roll back to {to}", source.snapshot,
                        "rollback", {"to": to})


@transaction.atomic
def approve_version(actor: User, version: Version) -> Version:
    """Approve a version's content (owners and admins), so it may be published: for a version made after
    the set's approval, e.g. a rollback. Approving approved content is refused (Conflict)."""
    prompt_set = services._locked_set(version.prompt_set)
    organisation = prompt_set.project.organisation
    policy.require(actor, Action.APPROVE, organisation, "version")
    version = prompt_set.versions.get(pk=version.pk)
    if not approvals.approve(prompt_set, version.snapshot, ApprovalSource.VERSION, actor, version):
        raise Conflict(f"version {version.label} of '{prompt_set.slug}' is already approved (its content is)")
    record(actor, organisation, "version.approve", version,
           {"prompt_set": prompt_set.slug, "label": version.label,
            "approved_content": approvals.content_digest(version.snapshot)})
    return version


@transaction.atomic
def delete_version(actor: User, version: Version) -> None:
    prompt_set = services._locked_set(version.prompt_set)
    organisation = prompt_set.project.organisation
    policy.require(actor, Action.DELETE_VERSIONED, organisation, "version")
    if version.first_published_at is not None:
        raise Conflict(f"version {version.label} has been published and cannot be deleted")
    locking = composition.versions_locking(version)
    if locking:
        raise Conflict(f"version {version.label} of '{prompt_set.slug}' is locked by {', '.join(locking)} "
                       f"and cannot be deleted")
    record(actor, organisation, "version.delete", version, {"prompt_set": prompt_set.slug, "label": version.label})
    version.delete()
