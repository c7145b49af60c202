"""Request and response shapes of the API (the OpenAPI document is generated from these).

Inputs reject NUL characters everywhere (PostgreSQL cannot store them) and
cap the lengths the database columns have; every other rule (names, slugs,
templates, parameters, labels, roles, statuses) is checked by the service
layer, which answers 422 / 409 naming the field.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import AfterValidator, ConfigDict, StrictBool, StrictFloat, StrictInt

from anvil_forge.orgs import policy
from anvil_forge.prompts import queries as prompt_queries


def _no_nul(value):
    """Refuse NUL characters anywhere in a value (strings, keys, nested lists and objects)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise ValueError("must not contain NUL (\\u0000) characters")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_no_nul)]
Role = Literal["owner", "admin", "member"]
ScopeName = Literal["read", "write"]


# --- errors ---------------------------------------------------------------------------

class ErrorDetail(Schema):
    field: str = Field(description="the input the message is about, e.g. `name` or `variables.count`")
    message: str


class ErrorBody(Schema):
    type: Literal["authentication_error", "authorization_error", "validation_error", "not_found_error",
                  "conflict_error", "rate_limit_error", "server_error"]
    message: str
    details: list[ErrorDetail]


class ErrorOut(Schema):
    error: ErrorBody


# --- common ---------------------------------------------------------------------------

class Resource(Schema):
    id: uuid.UUID
    created_at: datetime.datetime
    updated_at: datetime.datetime


# --- organisations and members --------------------------------------------------------

class OrganisationOut(Resource):
    name: str
    slug: str
    description: str
    personal: bool
    role: Role | None = Field(description="the caller's role in it")

    @staticmethod
    def resolve_role(obj, context):
        role = getattr(obj, "role", None)
        if role is None and context and context.get("request") is not None:
            role = policy.role_of(context["request"].auth, obj)
        return role


class OrganisationCreate(Schema):
    name: Text = Field(max_length=100)
    slug: Text | None = Field(None, max_length=64, description="derived from the name when omitted")
    description: Text = ""


class OrganisationUpdate(Schema):
    name: Text | None = Field(None, max_length=100)
    slug: Text | None = Field(None, max_length=64)
    description: Text | None = None


class MemberOut(Resource):
    object: Literal["membership"] = "membership"
    organisation_id: uuid.UUID
    user_id: uuid.UUID
    email: str
    display_name: str
    role: Role

    @staticmethod
    def resolve_email(obj):
        return obj.user.email

    @staticmethod
    def resolve_display_name(obj):
        return obj.user.display_name


class InvitationOut(Resource):
    object: Literal["invitation"] = "invitation"
    organisation_id: uuid.UUID
    email: str
    role: Role
    expires_at: datetime.datetime
    accepted_at: datetime.datetime | None


class MemberInvite(Schema):
    email: Text = Field(max_length=254)
    role: Role


class MemberUpdate(Schema):
    role: Role


class AuditEventOut(Schema):
    id: uuid.UUID
    created_at: datetime.datetime
    organisation_id: uuid.UUID | None
    actor_id: uuid.UUID | None
    actor_email: str
    action: str = Field(description="e.g. `prompt.update`, `version.create`, `member.role`")
    target_type: str
    target_id: str
    target_repr: str
    summary: dict[str, Any]


# --- projects, prompt sets, prompts ---------------------------------------------------

class ProjectOut(Resource):
    organisation_id: uuid.UUID
    name: str
    slug: str
    description: str


class ProjectCreate(Schema):
    organisation: uuid.UUID
    name: Text = Field(max_length=100)
    slug: Text | None = Field(None, max_length=64, description="derived from the name when omitted")
    description: Text = ""


class ProjectUpdate(Schema):
    name: Text | None = Field(None, max_length=100)
    slug: Text | None = Field(None, max_length=64)
    description: Text | None = None


class PromptSetOut(Resource):
    project_id: uuid.UUID
    organisation_id: uuid.UUID
    name: str
    slug: str
    description: str
    metadata: dict[str, Any]
    status: Literal["live", "review", "locked"]

    @staticmethod
    def resolve_organisation_id(obj):
        return obj.project.organisation_id


class PromptSetCreate(Schema):
    name: Text = Field(max_length=100)
    slug: Text | None = Field(None, max_length=64, description="derived from the name when omitted")
    description: Text = ""
    metadata: JsonObject | None = None


class PromptSetUpdate(Schema):
    name: Text | None = Field(None, max_length=100)
    slug: Text | None = Field(None, max_length=64)
    description: Text | None = None
    metadata: JsonObject | None = None


class StatusChange(Schema):
    status: Literal["live", "review", "locked"] = Field(
        description="review: submit a LIVE set; locked: approve a review; live: reject a review or unlock")


Scalar = StrictBool | StrictInt | StrictFloat | Text


class Parameter(Schema):
    name: Text = Field(max_length=100)
    type: Literal["string", "number", "boolean"] = "string"
    description: Text = ""
    required: bool = True
    default: Scalar | None = Field(None, description="for optional parameters; coerced to the type")


class ParameterOut(Schema):
    name: str
    type: Literal["string", "number", "boolean"]
    description: str = ""
    required: bool = True
    default: Any = None


class Analysis(Schema):
    valid: bool = Field(description="false when the template does not compile (see `error`)")
    error: str | None
    variables: list[str] = Field(description="top-level names the template reads")
    missing: list[str] = Field(description="read by the template, not declared as parameters")
    unused: list[str] = Field(description="declared, not read by the template")
    matched: list[str]


