"""Channels, staged rollouts and four-eyes approval (docs/distribution.md): the channels of a project, their
releases, promote, expand and roll back, rollout progress, publish requests, channel definitions."""

from __future__ import annotations

import uuid

from ninja import Router, Status

from anvil_forge.distribution import queries as dist_queries
from anvil_forge.distribution import services as dist_services
from anvil_forge.prompts import queries as prompt_queries

from .auth import actor
from .channel_schemas import (ChannelDefinitionsIn, ChannelDefinitionsOut, ChannelIn, ChannelOut, ChannelPatch,
                              ExpandIn, PublishRequestOut, ReleaseResultOut, RolloutIn, RolloutProgressOut)
from .pagination import Page, PageQuery, paginate
from .responses import DELETE, LIST, WRITE
from .schemas import Schema, Text

router = Router(tags=["channels"])


def _release(publication) -> dict | None:
    if publication is None:
        return None
    return {"id": publication.pk, "sequence": publication.sequence, "kind": publication.kind,
            "source_channel": publication.source_channel, "restores_sequence": publication.restores_sequence,
            "percentage": publication.percentage, "labels": publication.labels,
            "instance_ids": publication.instance_ids, "everyone": publication.everyone,
            "targets": dist_queries.describe_targets(publication),
            "previous_sequence": publication.previous.sequence if publication.previous_id else None,
            "published_by": publication.published_by.email if publication.published_by else None,
            "approved_by": publication.approved_by.email if publication.approved_by else None,
            "created_at": publication.created_at, "sets": dist_queries.release_sets(publication)}


def _channel(channel, head=None) -> dict:
    head = head or getattr(channel, "head", None)
    return {"id": channel.pk, "created_at": channel.created_at, "updated_at": channel.updated_at,
            "name": channel.name, "description": channel.description,
            "requires_approval": channel.requires_approval, "sequence": head.sequence if head else 0,
            "rollout_in_progress": head is not None and not head.everyone, "release": _release(head)}


def _result(result):
    out = {"channel": result.channel.name, "sequence": result.sequence, "changed": result.changed,
           "release": _release(result.publication), "request": result.request,
           "deliveries": len(result.deliveries)}
    return Status(202, out) if result.request is not None and result.request.state == "pending" else out


def _project_channel(request, id: uuid.UUID, name: str):
    user = actor(request)
    project = prompt_queries.get_project(user, id)
    return user, project, dist_queries.channel(user, project, name)


@router.get("/projects/{id}/channels", response={200: list[ChannelOut], **LIST})
def list_channels(request, id: uuid.UUID):
    """The project's channels (production first), each with its newest release and the sets it holds."""
    user = actor(request)
    return [_channel(c) for c in dist_queries.channel_list(user, prompt_queries.get_project(user, id))]


@router.post("/projects/{id}/channels", response={201: ChannelOut, **WRITE})
def create_channel(request, id: uuid.UUID, payload: ChannelIn):
    """A new channel (owners and admins); `requires_approval`: its publishes wait for a second approver."""
    user = actor(request)
    channel = dist_services.create_channel(user, prompt_queries.get_project(user, id), payload.name,
                                           payload.description, payload.requires_approval)
    return Status(201, _channel(channel))


@router.get("/projects/{id}/channels/definitions", response={200: ChannelDefinitionsOut, **LIST})
def export_channels(request, id: uuid.UUID):
    """The project's channel definitions (names, descriptions, approval), to import elsewhere."""
    user = actor(request)
    return dist_queries.channel_definitions(user, prompt_queries.get_project(user, id))


@router.put("/projects/{id}/channels/definitions", response={200: list[ChannelOut], **WRITE})
def import_channels(request, id: uuid.UUID, payload: ChannelDefinitionsIn):
    """Create or update the channels a definitions document names (others are left alone)."""
    user = actor(request)
    project = prompt_queries.get_project(user, id)
    dist_services.import_channels(user, project, payload.dict())
    return [_channel(c) for c in dist_queries.channel_list(user, project)]


@router.get("/projects/{id}/channels/{name}", response={200: ChannelOut, **LIST})
def get_channel(request, id: uuid.UUID, name: str):
    user, project, channel = _project_channel(request, id, name)
    return _channel(channel, dist_queries.head_of(channel))


