"""Input checks shared by the prompt services: templates, messages, parameters, model configuration, metadata."""

from __future__ import annotations

from anvil_client import model_config, testcases
from anvil_client import templates as tpl

from anvil_forge.core.errors import ValidationError

from .models import Kind


def check_name(name: str, field: str = "name") -> str:
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationError.field(field, f"{field} must be 1-100 characters")
    return name


def check_metadata(metadata, field: str = "metadata") -> dict:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise ValidationError.field(field, f"{field} must be a JSON object")
    return metadata


def check_template(source: str) -> str:
    """Refuse a template that does not compile, with the line and column."""
    if not isinstance(source, str):
        raise ValidationError.field("template", "template must be text")
    try:
        tpl.compile_template(source)
    except tpl.TemplateSyntaxError as exc:
        detail = {"field": "template", "message": exc.message, "line": exc.line, "column": exc.column}
        raise ValidationError(f"template has a syntax error: {exc}", [detail]) from None
    except tpl.TemplateError as exc:
        raise ValidationError.field("template", str(exc)) from None
    return source


def check_parameters(parameters) -> list[dict]:
    if parameters is None:
        return []
    if not isinstance(parameters, list):
        raise ValidationError.field("parameters", "parameters must be a list")
    try:
        return [p.to_dict() for p in tpl.parse_parameters(parameters)]
    except tpl.ParameterDefinitionError as exc:
        field = f"parameters.{exc.parameter}" if exc.parameter else "parameters"
        raise ValidationError.field(field, str(exc)) from None
    except (TypeError, AttributeError):
        raise ValidationError.field("parameters", "each parameter must be an object with at least a name") from None


def check_config(config, field: str = "config", *, removals: bool = False) -> dict:
    """A model configuration (anvil_client.model_config's JSON Schema): errors name the key. ``removals``:
    a prompt's own configuration may hold null for a key, removing the set's default for it."""
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise ValidationError.field(field, f"{field} must be a JSON object")
    removed = [key for key, value in config.items() if value is None] if removals else []
    try:
        checked = model_config.check_config({k: v for k, v in config.items() if k not in removed})
    except model_config.ConfigError as exc:
        key = f"{field}.{exc.key}" if exc.key else field
        raise ValidationError.field(key, str(exc)) from None
    return {**checked, **{key: None for key in removed}}


def check_kind(kind) -> str:
    if kind not in Kind.values:
        raise ValidationError.field("kind", f"kind must be one of {', '.join(Kind.values)}, not {str(kind)[:20]!r}")
    return kind


def check_messages(messages, parameters: list[dict]) -> list[dict]:
    """A chat prompt's messages: valid roles and placeholders, every content a template that compiles.
    Errors name the message (``messages[2].content``) and, for a template, its line and column."""
    if messages is None:
        return []
    try:
        chat = tpl.PreparedChat(messages, parameters)
    except tpl.MessageDefinitionError as exc:
        field = "messages" if exc.index is None else f"messages[{exc.index}]" + (f".{exc.field}" if exc.field else "")
        raise ValidationError.field(field, str(exc)) from None
    except tpl.TemplateSyntaxError as exc:
        detail = {"field": f"messages[{exc.message_index}].content", "message": exc.message, "line": exc.line,
                  "column": exc.column}
        raise ValidationError(f"a message has a syntax error: {exc}", [detail]) from None
    except tpl.TemplateError as exc:
        field = f"messages[{exc.message_index}].content" if exc.message_index is not None else "messages"
        raise ValidationError.field(field, str(exc)) from None
    return [item.to_dict() for item in chat.items]


MAX_TESTS = 100  # per prompt: each is rendered on every version, lock and editor check


def check_tests(tests, kind: str) -> list[dict]:
    """A prompt's test cases (anvil_client.testcases): errors name where (``tests[1].assert[0].value``).
    Stored in the canonical form, so equal definitions are equal rows, snapshots and digests."""
    if tests is None:
        return []
    if isinstance(tests, list) and len(tests) > MAX_TESTS:
        raise ValidationError.field("tests", f"a prompt has at most {MAX_TESTS} test cases")
    try:
        return testcases.to_json(testcases.parse_test_cases(tests, kind=kind))
    except testcases.TestCaseError as exc:
        raise ValidationError.field(exc.path, exc.message) from None
