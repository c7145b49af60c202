"""Writes for distribution: access tokens and publishing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from anvil_forge.audit.services import record
from anvil_forge.core.errors import Conflict, NotFound, ValidationError
from anvil_forge.core.tokens import hash_secret, new_secret
from anvil_forge.orgs import policy
from anvil_forge.orgs.policy import Action
from anvil_forge.prompts import queries as prompt_queries
from anvil_forge.prompts.models import Project, PromptSet, Status, Version

from . import fanout
from .bundles import current_sequence
from .events import broker
from .models import AccessToken, Publication, PublishedVersion

TOKEN_PREFIX = "ant_"
LAST_USED_RESOLUTION = timedelta(minutes=1)


@transaction.atomic
def create_access_token(actor, project: Project, label: str) -> tuple[AccessToken, str]:
    """A new token; the secret is returned once and only its hash is kept."""
    policy.require(actor, Action.MANAGE_DISTRIBUTION, project.organisation, "project")
    label = (label or "").strip()
    if not label or len(label) > 100:
        raise ValidationError.field("label", "label must be 1-100 characters")
    secret = new_secret(TOKEN_PREFIX)
    token = AccessToken.objects.create(project=project, label=label, token_hash=hash_secret(secret),
                                       prefix=secret[:10], created_by=actor)
    record(actor, project.organisation, "access_token.create", token, {"project": project.slug, "label": label},
           target_type="access_token")
    return token, secret


@transaction.atomic
def revoke_access_token(actor, token: AccessToken) -> AccessToken:
    project = token.project
    policy.require(actor, Action.MANAGE_DISTRIBUTION, project.organisation, "access token")
    token = AccessToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at", "updated_at"])
        record(actor, project.organisation, "access_token.revoke", token,
               {"project": project.slug, "label": token.label}, target_type="access_token")
    return token


def authenticate_access_token(secret: str) -> AccessToken | None:
    """The live token this secret belongs to, or None. Notes when it was last used (to the minute)."""
    if not secret or not secret.startswith(TOKEN_PREFIX):
        return None
    token = (AccessToken.objects.filter(token_hash=hash_secret(secret), revoked_at__isnull=True)
             .select_related("project__organisation").first())
    if token is not None:
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            AccessToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
    return token


@dataclass
class PublishResult:
    project: Project
    prompt_set: PromptSet
    version: Version
    sequence: int
    changed: bool  # False when that version was already the published one
    publication: Publication | None = None
    deliveries: list = field(default_factory=list)  # one per LIVE instance with a receiver


@transaction.atomic
def publish(actor, prompt_set: PromptSet, label: str | None = None) -> PublishResult:
    """Publish an approved version (default: the newest approved one) of a LOCKED prompt set; the project's
    sequence rises by one. A version whose content no approver approved is refused (Conflict)."""
    project = Project.objects.select_for_update().select_related("organisation").get(pk=prompt_set.project_id)
    policy.require(actor, Action.MANAGE_DISTRIBUTION, project.organisation, "prompt set")
    prompt_set = PromptSet.objects.select_for_update().get(pk=prompt_set.pk)
    if prompt_set.status != Status.LOCKED:
        raise Conflict(f"prompt set '{prompt_set.slug}' is {Status(prompt_set.status).label}: "
                       f"only a LOCKED prompt set can be published (submit it for review and approve it first)")
    version = _version_to_publish(prompt_set, label)
    current = PublishedVersion.objects.filter(prompt_set=prompt_set).first()
    if current is not None and current.version_id == version.pk:
        return PublishResult(project, prompt_set, version, current_sequence(project), False)
    sequence = current_sequence(project) + 1
    publication = Publication.objects.create(project=project, sequence=sequence, prompt_set=prompt_set,
                                             version=version, published_by=actor)
    PublishedVersion.objects.update_or_create(prompt_set=prompt_set,
                                              defaults={"project": project, "version": version})
    if version.first_published_at is None:
        Version.objects.filter(pk=version.pk).update(first_published_at=timezone.now())
    record(actor, project.organisation, "prompt_set.publish", prompt_set,
           {"project": project.slug, "version": version.label, "sequence": sequence,
            "previous": current.version.label if current else None})
    transaction.on_commit(lambda: broker.announce(project.pk, sequence))  # first: streams are the fastest path
    deliveries = fanout.plan(publication)
    return PublishResult(project, prompt_set, version, sequence, True, publication, deliveries)


def _version_to_publish(prompt_set: PromptSet, label: str | None) -> Version:
    if not label:
        approved = prompt_queries.approved_versions(prompt_set)
        if approved:
            return approved[0]
        if prompt_set.versions.exists():
            raise Conflict(f"prompt set '{prompt_set.slug}' has no approved version to publish: an owner or admin "
                           f"must approve one first", [{"field": "version", "message": "no approved version"}])
        raise NotFound(f"prompt set '{prompt_set.slug}' has no version to publish: create one first",
                       [{"field": "version", "message": "no such version"}])
    version = prompt_set.versions.filter(label=label).first()
    if version is None:
        raise NotFound(f"prompt set '{prompt_set.slug}' has no version {label!r}",
                       [{"field": "version", "message": "no such version"}])
    if prompt_queries.approval_of(version) is None:
        raise Conflict(f"version {label} of '{prompt_set.slug}' is not approved: its content differs from what an "
                       f"approver approved. An owner or admin must review and approve it before it is published",
                       [{"field": "version", "message": "not approved"}])
    return version
