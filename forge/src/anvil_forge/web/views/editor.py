"""The prompt editor's live parts, on the draft in the form (nothing is saved until "Save"):

* ``editor/check``   → the checks panel (the test cases' results included), plus (out of band) each row's and
  field's own error, the preview's sample fields (when they change) and its output;
* ``editor/preview`` → the preview output for the sample values typed;
* ``editor/param-row`` → one empty parameter row; ``editor/message-row`` → one empty chat message or
  placeholder row;
* ``editor/missing`` → one row per variable the content reads but does not declare;
* ``editor/tests``, ``editor/use-case`` → :mod:`.editor_tests`.

The preview's values are the author's, kept per prompt in the session (:mod:`..samples`) across saves.

:func:`editor_context` is what the editor page shows too, so a page after a refused save and the live
checks say the same things in the same places.
"""

from __future__ import annotations

import json

from anvil_client import templates as tpl
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET, require_POST

from anvil_forge.core.errors import AnvilError, NotFound
from anvil_forge.orgs import policy
from anvil_forge.orgs.policy import Action
from anvil_forge.prompts import queries as prompt_queries

from .. import config_form, draft_tests, drafts, samples
from . import base
from .base import AuthenticatedHttpRequest, web_view

SAMPLE_JSON = {"list": '["first", "second"]', "object": '{"key": "value"}',
               "messages": '[{"role": "user", "content": "Hi"}]'}


def draft_slug(data, prompt) -> str:
    """The prompt the draft stands for in its set (partials and cycles are checked against it)."""
    if prompt is not None:
        return prompt.slug
    if data is not None:
        for name in ("saved_slug", "slug"):
            value = str(data.get(name, "")).strip()[:64]
            if value:
                return value
    return "_draft"


def check(prompt_set, draft: drafts.Draft, slug: str) -> dict:
    return prompt_queries.check_draft(
        "" if draft.is_chat else draft.template, draft.parameters, kind=draft.kind,
        messages=draft.messages if draft.is_chat else None, config=draft.config, prompt_set=prompt_set, slug=slug)


# --- preview -------------------------------------------------------------------------------------

def sample_fields(draft: drafts.Draft, found: dict, data=None, remembered: dict | None = None) -> list[dict]:
    """One preview input per declared parameter, per placeholder (JSON messages), then per variable used but
    not declared; its value from the POST, else the ones remembered for the prompt."""
    fields: list[dict] = []
    seen: set[str] = set()
    declared = {p["name"]: p for p in draft.parameters}

    def add(name: str, kind: str, **extra) -> None:
        seen.add(name)
        field = {"name": name, "type": kind, "required": True, "default": "", "declared": True,
                 "description": "", "values": [], "items": "", **extra}
        field["json"] = kind in ("list", "object", "messages")
        field["example"] = SAMPLE_JSON.get(kind, "")
        key = f"sample-{name}"
        initial = "[]" if kind == "messages" else ""
        field["value"] = data.get(key, initial) if data is not None else (remembered or {}).get(key, initial)
        fields.append(field)

    for row in draft.rows:
        if row["name"] and row["name"] not in seen:
            values = declared.get(row["name"], {}).get("values")
            add(row["name"], row["type"], required=row["required"], default=row["default"],
                description=row["description"],
                values=[v for v in values if isinstance(v, str)] if isinstance(values, list) else [],
                items=row["items"] if row["type"] == "list" else "")
    if draft.is_chat:
        for name in draft.placeholders:
            if name not in seen:
                add(name, "messages", description="messages for this placeholder, e.g. the conversation so far")
    for name in found.get("missing", []):
        if name not in seen:
            add(name, "string", declared=False)
    return fields


def sample_values(fields: list[dict]) -> tuple[dict, list[str]]:
    """The values typed (an empty box is "not given": defaults apply); JSON boxes are read as JSON."""
    values, problems = {}, []
    for field in fields:
        raw = field["value"]
        if raw is None or not str(raw).strip():
            continue
        if field["json"]:
            value, problem = drafts.parse_json(raw, f"the sample value of '{field['name']}'")
            if problem:
                problems.append(problem)
                continue
            values[field["name"]] = value
        else:
            values[field["name"]] = raw
    return values, problems


def signature(fields: list[dict]) -> str:
    return "|".join(f"{f['name']}:{f['type']}:{f['items']}:{f['required']:d}:{f['declared']:d}:{f['default']}:"
                    f"{','.join(f['values'])}" for f in fields)


