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

from . import channels, destinations, fanout, keys, publish_requests, registration, releases
from .models import AccessToken, Channel, Delivery, DeliveryState, LiveInstance, Publication, PublishRequest
from .models import ReleaseKind, RequestState

TOKEN_PREFIX = "ant_"
LAST_USED_RESOLUTION = timedelta(minutes=1)


@transaction.atomic
def create_access_token(actor, project: Project, label: str, channel: str | None = None) -> tuple[AccessToken, str]:
    """A new token, bound to ``channel`` (default production); the secret is returned once and only its hash
    is kept."""
    policy.require(actor, Action.MANAGE_DISTRIBUTION, project.organisation, "project")
    label = (label or "").strip()
    if not label or len(label) > 100:
        raise ValidationError.field("label", "label must be 1-100 characters")
    bound = channels.named(project, channel)
    secret = new_secret(TOKEN_PREFIX)
    token = AccessToken.objects.create(project=project, channel=bound, label=label, token_hash=hash_secret(secret),
                                       prefix=secret[:10], created_by=actor)
    record(actor, project.organisation, "access_token.create", token,
           {"project": project.slug, "label": label, "channel": bound.name}, target_type="access_token")
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
             .select_related("project__organisation", "channel").first())
    if token is not None:
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            AccessToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
    return token


@dataclass
class PublishResult:
    project: Project
    prompt_set: PromptSet | None
    version: Version | None
    sequence: int
    changed: bool  # False when the channel already held that content
    publication: Publication | None = None
    deliveries: list = field(default_factory=list)  # one per LIVE instance with a receiver
    channel: Channel | None = None
    request: PublishRequest | None = None  # the channel requires approval: released once it is approved


@transaction.atomic
def publish(actor, prompt_set: PromptSet, label: str | None = None, channel: str | None = None,
            rollout: dict | None = None) -> PublishResult:
    """Publish an approved version (default: the newest approved one) of a LOCKED prompt set to ``channel``
    (default production), to everyone or to ``rollout``'s cohort ({percentage, labels, instance_ids}); the
    channel's sequence rises by one. A version whose content no approver approved is refused (Conflict); on
    a channel that requires approval the result is a pending request instead."""
    project = prompt_services.lock_project(prompt_set.project_id)
    policy.require(actor, Action.MANAGE_DISTRIBUTION, project.organisation, "prompt set")
    target = channels.named(project, channel)
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
    current = channels.require_not_partial(target, "publishing again")
    releases.check_rollout(target, current, rollout)  # refused now, not when it is approved
    content = {**releases.content_of(current), str(prompt_set.pk): str(version.pk)}
    if current is not None and current.content == content:
        return PublishResult(project, prompt_set, version, current.sequence, False, current, channel=target)
    if target.requires_approval:
        request = publish_requests.ask(actor, target, kind=ReleaseKind.PUBLISH, content={}, rollout=rollout,
                                       prompt_set=prompt_set, version=version)
        return PublishResult(project, prompt_set, version, current.sequence if current else 0, False,
                             channel=target, request=request)
    return _published(actor, target, prompt_set, version, rollout)


def _published(actor, target: Channel, prompt_set: PromptSet, version: Version, rollout, requested_by=None):
    project = target.project
    current = channels.head(target)
    previous = prompt_queries.versions_by_id([current.content[str(prompt_set.pk)]]).first() \
        if current and str(prompt_set.pk) in current.content else None
    content = {**releases.content_of(current), str(prompt_set.pk): str(version.pk)}
    release = releases.make(actor, target, content, kind=ReleaseKind.PUBLISH, rollout=rollout,
                            prompt_set=prompt_set, version=version, requested_by=requested_by)
    publication = release.publication
    assert publication is not None
    if not release.changed:  # (an approved request for what was published meanwhile)
        return PublishResult(project, prompt_set, version, publication.sequence, False, publication, channel=target)
    record(actor, project.organisation, "prompt_set.publish", prompt_set,
           {"project": project.slug, "channel": target.name, "version": version.label,
            "sequence": publication.sequence, "previous": previous.label if previous else None,
            "to": channels.describe_targets(publication),
            **({"requested_by": requested_by.email} if requested_by else {})})
    return PublishResult(project, prompt_set, version, publication.sequence, True, publication,
                         release.deliveries, target)


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


# --- channels: promote, rollouts, approvals -----------------------------------------------------------

@transaction.atomic
def create_channel(actor, project: Project, name: str, description: str = "",
                   requires_approval: bool = False) -> Channel:
    """A new channel of the project (owners and admins), with no release until something is published or
    promoted to it."""
    project = prompt_services.lock_project(project.pk)
    policy.require(actor, Action.MANAGE_DISTRIBUTION, project.organisation, "project")
    name = channels.clean_name(name)
    if Channel.objects.filter(project=project, name=name).exists():
        raise Conflict(f"project '{project.slug}' already has a channel {name!r}",
                       [{"field": "name", "message": "already exists"}])
    channel = Channel.objects.create(project=project, name=name, description=_description(description),
                                     requires_approval=bool(requires_approval), created_by=actor)
    record(actor, project.organisation, "channel.create", channel,
           {"project": project.slug, "channel": name, "requires_approval": channel.requires_approval},
           target_type="channel")
    return channel


