"""Request and response shapes of the API (the OpenAPI document is generated from these).

Inputs reject NUL characters everywhere (PostgreSQL cannot store them) and
cap the lengths the database columns have; every other rule (names, slugs,
templates, parameters, labels, roles, statuses, a chat prompt's messages, model
configuration, dependencies) is checked by the service layer, which answers
422 / 409 naming the field. Where the document shows a richer shape than a field
parses (messages, model configuration), :class:`DocumentedAs` says so.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import AfterValidator, ConfigDict, StrictBool, StrictFloat, StrictInt, TypeAdapter, create_model
from pydantic.json_schema import SkipJsonSchema

from anvil_client import model_config as config_rules

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


# --- model configuration, chat messages, dependencies (shapes for the document) ---------

def _drop_defaults(schema: dict[str, Any]) -> None:
    """A documented configuration key is optional, not null by default: leave ``default`` out."""
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)


class _ConfigShape(Schema):
    model_config = ConfigDict(extra="allow", json_schema_extra=_drop_defaults)


def _about(key: str) -> str:
    return config_rules.SCHEMA["properties"][key]["description"]


# The keys anvil_client.model_config checks (its JSON Schema has the full rules, e.g. for response_format and
# tools); any other key is allowed and kept as it is.
CONFIG_KEYS: dict[str, tuple[Any, dict[str, Any]]] = {
    "model": (str, {"min_length": 1, "examples": ["gpt-4o"]}),
    "temperature": (float, {"ge": 0, "le": 2, "examples": [0.2]}),
    "top_p": (float, {"ge": 0, "le": 1}),
    "max_tokens": (int, {"ge": 1, "examples": [512]}),
    "stop": (str | Annotated[list[str], Field(min_length=1, max_length=4)], {}),
    "seed": (int, {}),
    "response_format": (dict[str, Any], {"examples": [{"type": "json_object"}]}),
    "tools": (Annotated[list[dict[str, Any]], Field(min_length=1)], {}),
}


def _config_fields(nullable: bool) -> dict[str, Any]:
    return {key: (kind | None if nullable else kind, Field(None, description=_about(key), **extra))
            for key, (kind, extra) in CONFIG_KEYS.items()}


ModelConfig: Any = create_model(
    "ModelConfig", __base__=_ConfigShape, __doc__=(
        "A model configuration in the shape of OpenAI's Chat Completions parameters: the known keys are "
        "checked (a bad value is 422 naming it, e.g. `config.temperature`), any other key is kept as it is."),
    **_config_fields(nullable=False))

PromptConfig: Any = create_model(
    "PromptConfig", __base__=_ConfigShape, __doc__=(
        "A prompt's own model configuration, laid over its prompt set's defaults key by key: as ModelConfig, "
        "and a key set to null removes the set's default for it (the provider's own default applies)."),
    **_config_fields(nullable=True))

MessageRole = Literal["system", "developer", "user", "assistant"]  # anvil_client.templates.ROLES


class ChatMessage(Schema):
    """One message of a chat prompt: who speaks, and a Liquid template for what they say."""

    model_config = ConfigDict(extra="forbid")

    role: MessageRole
    content: str = Field(description="a Liquid template, rendered with the prompt's variables (it may render "
                                     "partials: `{% render 'common.tone', tier: tier %}`)",
                         examples=["You help {{ customer }}."])


class MessagePlaceholder(Schema):
    """Where the application's own messages go (conversation history): at render time the variable of this
    name must be a list of `{role, content}` messages (`[]` for none)."""

    model_config = ConfigDict(extra="forbid")

    placeholder: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", examples=["history"],
                             description="the variable's name; not also a declared parameter")


class RenderedMessage(Schema):
    """A message of a rendered conversation."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_drop_defaults)

    role: MessageRole
    content: str = Field(description="the rendered text")
    name: str | SkipJsonSchema[None] = Field(None, description="the speaker's name, when a placeholder's message "
                                                               "had one")