class PromptOut(Resource):
    prompt_set_id: uuid.UUID
    name: str
    slug: str
    flat_id: str = Field(description="`<prompt set slug>.<prompt slug>`, as LIVE clients name it")
    description: str
    template: str
    parameters: list[ParameterOut]
    metadata: dict[str, Any]
    analysis: Analysis

    @staticmethod
    def resolve_flat_id(obj):
        return obj.flat_id

    @staticmethod
    def resolve_analysis(obj):
        return prompt_queries.analysis(obj)


class PromptCreate(Schema):
    name: Text = Field(max_length=100)
    slug: Text | None = Field(None, max_length=64, description="derived from the name when omitted")
    template: Text = ""
    parameters: list[Parameter] | None = None
    description: Text = ""
    metadata: JsonObject | None = None


class PromptUpdate(Schema):
    name: Text | None = Field(None, max_length=100)
    slug: Text | None = Field(None, max_length=64)
    template: Text | None = None
    parameters: list[Parameter] | None = None
    description: Text | None = None
    metadata: JsonObject | None = None


# --- rendering ------------------------------------------------------------------------

class RenderIn(Schema):
    variables: dict[str, Any] = Field(default_factory=dict, description="values for the prompt's parameters")


class RenderOut(Schema):
    rendered: str


class AddressRenderIn(Schema):
    address: Text = Field(max_length=1000, description="`[org/]project/prompt_set[@version]/prompt`",
                          examples=["acme/support/emails@stable/welcome"])
    variables: dict[str, Any] = Field(default_factory=dict)


class AddressRenderOut(Schema):
    rendered: str
    address: str = Field(description="the address in canonical form")
    prompt_set_id: uuid.UUID
    prompt: str = Field(description="the prompt's slug")
    version: str | None = Field(description="the label the specifier selected; null for the working copy")


# --- versions -------------------------------------------------------------------------

class ApprovalOut(Schema):
    source: Literal["review", "version", "import", "earlier"] = Field(
        description="review: the set's review was approved with this content; version: an approver approved "
                    "this version; import: imported LOCKED; earlier: published or LOCKED before approvals "
                    "were recorded")
    approved_at: datetime.datetime = Field(validation_alias="created_at")
    approved_by_email: str | None = None
    version: str | None = Field(None, description="the version that was approved, when one was")

    @staticmethod
    def resolve_approved_by_email(obj):
        return obj.approved_by.email if obj.approved_by_id and obj.approved_by else None

    @staticmethod
    def resolve_version(obj):
        return obj.version.label if obj.version_id and obj.version else None


class VersionOut(Resource):
    prompt_set_id: uuid.UUID
    label: str
    changelog: str
    sequence: int
    created_by_id: uuid.UUID | None
    created_by_email: str | None
    first_published_at: datetime.datetime | None
    approval: ApprovalOut | None = Field(
        description="why this version may be published: its content was approved (null: it needs approval)")

    @staticmethod
    def resolve_created_by_email(obj):
        return obj.created_by.email if obj.created_by_id and obj.created_by else None

    @staticmethod
    def resolve_approval(obj):
        return prompt_queries.approval_of(obj)


class PromptSnapshot(Schema):
    name: str
    description: str = ""
    template: str = ""
    parameters: list[ParameterOut] = []
    metadata: dict[str, Any] = {}


class Snapshot(Schema):
    name: str
    description: str = ""
    metadata: dict[str, Any] = {}
    prompts: dict[str, PromptSnapshot] = Field(description="by prompt slug")


class VersionDetailOut(VersionOut):
    snapshot: Snapshot


class VersionCreate(Schema):
    label: Text = Field(max_length=128, description="Semantic Versioning 2.0.0, above every existing label",
                        examples=["1.2.0"])
    changelog: Text = ""


class RollbackIn(Schema):
    to: Text = Field(max_length=128, description="the label of the version to go back to")
    label: Text = Field(max_length=128, description="the new version's label")
    changelog: Text | None = Field(None, description="defaults to 'Roll back to <to>'")


class Change(Schema):
    model_config = ConfigDict(populate_by_name=True)

    from_: Any = Field(alias="from")
    to: Any


class TemplateLine(Schema):
    op: Literal["equal", "add", "remove"]
    old_no: int | None
    new_no: int | None
    text: str


class TemplateDiff(Schema):
    unified: str
    lines: list[TemplateLine]


class ParameterChange(Schema):
    name: str
    changes: dict[str, Change]


class ParameterDiff(Schema):
    added: list[dict[str, Any]]
    removed: list[dict[str, Any]]
    changed: list[ParameterChange]


class PromptChange(Schema):
    slug: str
    fields: dict[str, Change]
    template: TemplateDiff | None
    parameters: ParameterDiff


class PromptsDiff(Schema):
    added: list[str]
    removed: list[str]
    unchanged: list[str]
    changed: list[PromptChange]


class SetDiff(Schema):
    changed_fields: dict[str, Change]


class DiffSummary(Schema):
    added: int
    removed: int
    changed: int
    unchanged: int


class DiffOut(Schema):
    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from")
    to: str | None = Field(description="null: the working copy")
    set_: SetDiff = Field(alias="set")
    prompts: PromptsDiff
    summary: DiffSummary


# --- API keys -------------------------------------------------------------------------

class ApiKeyOut(Resource):
    name: str
    prefix: str = Field(description="the key's first characters, to recognise it")
    scopes: list[ScopeName]
    last_used_at: datetime.datetime | None
    revoked_at: datetime.datetime | None
    expires_at: datetime.datetime | None = Field(description="refused from then on (401); null: never expires")


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="the secret key: shown this once, never again")


class ApiKeyCreate(Schema):
    name: Text = Field(max_length=100)
    scopes: list[ScopeName] = Field(min_length=1, examples=[["read", "write"]])
    expires_at: datetime.datetime | None = Field(
        None, description="when the key stops working (with a time zone, within ten years); omitted: never",
        examples=["2027-06-30T00:00:00Z"])