@transaction.atomic
def update_channel(actor, channel: Channel, *, description: str | None = None,
                   requires_approval: bool | None = None) -> Channel:
    project = prompt_services.lock_project(channel.project_id)
    policy.require(actor, Action.MANAGE_DISTRIBUTION, project.organisation, "channel")
    changed: dict[str, object] = {}
    if description is not None and description != channel.description:
        channel.description = changed["description"] = _description(description)
    if requires_approval is not None and bool(requires_approval) != channel.requires_approval:
        channel.requires_approval = changed["requires_approval"] = bool(requires_approval)
    if changed:
        channel.save()
        record(actor, project.organisation, "channel.update", channel,
               {"project": project.slug, "channel": channel.name, **changed}, target_type="channel")
    return channel


@transaction.atomic
def delete_channel(actor, channel: Channel) -> None:
    """Delete a channel nothing depends on: not production, no release, no access token."""
    project = prompt_services.lock_project(channel.project_id)
    policy.require(actor, Action.MANAGE_DISTRIBUTION, project.organisation, "channel")
    refusal = channels.delete_refusal(channel)
    if refusal:
        raise Conflict(refusal)
    record(actor, project.organisation, "channel.delete", channel, {"project": project.slug,
                                                                     "channel": channel.name},
           target_type="channel")
    channel.delete()


def _description(value) -> str:
    value = (value or "").strip() if isinstance(value, str) else ""
    if len(value) > 200:
        raise ValidationError.field("description", "description must be at most 200 characters")
    return value


@transaction.atomic
def promote(actor, channel: Channel, source: str, rollout: dict | None = None,
            remove_missing: bool = False) -> PublishResult:
    """Release to ``channel`` exactly the set versions channel ``source`` holds now (the same bundles'
    per-set digests); to everyone or to ``rollout``'s cohort; a pending request if ``channel`` requires
    approval. A source with a rollout in progress holds two releases, so it is refused. Sets ``channel``
    holds that ``source`` does not would stop being served to its apps: refused unless ``remove_missing``."""
    project = prompt_services.lock_project(channel.project_id)
    policy.require(actor, Action.MANAGE_DISTRIBUTION, project.organisation, "channel")
    origin = channels.named(project, source, "source")
    if origin.pk == channel.pk:
        raise ValidationError.field("source", f"a channel cannot be promoted to itself ({channel.name})")
    held = channels.require_not_partial(origin, f"promoting it to {channel.name}")
    if held is None:
        raise Conflict(f"channel '{origin.name}' holds no release to promote",
                       [{"field": "source", "message": "nothing published"}])
    current = channels.require_not_partial(channel, "promoting to it")
    releases.check_rollout(channel, current, rollout)
    dropped = sorted(set(releases.content_of(current)) - set(held.content))
    if dropped and not remove_missing:
        names = ", ".join(prompt_queries.set_slugs(dropped))
        raise Conflict(f"channel '{origin.name}' does not hold {names}, which '{channel.name}' publishes: a promote "
                       f"makes '{channel.name}' hold exactly what '{origin.name}' holds, so its apps would stop "
                       f"getting {names}. Publish them to '{origin.name}' first, or promote with remove_missing",
                       [{"field": "remove_missing", "message": "would remove published sets"}])
    if current is not None and current.content == held.content:
        return PublishResult(project, None, None, current.sequence, False, current, channel=channel)
    if channel.requires_approval:
        request = publish_requests.ask(actor, channel, kind=ReleaseKind.PROMOTE, content=dict(held.content),
                                       rollout=rollout, source_channel=origin.name)
        return PublishResult(project, None, None, current.sequence if current else 0, False, channel=channel,
                             request=request)
    return _promoted(actor, channel, origin.name, dict(held.content), rollout)


def _promoted(actor, channel: Channel, source: str, content: dict, rollout, requested_by=None) -> PublishResult:
    project = channel.project
    release = releases.make(actor, channel, content, kind=ReleaseKind.PROMOTE, rollout=rollout,
                            source_channel=source, requested_by=requested_by)
    publication = release.publication
    assert publication is not None
    if not release.changed:  # (an approved request for what the channel came to hold meanwhile)
        return PublishResult(project, None, None, publication.sequence, False, publication, channel=channel)
    record(actor, project.organisation, "channel.promote", channel,
           {"project": project.slug, "channel": channel.name, "from": source, "sequence": publication.sequence,
            "to": channels.describe_targets(publication),
            **({"requested_by": requested_by.email} if requested_by else {})}, target_type="channel")
    return PublishResult(project, None, None, publication.sequence, True, publication, release.deliveries,
                         channel)


