"""Sources: a prompt set as prompt files hold it, for `anvil-client pull/diff/push` (docs/prompts-as-code.md).

`GET` answers a set's working copy (or a version, `?version=`) as one document with a content ETag; `PUT`
replaces the working copy with a document, guarded by `If-Match` (the ETag last read) or `If-None-Match: *`
(create a new set), so a push never overwrites an edit it has not seen.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from django.http import HttpResponse
from ninja import Field, Header, Query, Router, Schema, Status
from pydantic import AfterValidator, ConfigDict

from anvil_forge.core.errors import ValidationError
from anvil_forge.prompts import queries as prompt_queries
from anvil_forge.prompts import services as prompt_services

from . import etag as etags
from .auth import actor
from .prompt_schemas import KIND_ABOUT, MESSAGES_ABOUT, ConfigValue, Dependencies, Messages, PromptConfigValue
from .responses import LIST, READ, WRITE, errors
from .schemas import DocumentedAs, JsonObject, Text, _no_nul
from .test_schemas import TESTS_ABOUT, Tests
from .version_schemas import ParameterOut

router = Router(tags=["sources"])


class SourcePrompt(Schema):
    model_config = ConfigDict(extra="forbid")

    slug: Text = Field(max_length=64)
    name: Text = Field(max_length=100)
    description: Text = ""
    kind: Literal["text", "chat"] = Field("text", description=KIND_ABOUT)
    template: Text = ""
    messages: Messages = Field([], description=MESSAGES_ABOUT)
    parameters: Annotated[list[Any], AfterValidator(_no_nul), DocumentedAs(list[ParameterOut])] = Field(
        [], description="the declarations, as in a prompt (missing fields take their defaults)")
    config: PromptConfigValue = {}
    metadata: JsonObject = {}
    tests: Tests = Field([], description=TESTS_ABOUT)


class SourceIn(Schema):
    """A prompt set's working copy as a whole: its fields and every prompt (by slug: one not listed is
    deleted, one not there yet is created)."""

    model_config = ConfigDict(extra="forbid")

    slug: Text = Field(max_length=64)
    name: Text = Field(max_length=100)
    description: Text = ""
    dependencies: Dependencies = {}
    config: ConfigValue = {}
    metadata: JsonObject = {}
    prompts: list[SourcePrompt] = Field([], max_length=500)


class SourceOut(SourceIn):
    status: Literal["live", "review", "locked"]
    version: str | None = Field(description="the version's label when one was asked for; null: the working copy")
    etag: str = Field(description="the document's ETag (as the header): a digest of its content")
    pushed_etag: str | None = Field(description="the ETag of what the last push wrote, null if never pushed: "
                                                "the working copy still has it if nobody edited it since")


class SourceList(Schema):
    items: list[SourceOut]


class SourceQuery(Schema):
    version: str | None = Field(None, max_length=128, description="a version label; none: the working copy")


class PushOut(SourceOut):
    changes: dict[str, Any] = Field(description="what changed: `set` (fields), `created`, `changed` (slug → "
                                                "fields) and `deleted` prompts")


def _out(prompt_set, version=None) -> dict:
    document = prompt_queries.source_document(prompt_set, version)
    return {**document, "status": prompt_set.status, "version": version.label if version else None,
            "etag": prompt_queries.source_etag(document), "pushed_etag": prompt_set.pushed_etag or None}


@router.get("/projects/{uuid:id}/sources", response={200: SourceList, **LIST})
def list_sources(request, id: uuid.UUID):
    """Every prompt set of the project as a source document (its working copy), by slug."""
    user = actor(request)
    project = prompt_queries.get_project(user, id)
    return {"items": [_out(s) for s in prompt_queries.prompt_sets_for(user, project).order_by("slug")]}


@router.get("/projects/{uuid:id}/sources/{slug}", response={200: SourceOut, 304: None, **READ},
            openapi_extra={"parameters": [etags.IF_NONE_MATCH]})
def get_source(request, id: uuid.UUID, slug: str, query: Query[SourceQuery], response: HttpResponse):
    """One prompt set as a source document, with its `ETag`; `If-None-Match` with it answers 304."""
    user = actor(request)
    prompt_set = prompt_queries.get_prompt_set_by_slug(user, prompt_queries.get_project(user, id), slug)
    version = prompt_queries.get_version_by_label(user, prompt_set, query.version) if query.version else None
    out = _out(prompt_set, version)
    if etags.matches(request, out["etag"]):
        response["ETag"] = out["etag"]
        return Status(304, None)
    response["ETag"] = out["etag"]
    return out


@router.put("/projects/{uuid:id}/sources/{slug}", response={200: PushOut, 201: PushOut, **errors(*WRITE, 412)},
            by_alias=True)
def put_source(request, id: uuid.UUID, slug: str, payload: SourceIn, response: HttpResponse,
               if_match: str | None = Header(None, alias="If-Match", description="the ETag last read: the set "
                                             "is replaced only if its working copy still has it"),
               if_none_match: str | None = Header(None, alias="If-None-Match", description="`*`: create the set, "
                                                  "only if it does not exist")):
    """Replace a LIVE set's working copy with the document, or create the set (`If-None-Match: *`): prompts
    created, changed and deleted by slug, in one transaction. Without `If-Match` the working copy is
    replaced whatever it holds. 412 when the precondition fails, 409 for a set in REVIEW or LOCKED, 422
    naming the field (`prompts[1].tests[0].assert[0].value`) for invalid content."""
    user = actor(request)
    if payload.slug != slug:
        raise ValidationError.field("slug", f"the document's slug {payload.slug!r} is not the address's {slug!r}")
    create = (if_none_match or "").strip() == "*"
    project = prompt_queries.get_project(user, id)
    document = payload.dict(by_alias=True)
    prompt_set, changes = prompt_services.replace_source(user, project, slug, document,
                                                         if_match=if_match.strip() if if_match else None,
                                                         create=create)
    out = {**_out(prompt_set), "changes": changes}
    response["ETag"] = out["etag"]
    return Status(201 if create else 200, out)
