"""Input checks shared by the prompt services: templates, parameters, metadata."""

from __future__ import annotations

from anvil_client import templates as tpl

from anvil_forge.core.errors import ValidationError


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
