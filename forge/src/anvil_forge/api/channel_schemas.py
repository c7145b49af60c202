"""Shapes of channels, releases, rollouts and publish requests (api/channels.py; docs/distribution.md)."""

from __future__ import annotations

import datetime
import uuid

from ninja import Field, Schema

from .schemas import Resource, Text


class RolloutIn(Schema):
    """Who a staged release reaches: the named instances, and those matching every label whose stable hash
    falls within the percentage (docs/distribution.md#staged-rollouts)."""

    percentage: int | None = Field(None, description="0-100; default 100, or 0 when only instance ids are named")
    labels: dict[str, Text] = Field({}, description="every one must match what the client declares")
    instance_ids: list[Text] = Field([], description="instances that are in whatever their labels and hash")


class ExpandIn(RolloutIn):
    everyone: bool = Field(False, description="expand to the whole channel")


class ChannelIn(Schema):
    name: Text
    description: Text = ""
    requires_approval: bool = False


class ChannelPatch(Schema):
    description: Text | None = None
    requires_approval: bool | None = None


class ReleaseSetOut(Schema):
    slug: str
    name: str
    version: str
    version_id: uuid.UUID
    digest: str = Field(description="sha256 of the set's content in the bundle: equal in every channel holding "
                                    "the same version")


class ReleaseOut(Schema):
    id: uuid.UUID
    sequence: int
    kind: str
    source_channel: str
    restores_sequence: int | None
    percentage: int
    labels: dict[str, str]
    instance_ids: list[str]
    everyone: bool
    targets: str = Field(description="who it reaches, in words")
    previous_sequence: int | None = Field(description="what the rest of the channel keeps during a rollout")
    published_by: str | None
    approved_by: str | None
    created_at: datetime.datetime
    sets: list[ReleaseSetOut]


class ChannelOut(Resource):
    name: str
    description: str
    requires_approval: bool
    sequence: int = Field(description="its newest release's (0: none)")
    rollout_in_progress: bool
    release: ReleaseOut | None


class ReleaseResultOut(Schema):
    channel: str
    sequence: int
    changed: bool
    release: ReleaseOut | None
    request: PublishRequestOut | None = Field(None, description="the channel requires approval: the release "
                                                                "waits for this request (202)")
    deliveries: int = Field(description="pushes queued")


class PublishRequestOut(Schema):
    id: uuid.UUID
    project_id: uuid.UUID
    channel: str
    kind: str
    what: str
    prompt_set_id: uuid.UUID | None
    version: str | None
    source_channel: str
    rollout: dict
    state: str
    requested_by: str | None
    decided_by: str | None
    decided_at: datetime.datetime | None
    expires_at: datetime.datetime
    created_at: datetime.datetime
    sequence: int | None = Field(description="the release it made, once approved")

    @staticmethod
    def resolve_channel(obj):
        return obj.channel.name

    @staticmethod
    def resolve_what(obj):
        from anvil_forge.distribution.queries import describe_request

        return describe_request(obj)

    @staticmethod
    def resolve_version(obj):
        return obj.version.label if obj.version_id else None

    @staticmethod
    def resolve_requested_by(obj):
        return obj.requested_by.email if obj.requested_by else None

    @staticmethod
    def resolve_decided_by(obj):
        return obj.decided_by.email if obj.decided_by else None

    @staticmethod
    def resolve_sequence(obj):
        return obj.publication.sequence if obj.publication_id else None


class InstanceProgressOut(Schema):
    instance_id: str
    host: str
    labels: dict[str, str]
    mode: str
    cohort: str = Field(description="all, rollout (in the cohort) or previous (kept on the previous release)")
    holds: int | None = Field(description="the sequence it last reported holding")
    should_hold: int | None
    error: str
    stale: bool


class ProgressCountsOut(Schema):
    instances: int
    in_cohort: int
    on_release: int
    on_previous: int
    elsewhere: int
    errors: int


class RolloutProgressOut(Schema):
    channel: str
    sequence: int
    previous_sequence: int | None
    rollout_in_progress: bool
    targets: str
    counts: ProgressCountsOut
    instances: list[InstanceProgressOut]


class ChannelDefinitionIn(Schema):
    name: Text
    description: Text = ""
    requires_approval: bool = False


class ChannelDefinitionsOut(Schema):
    format: str
    format_version: int
    project: str
    channels: list[ChannelDefinitionIn]


class ChannelDefinitionsIn(Schema):
    format: Text
    format_version: int
    project: Text = ""
    channels: list[ChannelDefinitionIn]


ReleaseResultOut.model_rebuild()
