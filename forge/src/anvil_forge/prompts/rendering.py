"""Rendering prompts on the FORGE, with the client's template environment and partial resolution.

A render gives ``{"kind", "rendered", "messages", "config"}``: for a text prompt ``rendered`` is the text
and ``messages`` None; for a chat prompt ``messages`` is the conversation and ``rendered`` None. ``config``
is the model configuration, the set's defaults merged beneath the prompt's own. Partials resolve as the
rendered content does: a working copy against each dependency's newest matching version, a version against
its locks.
"""

from __future__ import annotations

from anvil_client import composition as shared
from anvil_client import model_config
from anvil_client import templates as tpl

from anvil_forge.core.errors import ValidationError

from . import composition
from .resolver import Resolved, resolve
from .snapshots import prompt_snapshot


def _field(exc: tpl.TemplateError, kind: str) -> str:
    if exc.message_index is not None:
        return f"messages[{exc.message_index}].content"
    return "messages" if kind == "chat" else "template"


def _render(library: shared.Library, origin: shared.SetVersion, slug: str, set_config: dict,
            variables: dict) -> dict:
    if not isinstance(variables, dict):
        raise ValidationError.field("variables", "variables must be a JSON object")
    prompt = origin.prompts[slug]
    kind = shared.kind_of(prompt)
    try:
        prepared = library.prepared(origin, slug)
        result = prepared.render(variables)
    except tpl.ParameterError as exc:
        raise ValidationError(str(exc), [{"field": f"variables.{exc.parameter}", "message": str(exc)}]) from None
    except tpl.UndefinedVariableError as exc:
        raise ValidationError(str(exc), [{"field": f"variables.{exc.name}", "message": str(exc)}]) from None
    except tpl.ParameterDefinitionError as exc:
        raise ValidationError.field("parameters", str(exc)) from None
    except tpl.MessageDefinitionError as exc:
        raise ValidationError.field("messages" if exc.index is None else f"messages[{exc.index}]", str(exc)) from None
    except tpl.TemplateError as exc:
        raise ValidationError.field(_field(exc, kind), str(exc)) from None
    config = model_config.merge(set_config or {}, prompt.get("config") or {})
    if isinstance(result, str):
        return {"kind": kind, "rendered": result, "messages": None, "config": config}
    return {"kind": kind, "rendered": None, "messages": result, "config": config}


def render_prompt(prompt, variables: dict) -> dict:
    """The working copy of a prompt (the caller already has it, so may see it)."""
    library, origin = composition.library_for(prompt.prompt_set)
    return _render(library, origin, prompt.slug, prompt.prompt_set.config, variables)


def render_draft(prompt_set, slug: str, draft: dict, variables: dict) -> dict:
    """Unsaved content (the editor's preview): ``draft`` is ``{kind, template | messages, parameters, config}``
    in place of the prompt ``slug`` of the set's working copy (partials resolve as they will once saved)."""
    library, draft_origin = composition.draft_library_for(prompt_set, slug, draft)
    return _render(library, draft_origin, slug, prompt_set.config, variables)


def render_resolved(resolved: Resolved, variables: dict) -> dict:
    prompt_set = resolved.prompt_set
    if resolved.version is None:
        library, origin = composition.library_for(prompt_set)
        set_config = prompt_set.config
    else:
        snapshot = resolved.version.snapshot
        library, origin = composition.library_for(prompt_set, snapshot, resolved.version.label)
        set_config = snapshot.get("config") or {}
    return _render(library, origin, resolved.prompt_slug, set_config, variables)


def render_address(user, address: str, variables: dict, *, organisations=None) -> tuple[dict, Resolved]:
    resolved = resolve(user, address, organisations=organisations)
    return render_resolved(resolved, variables), resolved


def as_text(result: dict) -> str:
    """A render for a terminal: the text, or each message under its role (placeholders already filled)."""
    if result["messages"] is None:
        return result["rendered"]
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in result["messages"])


__all__ = ["as_text", "prompt_snapshot", "render_address", "render_draft", "render_prompt", "render_resolved"]