@router.patch("/projects/{id}/channels/{name}", response={200: ChannelOut, **WRITE})
def update_channel(request, id: uuid.UUID, name: str, payload: ChannelPatch):
    user, project, channel = _project_channel(request, id, name)
    dist_services.update_channel(user, channel, description=payload.description,
                                 requires_approval=payload.requires_approval)
    return get_channel(request, id, name)


@router.delete("/projects/{id}/channels/{name}", response={204: None, **DELETE})
def delete_channel(request, id: uuid.UUID, name: str):
    """Delete a channel without releases or access tokens (not production)."""
    user, project, channel = _project_channel(request, id, name)
    dist_services.delete_channel(user, channel)
    return Status(204, None)


class PromoteIn(Schema):
    source: Text
    rollout: RolloutIn | None = None
    remove_missing: bool = False  # also stop publishing the sets this channel holds and the source does not


@router.post("/projects/{id}/channels/{name}/promote", response={200: ReleaseResultOut, 202: ReleaseResultOut,
                                                                 **WRITE})
def promote(request, id: uuid.UUID, name: str, payload: PromoteIn):
    """Release to this channel exactly the set versions channel `source` holds now (the same per-set
    digests); 202 with the pending request if this channel requires approval."""
    user, project, channel = _project_channel(request, id, name)
    return _result(dist_services.promote(user, channel, payload.source,
                                         payload.rollout.dict() if payload.rollout else None,
                                         payload.remove_missing))


@router.post("/projects/{id}/channels/{name}/rollout", response={200: ReleaseResultOut, **WRITE})
def expand(request, id: uuid.UUID, name: str, payload: ExpandIn):
    """Widen the rollout in progress: a larger `percentage`, fewer `labels` conditions, more `instance_ids`,
    or `everyone`. A rollout never shrinks (roll it back instead)."""
    user, project, channel = _project_channel(request, id, name)
    data = payload.dict(exclude_unset=True)
    return _result(dist_services.expand_rollout(user, channel, data))


@router.post("/projects/{id}/channels/{name}/rollback", response={200: ReleaseResultOut, **WRITE})
def rollback(request, id: uuid.UUID, name: str):
    """A new release restoring, for everyone, the content before the channel's newest release."""
    user, project, channel = _project_channel(request, id, name)
    return _result(dist_services.rollback(user, channel))


@router.get("/projects/{id}/channels/{name}/progress", response={200: RolloutProgressOut, **LIST})
def progress(request, id: uuid.UUID, name: str):
    """Where the channel's newest release stands: each instance's cohort, what it holds, its last error."""
    user, project, channel = _project_channel(request, id, name)
    found = dist_queries.rollout_progress(user, project, name)
    release, previous = found["release"], found["previous"]
    return {"channel": name, "sequence": release.sequence if release else 0,
            "previous_sequence": previous.sequence if previous else None,
            "rollout_in_progress": found["partial"], "targets": found["targets"], "counts": found["counts"],
            "instances": [{"instance_id": r["instance"].instance_id, "host": r["instance"].host,
                           "labels": r["instance"].labels, "mode": r["instance"].mode, "cohort": r["cohort"],
                           "holds": r["holds"], "should_hold": r["should_hold"], "error": r["error"],
                           "stale": r["stale"]} for r in found["instances"]]}


# --- publish requests -------------------------------------------------------------------------------

@router.get("/projects/{id}/publish_requests", response={200: Page[PublishRequestOut], **LIST})
def list_requests(request, id: uuid.UUID, page: PageQuery, state: str | None = None):
    """The project's publish requests, newest first (`state=pending` for those waiting)."""
    user = actor(request)
    return paginate(dist_queries.publish_requests(user, prompt_queries.get_project(user, id), state), page,
                    order=("-created_at", "-id"))


@router.post("/publish_requests/{id}/approve", response={200: ReleaseResultOut, **WRITE})
def approve(request, id: uuid.UUID):
    """Approve and release (an owner or admin other than the requester: 403 for the requester)."""
    user = actor(request)
    return _result(dist_services.approve_request(user, dist_queries.publish_request(user, id)))


@router.post("/publish_requests/{id}/reject", response={200: PublishRequestOut, **WRITE})
def reject(request, id: uuid.UUID):
    user = actor(request)
    return dist_services.reject_request(user, dist_queries.publish_request(user, id))


@router.post("/publish_requests/{id}/cancel", response={200: PublishRequestOut, **WRITE})
def cancel(request, id: uuid.UUID):
    user = actor(request)
    return dist_services.cancel_request(user, dist_queries.publish_request(user, id))