def _sources(rendered: list[dict], items: list[dict], values: dict) -> list[dict]:
    """Each rendered message marked with the placeholder it came from (None: one of the prompt's own)."""
    marked: list[dict] = []
    for item in items:
        if "placeholder" in item:
            given = values.get(item["placeholder"])
            count = len(given) if isinstance(given, list) else 0
            marked.extend({"source": item["placeholder"]} for _ in range(count))
        else:
            marked.append({"source": None})
    if len(marked) != len(rendered):
        return [dict(m, source=None) for m in rendered]
    return [dict(m, **mark) for m, mark in zip(rendered, marked)]


def preview(prompt_set, slug: str, draft: drafts.Draft, values: dict, problems: list[str]) -> dict:
    """Render the draft; any problem comes back as an inline error, never an exception."""
    if problems:
        return {"ok": False, "error": "; ".join(problems)}
    try:
        result = prompt_queries.render_draft(prompt_set, slug, draft.content(), values)
    except AnvilError as exc:
        return {"ok": False, "error": exc.message}
    own = {key for key, value in draft.config.items() if value is not None}
    config = [{"key": key, "value": json.dumps(value, ensure_ascii=False), "own": key in own}
              for key, value in result["config"].items()]
    if result["messages"] is not None:
        rendered = _sources(result["messages"], draft.messages, values)
        text = "".join(m["content"] for m in rendered)
        tokens = sum(tpl.estimate_tokens(m["content"]) for m in rendered)
        return {"ok": True, "error": None, "messages": rendered, "text": None, "tokens": tokens,
                "characters": len(text), "config": config}
    text = result["rendered"] or ""
    return {"ok": True, "error": None, "messages": None, "text": text, "tokens": tpl.estimate_tokens(text),
            "characters": len(text), "config": config}


# --- partial references --------------------------------------------------------------------------

def _link(name: str, *args: str) -> str | None:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:  # a name no URL can hold: shown, not linked
        return None


def partials(request: HttpRequest, prompt_set, found: dict) -> list[dict]:
    """The ``{% render %}`` references, each with a link to the prompt it names (``tone``: this set's;
    ``common.tone``: set ``common``'s, and the version of it the working copy renders)."""
    project = prompt_set.project
    org = project.organisation
    locks: dict | None = None
    exists: dict[tuple[str, str], bool] = {}
    result = []
    for ref in found.get("partials", []):
        set_slug, dot, prompt_slug = ref["name"].rpartition(".")
        same = not dot or set_slug == prompt_set.slug
        target = prompt_set.slug if same else set_slug
        if (target, prompt_slug) not in exists:
            try:
                owner = prompt_set if same else prompt_queries.get_prompt_set_by_slug(request.user, project, target)
                prompt_queries.get_prompt_by_slug(request.user, owner, prompt_slug)
                exists[(target, prompt_slug)] = True
            except NotFound:
                exists[(target, prompt_slug)] = False
        url = _link("web:prompt", org.slug, project.slug, target, prompt_slug) if exists[(target, prompt_slug)] else None
        lock = None
        if not same:
            if locks is None:
                locks = {row["slug"]: row["resolved"] for row in prompt_queries.dependency_rows(prompt_set)}
            label = locks.get(set_slug)
            version_url = _link("web:version", org.slug, project.slug, set_slug, label) if label else None
            if version_url:
                lock = {"label": label, "url": f"{version_url}#snap-{prompt_slug}"}
        result.append(dict(ref, url=url, lock=lock, same_set=same, set=target, target=f"{target}.{prompt_slug}"))
    return result


# --- the editor's context ------------------------------------------------------------------------

def _rows(rows: list[dict], errors: dict, prefix: str) -> list[dict]:
    return [dict(row, index=index, errors=errors.get(f"{prefix}-{row['key']}", [])) for index, row in enumerate(rows)]