ConfigValue = Annotated[JsonObject, DocumentedAs(ModelConfig)]
PromptConfigValue = Annotated[JsonObject, DocumentedAs(PromptConfig)]
Messages = Annotated[list[Any], AfterValidator(_no_nul), DocumentedAs(list[ChatMessage | MessagePlaceholder])]
Dependencies = Annotated[JsonObject, DocumentedAs(dict[str, str])]
RenderedMessages = Annotated[list[Any], DocumentedAs(list[RenderedMessage])]

SET_CONFIG_ABOUT = ("model configuration defaults of every prompt in the set (model, temperature, top_p, "
                    "max_tokens, stop, seed, response_format, tools, any other key), merged beneath each "
                    "prompt's own `config`; a bad value is 422 naming it (`config.temperature`)")
DEPENDENCIES_ABOUT = ("other prompt sets of the project whose prompts this set's prompts render as partials "
                      "(`{% render 'common.tone' %}`): set slug → version specifier (`^1.2`, `~1.2.0`, "
                      "`1.2.3`, `stable`, …). The working copy renders against the newest matching version; "
                      "a version locks each to the exact version it resolved to (`locks`). No cycles; a "
                      "bad one is 422 naming it (`dependencies.common`)")
PROMPT_CONFIG_ABOUT = ("the prompt's model configuration, laid over its set's `config` key by key (a key set "
                       "to null removes the set's default); a bad value is 422 naming it (`config.temperature`)")
MESSAGES_ABOUT = ("a chat prompt's messages, in order: `{role, content}` (role system, developer, user or "
                  "assistant; content a template) or `{placeholder: NAME}` for messages the application passes "
                  "at render time. A bad one is 422 naming it (`messages[0].role`, `messages[2].content` with "
                  "line and column). Empty for a text prompt")
MESSAGES_EXAMPLE = [{"role": "system", "content": "You help {{ customer }}. {% render 'common.tone' %}"},
                    {"placeholder": "history"},
                    {"role": "user", "content": "{{ question }}"}]
KIND_ABOUT = ("text: `template` renders to one text; chat: `messages` render to a conversation (the other "
              "kind's content is cleared when the kind changes, unless it is given too)")


class DependencyStatus(Schema):
    slug: str = Field(description="the dependency's prompt-set slug")
    prompt_set_id: uuid.UUID | None
    specifier: str = Field(examples=["^1.2"])
    resolved: str | None = Field(description="the version the working copy renders against (the newest "
                                             "matching one); null when none matches yet")
    matching: list[str] = Field(description="every version of the dependency the specifier allows, oldest first")
    newest: str | None = Field(description="the dependency's newest version, matching or not")
    outside: list[str] = Field(description="versions newer than `resolved` that the specifier excludes "
                                           "(a major upgrade to consider)")

    @staticmethod
    def resolve_prompt_set_id(obj):
        target = obj.get("prompt_set")
        return target.pk if target is not None else None


class PromptSetOut(Resource):
    project_id: uuid.UUID
    organisation_id: uuid.UUID
    name: str
    slug: str
    description: str
    metadata: dict[str, Any]
    config: ConfigValue = Field(description=SET_CONFIG_ABOUT)
    dependencies: Dependencies = Field(description=DEPENDENCIES_ABOUT, examples=[{"common": "^1.2"}])
    dependency_status: list[DependencyStatus] = Field(
        description="each dependency: what the working copy resolves it to and which versions exist")
    status: Literal["live", "review", "locked"]

    @staticmethod
    def resolve_organisation_id(obj):
        return obj.project.organisation_id

    @staticmethod
    def resolve_dependency_status(obj):
        return prompt_queries.dependency_rows(obj) if obj.dependencies else []


