"""The shapes of the peering endpoints (``/api/v1/forge/…``), shared by both sides.

The API (:mod:`anvil_forge.api.peering`) answers with these schemas, and the
remote client (:mod:`.remote`) checks what another FORGE answers against the
same ones, so a FORGE always understands its peers (extra fields from a newer
peer are ignored; missing or mistyped ones are "malformed").
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any, Generic, Literal, TypeVar

from ninja import Field, Schema

T = TypeVar("T")


class ForgeInfo(Schema):
    name: str = Field(description="how this FORGE names itself (ANVIL_FORGE_NAME, else its host)")
    version: str = Field(description="the anvil-forge software version")
    url: str = Field("", description="its base URL (ANVIL_BASE_URL)")
    public_key: str = Field(description="the Ed25519 key it signs bundles with, `ed25519:<base64>`")
    key_id: str = Field("", description="a short fingerprint of the public key")
    api_version: str = "1"
    archive_format_version: int = Field(1, description="the project archive format it exports and imports")
    user_email: str = Field("", description="whom the API key used belongs to")


class OrganisationRef(Schema):
    id: uuid.UUID
    name: str
    slug: str


class ForgeOrganisation(Schema):
    id: uuid.UUID
    created_at: datetime.datetime
    updated_at: datetime.datetime
    name: str
    slug: str
    description: str = ""
    personal: bool = False
    role: Literal["owner", "admin", "member"] | None = Field(None, description="the key's user's role in it")
    project_count: int
    last_updated_at: datetime.datetime = Field(description="the newest change to it or anything in it")


class ForgeProject(Schema):
    id: uuid.UUID
    created_at: datetime.datetime
    updated_at: datetime.datetime
    organisation: OrganisationRef
    name: str
    slug: str
    description: str = ""
    prompt_set_count: int
    prompt_count: int
    version_count: int
    last_updated_at: datetime.datetime = Field(description="the newest change to it or anything in it")


class ForgeVersion(Schema):
    id: uuid.UUID
    label: str
    sequence: int
    changelog: str = ""
    created_at: datetime.datetime
    published: bool = Field(False, description="ever published to LIVE clients")


class ForgePrompt(Schema):
    id: uuid.UUID
    created_at: datetime.datetime
    updated_at: datetime.datetime
    name: str
    slug: str
    flat_id: str
    description: str = ""
    template: str
    parameters: list[dict[str, Any]]
    metadata: dict[str, Any] = {}


class ForgePromptSet(Schema):
    id: uuid.UUID
    created_at: datetime.datetime
    updated_at: datetime.datetime
    name: str
    slug: str
    description: str = ""
    metadata: dict[str, Any] = {}
    status: Literal["live", "review", "locked"]
    version_count: int
    prompt_count: int
    latest_version: str | None = Field(None, description="the label of the newest version")
    published_version: str | None = Field(None, description="the label LIVE clients get, if published")
    last_updated_at: datetime.datetime
    versions: list[ForgeVersion] = Field(description="newest first")
    prompts: list[ForgePrompt] = Field(description="the working copy, by name")


class ForgeProjectDetail(ForgeProject):
    prompt_sets: list[ForgePromptSet]


class PageMeta(Schema):
    next_cursor: str | None
    has_more: bool


class RemotePage(Schema, Generic[T]):
    data: list[T]
    meta: PageMeta