@transaction.atomic
def expand_rollout(actor, channel: Channel, rollout: dict) -> PublishResult:
    """Widen the rollout in progress (``{percentage?, labels?, instance_ids?, everyone?}``); no approval is
    asked: what it releases was released to the channel already."""
    project = prompt_services.lock_project(channel.project_id)
    policy.require(actor, Action.MANAGE_DISTRIBUTION, project.organisation, "channel")
    release = releases.expand(actor, channel, rollout if isinstance(rollout, dict) else {})
    return PublishResult(project, None, None, release.sequence, True, release.publication, release.deliveries,
                         channel)


@transaction.atomic
def rollback(actor, channel: Channel) -> PublishResult:
    """A new release restoring the content before the channel's newest one, for everyone (audited
    ``channel.rollback``); never waits for approval: it is how a bad release is undone."""
    project = prompt_services.lock_project(channel.project_id)
    policy.require(actor, Action.MANAGE_DISTRIBUTION, project.organisation, "channel")
    undone = channels.head(channel)
    release = releases.rollback(actor, channel)
    publication = release.publication
    assert publication is not None and undone is not None
    record(actor, project.organisation, "channel.rollback", channel,
           {"project": project.slug, "channel": channel.name, "sequence": publication.sequence,
            "undid": undone.sequence, "restores": publication.restores_sequence}, target_type="channel")
    return PublishResult(project, None, None, publication.sequence, True, publication, release.deliveries,
                         channel)


def approve_request(actor, request: PublishRequest) -> PublishResult:
    """Release what was asked (an owner or admin other than the requester, whatever way they act)."""
    publish_requests.expire_if_due(request)
    return _approve(actor, request)


@transaction.atomic
def _approve(actor, request: PublishRequest) -> PublishResult:
    project = prompt_services.lock_project(request.project_id)
    policy.require(actor, Action.MANAGE_DISTRIBUTION, project.organisation, "publish request")
    request = publish_requests.lock(request)
    publish_requests.require_pending(request)
    publish_requests.require_other_approver(actor, request)
    channel, requester = request.channel, request.requested_by
    if request.kind == ReleaseKind.PROMOTE:
        channels.require_not_partial(channel, "approving this promote")
        result = _promoted(actor, channel, request.source_channel, request.content, request.rollout or None,
                           requested_by=requester or actor)
    else:
        prompt_set = prompt_services.lock_prompt_set(request.prompt_set_id)
        if prompt_set.status != Status.LOCKED:
            raise Conflict(f"prompt set '{prompt_set.slug}' is no longer LOCKED: this request cannot be approved "
                           f"(reject it, and publish again once it is locked)")
        assert request.version is not None  # (a publish request names its version)
        result = _published(actor, channel, prompt_set, request.version, request.rollout or None,
                            requested_by=requester or actor)
    publish_requests.decide(actor, request, RequestState.APPROVED, result.publication)
    result.request = request
    return result


def reject_request(actor, request: PublishRequest) -> PublishRequest:
    publish_requests.expire_if_due(request)
    return _decide(actor, request, RequestState.REJECTED)


def cancel_request(actor, request: PublishRequest) -> PublishRequest:
    """The requester withdraws their request (or any owner or admin clears it)."""
    publish_requests.expire_if_due(request)
    return _decide(actor, request, RequestState.CANCELLED)


@transaction.atomic
def _decide(actor, request: PublishRequest, state: str) -> PublishRequest:
    project = prompt_services.lock_project(request.project_id)
    policy.require(actor, Action.MANAGE_DISTRIBUTION, project.organisation, "publish request")
    request = publish_requests.lock(request)
    publish_requests.require_pending(request)
    return publish_requests.decide(actor, request, state)


def expire_publish_requests() -> int:
    """Mark the pending requests past their time expired (audited); the worker calls this now and then."""
    return publish_requests.expire_due()


@transaction.atomic
def import_channels(actor, project: Project, document: dict) -> list[Channel]:
    """Create or update the channels a definitions document names (``queries.channel_definitions``'s form);
    channels it does not name are left alone."""
    definitions = channels.parse_definitions(document)
    done = []
    for item in definitions:
        existing = Channel.objects.filter(project=project, name=item["name"]).first()
        if existing is None:
            done.append(create_channel(actor, project, item["name"], item["description"],
                                       item["requires_approval"]))
        else:
            done.append(update_channel(actor, existing, description=item["description"],
                                       requires_approval=item["requires_approval"]))
    return done


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
    asked = registration.text(data, "channel", 64)
    if asked and asked != token.channel.name:
        raise Conflict(f"this access token is bound to channel '{token.channel.name}', not {asked!r}: use a token "
                       f"of channel {asked!r}, or drop the client's channel setting",
                       [{"field": "channel", "message": "not the token's channel"}])
    fields["channel"] = token.channel
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