class PromptSetCreate(Schema):
    name: Text = Field(max_length=100)
    slug: Text | None = Field(None, max_length=64, description="derived from the name when omitted")
    description: Text = ""
    metadata: JsonObject | None = None
    config: ConfigValue | None = Field(None, description=SET_CONFIG_ABOUT,
                                       examples=[{"model": "gpt-4o-mini", "temperature": 0.2}])
    dependencies: Dependencies | None = Field(None, description=DEPENDENCIES_ABOUT, examples=[{"common": "^1.2"}])


class PromptSetUpdate(Schema):
    name: Text | None = Field(None, max_length=100)
    slug: Text | None = Field(None, max_length=64)
    description: Text | None = None
    metadata: JsonObject | None = None
    config: ConfigValue | None = Field(None, description=SET_CONFIG_ABOUT + "; replaces the whole object")
    dependencies: Dependencies | None = Field(None, description=DEPENDENCIES_ABOUT + "; replaces the whole object")


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


class PartialUse(Schema):
    name: str = Field(description="the partial: `prompt` (this set) or `prompt_set.prompt` (a dependency)")
    arguments: list[str] = Field(description="the names it passes, in order")
    line: int
    column: int
    message_index: int | None = Field(description="the chat message it is in; null for a text prompt")


class Analysis(Schema):
    valid: bool = Field(description="false when the template (or a message) does not compile (see `error`)")
    error: str | None
    variables: list[str] = Field(description="top-level names the template (or the messages) read")
    missing: list[str] = Field(description="read by the template, not declared as parameters")
    unused: list[str] = Field(description="declared, not read by the template")
    matched: list[str]
    partials: list[PartialUse] = Field(description="every `{% render %}` tag")
    placeholders: list[str] = Field(description="a chat prompt's placeholders, in order")
    problems: list[str] = Field(description="what would fail in its partials against the set's working copy "
                                            "(a missing partial, a required parameter not passed, a cycle)")


class PromptOut(Resource):
    prompt_set_id: uuid.UUID
    name: str
    slug: str
    flat_id: str = Field(description="`<prompt set slug>.<prompt slug>`, as LIVE clients name it")
    description: str
    kind: Literal["text", "chat"] = Field(description=KIND_ABOUT)
    template: str = Field(description="a text prompt's template; empty for a chat prompt")
    messages: Messages = Field(description=MESSAGES_ABOUT)
    parameters: list[ParameterOut]
    config: PromptConfigValue = Field(description=PROMPT_CONFIG_ABOUT)
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
    kind: Literal["text", "chat"] = Field("text", description=KIND_ABOUT)
    template: Text = Field("", description="a text prompt's template")
    messages: Messages | None = Field(None, description=MESSAGES_ABOUT, examples=[MESSAGES_EXAMPLE])
    parameters: list[Parameter] | None = None
    description: Text = ""
    metadata: JsonObject | None = None
    config: PromptConfigValue | None = Field(None, description=PROMPT_CONFIG_ABOUT,
                                             examples=[{"temperature": 0.7, "max_tokens": 300}])


class PromptUpdate(Schema):
    name: Text | None = Field(None, max_length=100)
    slug: Text | None = Field(None, max_length=64)
    kind: Literal["text", "chat"] | None = Field(None, description=KIND_ABOUT)
    template: Text | None = None
    messages: Messages | None = Field(None, description=MESSAGES_ABOUT + "; replaces the whole list")
    parameters: list[Parameter] | None = None
    description: Text | None = None
    metadata: JsonObject | None = None
    config: PromptConfigValue | None = Field(None, description=PROMPT_CONFIG_ABOUT + "; replaces the whole object")


# --- rendering ------------------------------------------------------------------------

