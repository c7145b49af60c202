"""Peering: what a FORGE shows its peers, and moving projects between FORGEs (docs/peering.md).

* ``GET /forge/info`` · ``/forge/organisations`` · ``/forge/organisations/{id}/projects`` ·
  ``/forge/projects/{id}`` — browsing, for another FORGE holding an API key of a user here
  (only what that user may see; an organisation or project outside it is 404);
* ``GET /projects/{id}/export`` — the project archive (docs/export-format.md) as the JSON body;
* ``POST /projects/import`` — ``{"organisation": ID, "archive": {…}}`` as JSON, or a multipart
  form with ``organisation`` and the archive file as ``archive``.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest
from django.http.multipartparser import MultiPartParserError
from ninja import Field, Router, Schema, Status
from pydantic import ValidationError as PydanticValidationError

from anvil_forge.core import jsonin
from anvil_forge.core.errors import ValidationError
from anvil_forge.orgs import queries as org_queries
from anvil_forge.peering import queries as peering_queries
from anvil_forge.peering import services as peering_services
from anvil_forge.prompts import queries as prompt_queries

from .auth import actor
from .etag import etag
from .pagination import Page, PageQuery, paginate
from .responses import LIST, READ, errors
from .schemas import ProjectOut

router = Router(tags=["peering"])

BY_NAME = ("name", "id")
IMPORT_MAX_BYTES = 64 * 1024 * 1024


class BadBody(ValidationError):
    status = 400


class TooLarge(ValidationError):
    status = 413


# --- schemas ---------------------------------------------------------------------------------------

class ArchiveOut(Schema):
    """A project archive; its full JSON Schema is in docs/export-format.md."""

    model_config = {"extra": "allow"}
    format: Literal["anvil-project-archive"]
    format_version: int
    exported_at: str
    source: dict[str, Any]
    content: dict[str, Any] = Field(description="what an import uses: the project, its prompt sets, prompts and "
                                                "versions (no ids, users or timestamps)")
    checksum: str = Field(description="`sha256:` + hex SHA-256 of the canonical JSON of `content`")


class ImportIn(Schema):
    organisation: str = Field(max_length=100, description="the target organisation's id (or slug)")
    archive: dict[str, Any] = Field(description="a project archive, as `GET /projects/{id}/export` gives it")


class ImportOut(Schema):
    project: ProjectOut
    created: bool = Field(description="true when the project was created; false when it existed and was merged")
    changed: bool = Field(description="false when the project already had everything in the archive")
    prompt_sets_created: list[str]
    versions_added: list[str] = Field(description="`<prompt set slug>@<label>` of each version added")
    versions_kept: int = Field(description="versions the project already had (same label and content)")
    working_copies_kept: list[str] = Field(
        description="existing prompt sets whose working copy differs from the archive's and was left as it is")
    message: str


_IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {
                "type": "object", "required": ["organisation", "archive"],
                "properties": {
                    "organisation": {"type": "string", "maxLength": 100,
                                     "description": "the target organisation's id (or slug)"},
                    "archive": {"type": "object", "description": "a project archive (docs/export-format.md)"},
                },
            }},
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["organisation", "archive"],
                "properties": {
                    "organisation": {"type": "string", "maxLength": 100},
                    "archive": {"type": "string", "format": "binary", "description": "the archive file"},
                },
            }},
        },
    },
}


# --- browsing ----------------------------------------------------------------------------------------

@router.get("/forge/info", response={200: peering_queries.ForgeInfo, **errors(403)})
def forge_info(request):
    """This FORGE's name, software version and bundle-signing public key, and whom the key belongs to."""
    user = actor(request)
    return {**peering_queries.identity(), "user_email": user.email}


@router.get("/forge/organisations", response={200: Page[peering_queries.ForgeOrganisation], **LIST})
def forge_organisations(request, page: PageQuery):
    """The organisations the caller is in, with project counts and when anything in them last changed."""
    return paginate(peering_queries.organisations_overview(actor(request)), page, BY_NAME)


@router.get("/forge/organisations/{id}/projects", response={200: Page[peering_queries.ForgeProject], **LIST})
def forge_projects(request, id: uuid.UUID, page: PageQuery):
    """An organisation's projects with prompt-set, prompt and version counts and when each last changed."""
    user = actor(request)
    organisation = org_queries.get_organisation(user, id)
    return paginate(peering_queries.projects_overview(user, organisation), page, BY_NAME)


