"""Versions of a prompt set: list, create, read, compare, roll back, approve."""

import uuid

from ninja import Field, Query, Router, Schema, Status

from anvil_forge.prompts import queries as prompt_queries
from anvil_forge.prompts import services as prompt_services

from .auth import actor
from .etag import etag
from .pagination import Page, PageQuery, paginate
from .responses import LIST, READ, WRITE
from .schemas import Text
from .version_schemas import DiffOut, RollbackIn, VersionCreate, VersionDetailOut, VersionOut

router = Router(tags=["versions"])

NEWEST_SEQUENCE_FIRST = ("-sequence",)


class DiffParams(Schema):
    from_: Text = Field(alias="from", max_length=128, description="label of the older side")
    to: Text | None = Field(None, max_length=128, description="label of the newer side; omitted: the working copy")


@router.get("/prompt_sets/{uuid:id}/versions", response={200: Page[VersionOut], **LIST})
def list_versions(request, id: uuid.UUID, page: PageQuery):
    """The set's versions, newest first (without their snapshots)."""
    user = actor(request)
    versions = prompt_queries.versions_for(user, prompt_queries.get_prompt_set(user, id))
    return paginate(versions, page, NEWEST_SEQUENCE_FIRST)


@router.post("/prompt_sets/{uuid:id}/versions", response={201: VersionDetailOut, **WRITE})
def create_version(request, id: uuid.UUID, payload: VersionCreate):
    """Snapshot the working copy as a new version; its label must be above every existing one."""
    user = actor(request)
    prompt_set = prompt_queries.get_prompt_set(user, id)
    return Status(201, prompt_services.create_version(user, prompt_set, payload.label, payload.changelog))


@router.get("/prompt_sets/{uuid:id}/versions/{label}", response={200: VersionDetailOut, **READ})
@etag
def get_version_by_label(request, id: uuid.UUID, label: Text):
    """One version, by its exact label, with its snapshot."""
    user = actor(request)
    return prompt_queries.get_version_by_label(user, prompt_queries.get_prompt_set(user, id), label)


@router.get("/versions/{uuid:id}", response={200: VersionDetailOut, **READ})
@etag
def get_version(request, id: uuid.UUID):
    """One version, by id, with its snapshot."""
    return prompt_queries.get_version(actor(request), id)


@router.get("/prompt_sets/{uuid:id}/diff", response={200: DiffOut, **READ}, by_alias=True)
def diff(request, id: uuid.UUID, params: Query[DiffParams]):
    """What changed from version `from` to version `to` (or to the working copy): prompts added,
    removed and changed, with a line diff of each changed template and the parameter changes."""
    user = actor(request)
    prompt_set = prompt_queries.get_prompt_set(user, id)
    return prompt_queries.diff(user, prompt_set, params.from_, params.to)


@router.post("/prompt_sets/{uuid:id}/rollback", response={201: VersionDetailOut, **WRITE})
def rollback(request, id: uuid.UUID, payload: RollbackIn):
    """Create version `label` whose content equals version `to` (the working copy is left as it is)."""
    user = actor(request)
    prompt_set = prompt_queries.get_prompt_set(user, id)
    return Status(201, prompt_services.rollback(user, prompt_set, payload.to, payload.label, payload.changelog))


@router.post("/prompt_sets/{uuid:id}/versions/{label}/approve", response={200: VersionDetailOut, **WRITE})
def approve_version(request, id: uuid.UUID, label: Text):
    """Approve a version's content so it may be published (owners and admins): needed for a version made
    after the set was approved, such as a rollback, unless its content was approved before."""
    user = actor(request)
    version = prompt_queries.get_version_by_label(user, prompt_queries.get_prompt_set(user, id), label)
    return prompt_services.approve_version(user, version)