class RenderIn(Schema):
    variables: dict[str, Any] = Field(
        default_factory=dict,
        description="values for the prompt's parameters; for a chat prompt also each placeholder's messages, "
                    "a list of `{role, content}` (`[]` for none)",
        examples=[{"customer": "Ada", "question": "Can I get a refund?",
                   "history": [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi!"}]}])


class RenderOut(Schema):
    kind: Literal["text", "chat"]
    rendered: str | None = Field(description="a text prompt's text; null for a chat prompt")
    messages: RenderedMessages | None = Field(
        description="a chat prompt's conversation, placeholders filled; null for a text prompt")
    config: Annotated[dict[str, Any], DocumentedAs(ModelConfig)] = Field(
        description="the model configuration: the set's defaults with the prompt's own laid over them")


class AddressRenderIn(Schema):
    address: Text = Field(max_length=1000, description="`[org/]project/prompt_set[@version]/prompt`",
                          examples=["acme/support/emails@stable/welcome"])
    variables: dict[str, Any] = Field(default_factory=dict, description=RenderIn.model_fields["variables"].description)


class AddressRenderOut(RenderOut):
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
    locks: dict[str, str] = Field(description="dependency slug → the exact version this version renders its "
                                              "partials from ({} without dependencies)",
                                  examples=[{"common": "1.2.3"}])

    @staticmethod
    def resolve_created_by_email(obj):
        return obj.created_by.email if obj.created_by_id and obj.created_by else None

    @staticmethod
    def resolve_approval(obj):
        return prompt_queries.approval_of(obj)

    @staticmethod
    def resolve_locks(obj):
        return dict((obj.snapshot or {}).get("locks") or {})


class PromptSnapshot(Schema):
    name: str
    description: str = ""
    kind: Literal["text", "chat"] = "text"
    template: str = ""
    messages: Messages = []
    parameters: list[ParameterOut] = []
    config: PromptConfigValue = {}
    metadata: dict[str, Any] = {}


class Snapshot(Schema):
    name: str
    description: str = ""
    metadata: dict[str, Any] = {}
    config: ConfigValue = Field({}, description="the set's model configuration defaults")
    dependencies: Dependencies = Field({}, description="the declared dependencies: set slug → specifier")
    locks: dict[str, str] = Field({}, description="what each dependency resolved to: set slug → exact label")
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


class MappingDiff(Schema):
    added: dict[str, Any] = Field(description="key → its new value")
    removed: dict[str, Any] = Field(description="key → its old value")
    changed: dict[str, Change]


AnyMessage = Annotated[Any, DocumentedAs(ChatMessage | MessagePlaceholder)]


class MessageEqual(Schema):
    op: Literal["equal"]
    old_index: int
    new_index: int
    message: AnyMessage


class MessageAdded(Schema):
    op: Literal["add"]
    new_index: int
    message: AnyMessage


class MessageRemoved(Schema):
    op: Literal["remove"]
    old_index: int
    message: AnyMessage


class MessageChanged(Schema):
    model_config = ConfigDict(populate_by_name=True)

    op: Literal["change"]
    old_index: int
    new_index: int
    from_: AnyMessage = Field(alias="from")
    to: AnyMessage
    content: TemplateDiff | None = Field(description="line diff of the two contents; null when only the role "
                                                     "changed or either is a placeholder")


MessageOp = Annotated[MessageEqual | MessageAdded | MessageRemoved | MessageChanged, Field(discriminator="op")]


class MessagesDiff(Schema):
    ops: list[MessageOp] = Field(description="the aligned message lists, in order (0-based indices)")


class PromptChange(Schema):
    slug: str
    fields: dict[str, Change]
    template: TemplateDiff | None
    parameters: ParameterDiff
    kind: Change | None = Field(description="null: the kind is the same")
    config: MappingDiff
    messages: MessagesDiff | None = Field(description="null: the messages are the same (always, for text prompts)")


class PromptsDiff(Schema):
    added: list[str]
    removed: list[str]
    unchanged: list[str]
    changed: list[PromptChange]


class SetDiff(Schema):
    changed_fields: dict[str, Change]
    config: MappingDiff = Field(description="the set's model configuration defaults")
    dependencies: MappingDiff
    locks: MappingDiff = Field(description="what the dependencies resolve to")


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