def editor_context(request: AuthenticatedHttpRequest, prompt_set, prompt, form, draft: drafts.Draft,
                   data=None) -> dict:
    org = prompt_set.project.organisation
    slug = draft_slug(data, prompt)
    found = check(prompt_set, draft, slug)
    draft.add_check(found)
    remembered = samples.recall(request, prompt_set, slug) if data is None and prompt is not None else {}
    tests = draft_tests.panel(prompt_set, slug, draft, found["syntax"] is None)
    fields = sample_fields(draft, found, data, remembered)
    values, problems = sample_values(fields)
    sample_signature = signature(fields)
    message_rows = _rows(draft.message_rows, draft.errors, "m")
    syntax = found["syntax"]
    if syntax and syntax.get("message_index") is not None and syntax.get("line"):
        index = syntax["message_index"]
        if 0 <= index < len(message_rows) and message_rows[index]["type"] == "message":
            syntax = dict(syntax, target=f"m-{message_rows[index]['key']}-content")
            message_rows[index]["goto"] = syntax
    can_edit = policy.can(request.user, Action.EDIT_PROMPTS, org)
    return {
        "org": org, "project": prompt_set.project, "prompt_set": prompt_set, "prompt": prompt, "form": form,
        "draft": draft, "kind": draft.kind, "rows": _rows(draft.rows, draft.errors, "p"),
        "message_rows": message_rows, "errors": draft.errors, "chat_errors": draft.errors.get("messages", []),
        "check": found, "syntax": syntax, "partials": partials(request, prompt_set, found),
        "config": config_form.present(draft.config_fields, draft.errors, prompt_set.config),
        "sample_fields": fields, "sample_signature": sample_signature,
        # the check re-renders the preview inputs only when they change, so typing in one never loses focus
        # (nor while the content does not compile: its variables are unknown then)
        "sample_fields_changed": data is None or (data.get("sample_signature") != sample_signature
                                                  and found["syntax"] is None),
        "preview": preview(prompt_set, slug, draft, values, problems) if found["syntax"] is None else None,
        "editable": prompt_set.is_editable and can_edit,
        "tests": tests, "tests_errors": draft.errors.get("tests", []), "checks_choices": draft_tests.CHECKS,
        "test_count": len(draft.tests) if isinstance(draft.tests, list) else 0,
        "preview_case": (data if data is not None else remembered).get("preview_case", ""),
        "types": tpl.PARAMETER_TYPES, "item_types": drafts.ITEM_TYPES, "roles": tpl.ROLES,
    }


def remember_samples(request: HttpRequest, prompt_set, slug: str | None = None) -> None:
    """Keep the preview's values for the prompt being edited (a new prompt's are kept once it is saved)."""
    slug = slug or str(request.POST.get("saved_slug", "")).strip()
    if slug:
        samples.remember(request, prompt_set, slug, samples.from_data(request.POST))


# --- the HTMX endpoints --------------------------------------------------------------------------

@require_POST
@web_view
def check_view(request: AuthenticatedHttpRequest, org, project, pset) -> HttpResponse:
    prompt_set = base.prompt_set(request, org, project, pset)
    context = editor_context(request, prompt_set, None, None, drafts.from_post(request.POST), request.POST)
    remember_samples(request, prompt_set)
    return render(request, "web/prompts/_live.html", context)


@require_POST
@web_view
def preview_view(request: AuthenticatedHttpRequest, org, project, pset) -> HttpResponse:
    prompt_set = base.prompt_set(request, org, project, pset)
    draft = drafts.from_post(request.POST)
    slug = draft_slug(request.POST, None)
    found = check(prompt_set, draft, slug)
    result = None
    if found["syntax"] is None:
        values, problems = sample_values(sample_fields(draft, found, request.POST))
        result = preview(prompt_set, slug, draft, values, problems)
    remember_samples(request, prompt_set)
    return render(request, "web/prompts/_preview_output.html", {"preview": result, "check": found})


@require_GET
@web_view
def param_row(request: AuthenticatedHttpRequest, org, project, pset) -> HttpResponse:
    base.prompt_set(request, org, project, pset)
    return render(request, "web/prompts/_param_row.html",
                  {"row": drafts.blank_row(), "types": tpl.PARAMETER_TYPES, "item_types": drafts.ITEM_TYPES,
                   "editable": True, "focus": True})


@require_GET
@web_view
def message_row(request: AuthenticatedHttpRequest, org, project, pset) -> HttpResponse:
    base.prompt_set(request, org, project, pset)
    kind = "placeholder" if request.GET.get("type") == "placeholder" else "message"
    role = request.GET.get("role", "user")
    role = role if role in tpl.ROLES else "user"
    return render(request, "web/prompts/_message_row.html",
                  {"row": drafts.blank_message_row(kind, role), "roles": tpl.ROLES, "editable": True, "focus": True})


@require_POST
@web_view
def missing_rows(request: AuthenticatedHttpRequest, org, project, pset) -> HttpResponse:
    """Rows for every variable used but not declared, typed string (saved with the prompt)."""
    prompt_set = base.prompt_set(request, org, project, pset)
    draft = drafts.from_post(request.POST)
    missing = check(prompt_set, draft, draft_slug(request.POST, None))["missing"]
    response = render(request, "web/prompts/_param_rows.html",
                      {"rows": [drafts.blank_row(name) for name in missing], "types": tpl.PARAMETER_TYPES,
                       "item_types": drafts.ITEM_TYPES, "editable": True, "focus_first": True})
    response["HX-Trigger-After-Settle"] = "paramsChanged"
    return response
