"""Rendering prompts on the FORGE, with the client's template environment."""

from __future__ import annotations

from functools import lru_cache

from anvil_client import templates as tpl

from anvil_forge.core.errors import ValidationError

from .resolver import Resolved, resolve


@lru_cache(maxsize=512)
def _compiled(source: str):
    return tpl.compile_template(source)


def render_template(template: str, parameters: list, variables: dict) -> str:
    """Render with typed inputs; any template or input problem becomes a ValidationError naming it."""
    if not isinstance(variables, dict):
        raise ValidationError.field("variables", "variables must be a JSON object")
    try:
        return tpl.render(_compiled(template), variables, tpl.parse_parameters(parameters))
    except tpl.ParameterError as exc:
        raise ValidationError(str(exc), [{"field": f"variables.{exc.parameter}", "message": str(exc)}]) from None
    except tpl.UndefinedVariableError as exc:
        raise ValidationError(str(exc), [{"field": f"variables.{exc.name}", "message": str(exc)}]) from None
    except tpl.TemplateError as exc:
        raise ValidationError.field("template", str(exc)) from None


def render_prompt(prompt, variables: dict) -> str:
    """The working copy of a prompt (the caller already has it, so may see it)."""
    return render_template(prompt.template, prompt.parameters, variables)


def render_address(user, address: str, variables: dict, *, organisations=None) -> tuple[str, Resolved]:
    resolved = resolve(user, address, organisations=organisations)
    return render_template(resolved.prompt["template"], resolved.prompt["parameters"], variables), resolved
