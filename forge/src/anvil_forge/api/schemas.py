"""Request and response shapes of the API (the OpenAPI document is generated from these).

Inputs reject NUL characters everywhere (PostgreSQL cannot store them) and
cap the lengths the database columns have; every other rule (names, slugs,
templates, parameters, labels, roles, statuses, a chat prompt's messages, model
configuration, dependencies) is checked by the service layer, which answers
422 / 409 naming the field. Where the document shows a richer shape than a field
parses (messages, model configuration), :class:`DocumentedAs` says so.

The shapes of prompt sets, prompts, chat messages, model configuration and
rendering are in :mod:`.prompt_schemas`, those of versions and diffs in
:mod:`.version_schemas`; both build on the shared ones here (``Text``,
``JsonObject``, :class:`DocumentedAs`, :class:`Resource`).
"""

from __future__ import annotations

import datetime
import uuid
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import AfterValidator, TypeAdapter

from anvil_forge.orgs import policy


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


class DocumentedAs:
    """Document a field in the OpenAPI document as ``shape`` (a type or schema class) while accepting what
    its own type accepts. For input the service layer checks: its 422 names the field as it is in the
    body (``messages[0].role``, ``config.temperature``) rather than pydantic's union branches, and one
    rule lives in one place. Stored values always fit the shape, as the service checked them."""

    def __init__(self, shape: Any) -> None:
        self.shape = shape

    def __get_pydantic_json_schema__(self, core_schema, handler):
        # The shape as a list's items: pydantic then refers to a model by `$ref` (a component of its own in the
        # document) instead of inlining it, as it does for a model at the top of a field.
        return handler(TypeAdapter(list[self.shape]).core_schema)["items"]


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


# --- projects -------------------------------------------------------------------------

class ProjectOut(Resource):
    organisation_id: uuid.UUID
    name: str
    slug: str
    description: str
    tests_gate: bool = Field(description="whether a prompt set may be locked only while all its tests pass")


class ProjectCreate(Schema):
    organisation: uuid.UUID
    name: Text = Field(max_length=100)
    slug: Text | None = Field(None, max_length=64, description="derived from the name when omitted")
    description: Text = ""


class ProjectUpdate(Schema):
    name: Text | None = Field(None, max_length=100)
    slug: Text | None = Field(None, max_length=64)
    description: Text | None = None
    tests_gate: bool | None = Field(None, description="false lets a set be locked while tests fail (owners "
                                                      "and admins)")


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
