"""Writes for distribution: the app's face for every write from outside it (access tokens, publishing, LIVE
instance registration, delivery retries, the worker's pushes); the reads are in queries.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from anvil_forge.audit.services import record
from anvil_forge.core.errors import Conflict, NotFound, ValidationError
from anvil_forge.core.tokens import hash_secret, new_secret
from anvil_forge.orgs import policy
from anvil_forge.orgs.policy import Action
from anvil_forge.prompts import queries as prompt_queries
from anvil_forge.prompts import services as prompt_services
from anvil_forge.prompts.queries import Project, PromptSet, Status, Version

from . import destinations, fanout, keys, registration
from .bundles import current_sequence
from .events import broker
from .models import AccessToken, Delivery, DeliveryState, LiveInstance, Publication, PublishedVersion

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
    project = prompt_services.lock_project(prompt_set.project_id)
    policy.require(actor, Action.MANAGE_DISTRIBUTION, project.organisation, "prompt set")
    prompt_set = prompt_services.lock_prompt_set(prompt_set.pk)
    if prompt_set.status != Status.LOCKED:
        raise Conflict(f"prompt set '{prompt_set.slug}' is {Status(prompt_set.status).label}: "
                       f"only a LOCKED prompt set can be published (submit it for review and approve it first)")
    version = _version_to_publish(prompt_set, label)
    unapproved = prompt_queries.unapproved_locks(version)
    if unapproved:
        raise Conflict(f"version {version.label} of '{prompt_set.slug}' renders partials of versions nobody "
                       f"approved: {', '.join(unapproved)}; approve them (or lock approved ones) first",
                       [{"field": "version", "message": "locks unapproved versions"}])
    current = PublishedVersion.objects.filter(prompt_set=prompt_set).first()
    if current is not None and current.version_id == version.pk:
        return PublishResult(project, prompt_set, version, current_sequence(project), False)
    sequence = current_sequence(project) + 1
    publication = Publication.objects.create(project=project, sequence=sequence, prompt_set=prompt_set,
                                             version=version, published_by=actor)
    PublishedVersion.objects.update_or_create(prompt_set=prompt_set,
                                              defaults={"project": project, "version": version})
    prompt_services.mark_published(version)
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


# --- LIVE instances -----------------------------------------------------------------------------------

def register_instance(token: AccessToken, data: dict) -> LiveInstance:
    """Register or heartbeat (the access token ``token`` acting) the instance ``data["instance_id"]`` of the
    token's project: created, or refreshed with what it reports (checked: ValidationError names the field).

    An instance belongs to the token that registered it: another token of the project may not take it over
    (its receiver URL and secret) while that one is valid. New instances are counted against the project's
    limit under a lock on the project, so parallel registrations cannot overshoot it. A new or changed
    receiver URL must resolve to addresses the FORGE pushes to (destinations.py).
    """
    instance_id = registration.text(data, "instance_id", 64, required=True)
    fields = registration.clean(data)
    url = fields["receiver_url"]
    # Before the transaction, so a slow DNS answer holds no lock. A heartbeat repeating its URL is not
    # resolved again (a DNS hiccup must not fail heartbeats): every push checks it anyway.
    if url and not LiveInstance.objects.filter(project=token.project, instance_id=instance_id,
                                               receiver_url=url).exists():
        destinations.check_registration(url)
    return _register(token, instance_id, fields)


@transaction.atomic
def _register(token: AccessToken, instance_id: str, fields: dict) -> LiveInstance:
    project = token.project
    mine = LiveInstance.objects.filter(project=project, instance_id=instance_id)
    instance = mine.select_for_update(of=("self",)).select_related("access_token").first()
    if instance is None:
        prompt_services.lock_project(project.pk)  # new instances one at a time
        instance = mine.select_for_update(of=("self",)).select_related("access_token").first()  # made meanwhile?
    now = timezone.now()
    if instance is None:
        limit = settings.ANVIL_MAX_LIVE_INSTANCES
        if LiveInstance.objects.filter(project=project, last_seen_at__gte=registration.gone_since()).count() >= limit:
            raise ValidationError.field(
                "instance_id", f"project '{project.slug}' already has {limit} LIVE instances heard from in "
                               f"the last day, its limit (ANVIL_MAX_LIVE_INSTANCES): a new one is not registered")
        instance = LiveInstance.objects.create(project=project, instance_id=instance_id, access_token=token,
                                               last_seen_at=now, **fields)
        record(None, project.organisation, "live_instance.register", instance,
               {"project": project.slug, "host": fields["host"], "mode": fields["mode"], "token": token.label},
               target_type="live_instance")
        return instance
    owner = instance.access_token
    if owner is not None and owner.pk != token.pk and owner.revoked_at is None:
        raise Conflict(f"LIVE instance {instance_id!r} is registered with another access token of this project "
                       f"({owner.label}); an instance id belongs to the token that registered it",
                       [{"field": "instance_id", "message": "registered with another access token"}])
    for name, value in {**fields, "access_token": token, "last_seen_at": now}.items():
        setattr(instance, name, value)
    instance.save()
    return instance


# --- deliveries ---------------------------------------------------------------------------------------

@transaction.atomic
def retry_delivery(actor, delivery: Delivery) -> Delivery:
    """The retry button: a failed delivery is queued again, due now (owners and admins)."""
    project = delivery.publication.project
    policy.require(actor, Action.MANAGE_DISTRIBUTION, project.organisation, "delivery")
    delivery = Delivery.objects.select_for_update().get(pk=delivery.pk)
    if delivery.state != DeliveryState.FAILED:
        raise Conflict(f"only a failed delivery can be retried (this one is {delivery.state})")
    delivery.state, delivery.next_attempt_at, delivery.attempts = DeliveryState.PENDING, timezone.now(), 0
    delivery.save(update_fields=["state", "next_attempt_at", "attempts", "updated_at"])
    record(actor, project.organisation, "delivery.retry", delivery.instance,
           {"project": project.slug, "sequence": delivery.publication.sequence}, target_type="live_instance")
    return delivery


def push_due_deliveries() -> int:
    """What ``anvil worker`` does, again and again: claim one batch of due deliveries (of any project), push
    them and record their outcomes (see fanout.py). Returns how many it pushed (0: nothing was due)."""
    return len(fanout.deliver_due())


# --- signing keys (the operator's, from `anvil keys`: no organisation, so no role check) ----------------------

KeyStateError = keys.KeyStateError


def rotate_signing_key() -> tuple[dict, dict]:
    """A new signing key, endorsed by the current one, signs from now on (audited ``forge_key.rotate``).
    Returns the old and the new key's entries."""
    old, new = keys.rotate()
    record(None, None, "forge_key.rotate", summary={"old_key_id": old["key_id"], "new_key_id": new["key_id"]},
           target_type="forge_key")
    return old, new


def retire_signing_key(key_id: str) -> dict:
    """Delete a previous key's private key (audited ``forge_key.retire``); raises KeyStateError."""
    entry = keys.retire(key_id)
    record(None, None, "forge_key.retire", summary={"key_id": key_id}, target_type="forge_key")
    return entry