@router.get("/forge/projects/{id}", response={200: peering_queries.ForgeProjectDetail, **READ})
@etag
def forge_project(request, id: uuid.UUID):
    """A project with its prompt sets (status, versions, published version) and their prompts."""
    user = actor(request)
    project = prompt_queries.get_project(user, id)
    peering_services.record_peer_read(user, project)
    return peering_queries.project_detail(user, project)


# --- export and import ---------------------------------------------------------------------------------

@router.get("/projects/{id}/export", response={200: ArchiveOut, **READ})
def export_project(request, id: uuid.UUID):
    """The project as a portable archive: prompt sets, working copies, statuses and every version."""
    user = actor(request)
    return peering_services.export_project(user, prompt_queries.get_project(user, id), via="api")


def _read_body(request: HttpRequest) -> bytes:
    if hasattr(request, "_body"):
        data = request._body
    else:
        data = request.read(IMPORT_MAX_BYTES + 1)
    if len(data) > IMPORT_MAX_BYTES:
        raise TooLarge(f"the archive is larger than {IMPORT_MAX_BYTES // (1024 * 1024)} MB")
    return data


def _import_input(request: HttpRequest) -> tuple[str, Any]:
    """(organisation, parsed archive) from a JSON body or a multipart form."""
    if request.content_type == "multipart/form-data":
        try:
            organisation = request.POST.get("organisation", "")
            upload = request.FILES.get("archive")
        except (MultiPartParserError, SuspiciousOperation) as exc:
            raise BadBody(f"the multipart form cannot be read: {str(exc)[:200]}",
                          [{"field": "body", "message": "not a readable multipart form"}]) from None
        problems = []
        if not organisation:
            problems.append({"field": "organisation", "message": "the target organisation is required"})
        if upload is None:
            problems.append({"field": "archive", "message": "attach the archive file as 'archive'"})
        if problems:
            raise ValidationError(problems[0]["message"], problems)
        assert upload is not None  # else problems said so
        if (upload.size or 0) > IMPORT_MAX_BYTES:  # always set on an upload Django parsed
            raise TooLarge(f"the archive is larger than {IMPORT_MAX_BYTES // (1024 * 1024)} MB")
        return organisation, peering_queries.parse_archive(upload.read())
    if request.content_type not in ("application/json", ""):
        raise ValidationError.field("body", "send JSON ({\"organisation\": …, \"archive\": {…}}) or a multipart form")
    try:
        body = jsonin.loads(_read_body(request) or b"null")
    except jsonin.BadJSON as exc:
        raise BadBody(f"the request body is refused: {exc.message}",
                      [{"field": exc.field, "message": exc.message}]) from None
    try:
        payload = ImportIn.model_validate(body)
    except PydanticValidationError as exc:
        details = [{"field": ".".join(str(p) for p in e.get("loc", ())) or "body", "message": e.get("msg", "")}
                   for e in exc.errors()]
        raise ValidationError(f"the request is not valid: check {', '.join(d['field'] for d in details)}",
                              details) from None
    return payload.organisation, payload.archive


@router.post("/projects/import", response={200: ImportOut, 201: ImportOut, **errors(400, 403, 404, 409, 413, 422)},
             openapi_extra=_IMPORT_BODY)
def import_project(request):
    """Import a project archive into an organisation (owners and admins): the project is created, or merged
    into the organisation's project with the same slug (versions it has are kept, new ones added; a label it
    has with different content stops the import, which then changes nothing). Importing the same archive
    twice changes nothing. 201 when the project was created, 200 otherwise."""
    user = actor(request)
    organisation_ref, data = _import_input(request)
    organisation = org_queries.get_organisation(user, organisation_ref)
    result = peering_services.import_archive(user, organisation, data, via="api")
    body = {
        "project": result.project, "created": result.project_created, "changed": result.changed,
        "prompt_sets_created": result.prompt_sets_created, "versions_added": result.versions_added,
        "versions_kept": result.versions_kept, "working_copies_kept": result.working_copies_kept,
        "message": result.message(),
    }
    return Status(201 if result.project_created else 200, body)
