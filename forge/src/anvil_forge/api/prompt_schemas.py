"""Request and response shapes of prompt sets, prompts and rendering, and of what
they hold: model configuration, chat messages, dependencies, parameters (the
rules of :mod:`.schemas` apply: NUL refused, the rest checked by the service layer).
"""

from __future__ import annotations

import warnings

import uuid
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import AfterValidator, ConfigDict, create_model, model_serializer
from pydantic.json_schema import SkipJsonSchema

from anvil_client import model_config as config_rules

from anvil_forge.prompts import queries as prompt_queries

from .schemas import DocumentedAs, JsonObject, Resource, Text, _no_nul
from .test_schemas import TESTS_ABOUT, Tests


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




ParameterType = Literal["string", "number", "boolean", "integer", "enum", "list", "object"]
ItemType = Literal["string", "number", "integer", "boolean", "object"]


with warnings.catch_warnings():
    # A declaration's key is `schema`, which pydantic's BaseModel also has (a deprecated method): the field
    # is meant to shadow it.
    warnings.filterwarnings("ignore", message='Field name "schema"', category=UserWarning)

    class Parameter(Schema):
        name: Text = Field(max_length=100)
        type: ParameterType = "string"
        description: Text = ""
        required: bool = True
        default: Any = Field(None, description="for optional parameters; coerced to the type (a list for `list`, "
                                               "an object for `object`)")
        values: list[Text] | None = Field(None, description="`enum` only: the allowed values (strings)")
        items: ItemType | None = Field(None, description="`list` only: the type of each item (default string)")
        schema: JsonObject | None = Field(None, description="`object`, or `list` of objects: a JSON Schema the "  # type: ignore[assignment]
                                                            "value must match")

        def declaration(self) -> dict[str, Any]:
            """As the domain takes it (unset type-specific keys left out)."""
            return {k: v for k, v in self.dict().items() if k not in ("values", "items", "schema") or v is not None}

    class ParameterOut(Schema):
        name: str
        type: ParameterType
        description: str = ""
        required: bool = True
        default: Any = None
        values: list[str] | None = None
        items: ItemType | None = None
        schema: dict[str, Any] | None = None  # type: ignore[assignment]

        @model_serializer(mode="wrap")
        def _type_keys_only_when_set(self, handler: Any) -> dict[str, Any]:
            # A declaration shows the keys its type has, as the domain stores it (string, number and boolean
            # parameters look as they always did).
            data = handler(self)
            return {k: v for k, v in data.items() if k not in ("values", "items", "schema") or v is not None}


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
    tests: Tests = Field(description=TESTS_ABOUT)
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
    tests: Tests | None = Field(None, description=TESTS_ABOUT)


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
    tests: Tests | None = Field(None, description=TESTS_ABOUT)


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
