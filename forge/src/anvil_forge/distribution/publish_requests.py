"""Four-eyes approval: a publish or promote to a channel that requires approval becomes a PublishRequest,
which an owner or admin other than the requester approves (then it is released) or rejects; the requester
may cancel it; it expires after ``ANVIL_PUBLISH_REQUEST_HOURS``. services.py hands these out."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from anvil_forge.audit.services import record
from anvil_forge.core.errors import Conflict, PermissionDenied
from anvil_forge.orgs import queries as org_queries
from anvil_forge.orgs.policy import Action

from . import channels
from .channels import describe_request as describe
from .models import Channel, PublishRequest, RequestState


def ask(actor, channel: Channel, *, kind: str, content: dict, rollout: dict | None, prompt_set=None,
        version=None, source_channel: str = "") -> PublishRequest:
    """A pending request (audited ``publish_request.create``), e-mailed to every other owner and admin."""
    rollout = channels.clean_rollout(rollout) if rollout else {}
    request = PublishRequest.objects.create(
        project_id=channel.project_id, channel=channel, kind=kind, prompt_set=prompt_set, version=version,
        source_channel=source_channel, content=content, rollout=rollout, requested_by=actor,
        expires_at=timezone.now() + timedelta(hours=settings.ANVIL_PUBLISH_REQUEST_HOURS))
    project = channel.project
    record(actor, project.organisation, "publish_request.create", request,
           {"project": project.slug, "channel": channel.name, "what": describe(request)},
           target_type="publish_request")
    approvers = [u.email for u in org_queries.users_who_may(Action.MANAGE_DISTRIBUTION, project.organisation)
                 if u.pk != actor.pk]
    if approvers:
        link = f"{settings.ANVIL_BASE_URL}/o/{project.organisation.slug}/p/{project.slug}/#requests"
        subject = f"Approval needed: {describe(request)} to {channel.name} ({project.name})"
        body = (f"{actor.email} asks to release {describe(request)} to the {channel.name} channel of "
                f"{project.name}. It needs an owner or admin other than them.\n\nReview it: {link}\n\n"
                f"The request expires at {request.expires_at:%Y-%m-%d %H:%M} UTC.")
        # robust: a mail server that is down must not turn the saved request into an error answer
        transaction.on_commit(lambda: send_mail(subject, body, None, approvers), robust=True)
    return request


def lock(request: PublishRequest) -> PublishRequest:
    return PublishRequest.objects.select_for_update().select_related("channel__project__organisation").get(
        pk=request.pk)


def expire_if_due(request: PublishRequest) -> None:
    """Mark it expired (audited) if it is pending past its time, in a transaction of its own: the refusal
    that follows must not undo it."""
    if request.state == RequestState.PENDING and request.expires_at <= timezone.now():
        with transaction.atomic():
            locked = lock(request)
            if locked.state == RequestState.PENDING:
                expire(locked)


def require_pending(request: PublishRequest) -> None:
    """Conflict unless it is still pending (and not past its time)."""
    if request.state == RequestState.PENDING and request.expires_at <= timezone.now():
        raise Conflict("this publish request is expired: ask again", [{"field": "state", "message": "expired"}])
    if request.state != RequestState.PENDING:
        raise Conflict(f"this publish request is {request.state}: only a pending one can be decided",
                       [{"field": "state", "message": request.state}])


def require_other_approver(actor, request: PublishRequest) -> None:
    if request.requested_by_id == actor.pk:
        raise PermissionDenied("you asked for this release: another owner or admin must approve it (four-eyes "
                               "approval)")


def decide(actor, request: PublishRequest, state: str, publication=None) -> PublishRequest:
    request.state, request.decided_by, request.decided_at = state, actor, timezone.now()
    request.publication = publication
    request.save(update_fields=["state", "decided_by", "decided_at", "publication", "updated_at"])
    project = request.channel.project
    record(actor, project.organisation, f"publish_request.{_VERB[state]}", request,
           {"project": project.slug, "channel": request.channel.name, "what": describe(request),
            "sequence": publication.sequence if publication else None}, target_type="publish_request")
    return request


_VERB: dict[str, str] = {RequestState.APPROVED: "approve", RequestState.REJECTED: "reject", RequestState.CANCELLED: "cancel",
         RequestState.EXPIRED: "expire"}


def expire(request: PublishRequest) -> None:
    request.state = RequestState.EXPIRED
    request.save(update_fields=["state", "updated_at"])
    project = request.channel.project
    record(None, project.organisation, "publish_request.expire", request,
           {"project": project.slug, "channel": request.channel.name, "what": describe(request)},
           target_type="publish_request")


def expire_due() -> int:
    """Mark every pending request past its time expired (the worker does this now and then)."""
    count = 0
    due = PublishRequest.objects.filter(state=RequestState.PENDING, expires_at__lte=timezone.now())
    for request in due.select_related("channel__project__organisation", "prompt_set", "version")[:500]:
        with transaction.atomic():
            locked = lock(request)
            if locked.state == RequestState.PENDING:
                expire(locked)
                count += 1
    return count
