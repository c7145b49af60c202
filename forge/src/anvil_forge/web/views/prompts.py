"""The prompt editor: live syntax and parameter checks, parameter rows, preview, save, create, delete.

The HTMX endpoints work on the draft in the form (nothing is saved until "Save"):

* ``editor/check``   → the checks panel, plus the preview's sample fields and output (out of band);
* ``editor/preview`` → the preview output for the sample values typed;
* ``editor/param-row`` → one empty parameter row;
* ``editor/missing`` → one row per variable the template reads but does not declare.
"""

from __future__ import annotations

from anvil_client import templates as tpl
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from anvil_forge.core.errors import AnvilError
from anvil_forge.orgs import policy
from anvil_forge.orgs.policy import Action
from anvil_forge.prompts import queries as prompt_queries
from anvil_forge.prompts import services as prompt_services

from ..forms import (
    PromptForm,
    blank_row,
    parameters_from_rows,
    rows_from_parameters,
    rows_from_post,
    sample_values,
)
from ..links import url_for
from . import base
from .base import AuthenticatedHttpRequest, attempt, crumbs, page, web_view


def _sample_fields(rows: list[dict], check: dict, data=None) -> list[dict]:
    """One preview input per declared parameter, then per variable used but not declared."""
    fields, seen = [], set()
    for row in rows:
        if row["name"] and row["name"] not in seen:
            seen.add(row["name"])
            fields.append({"name": row["name"], "type": row["type"], "required": row["required"],
                           "default": row["default"], "declared": True, "description": row["description"]})
    for name in check.get("missing", []):
        if name not in seen:
            seen.add(name)
            fields.append({"name": name, "type": "string", "required": True, "default": "", "declared": False,
                           "description": ""})
    for field in fields:
        field["value"] = (data.get(f"sample-{field['name']}", "") if data is not None else "")
    return fields


def _preview(template: str, parameters: list, values: dict) -> dict:
    """Render the draft; any problem comes back as an inline error, never an exception."""
    try:
        text = prompt_queries.render_template(template, parameters, values)
    except AnvilError as exc:
        return {"ok": False, "error": exc.message, "text": ""}
    return {"ok": True, "error": None, "text": text, "tokens": tpl.estimate_tokens(text)}


def _draft(data, prompt=None) -> tuple[str, list[dict], list[dict]]:
    """(template, rows, parameters) from a POST, or from the saved prompt."""
    if data is not None:
        rows = rows_from_post(data)
        template = data.get("template", "")
    else:
        rows = rows_from_parameters(prompt.parameters if prompt else [])
        template = prompt.template if prompt else ""
    return template, rows, parameters_from_rows(rows)


def _editor_context(request: HttpRequest, prompt_set, prompt, form, rows, template, data=None) -> dict:
    org = prompt_set.project.organisation
    parameters = parameters_from_rows(rows)
    check = prompt_queries.check_draft(template, parameters)
    fields = _sample_fields(rows, check, data)
    values = sample_values(data, [f["name"] for f in fields]) if data is not None else {}
    signature = "|".join(f"{f['name']}:{f['type']}:{f['required']:d}:{f['declared']:d}:{f['default']}" for f in fields)
    can_edit = policy.can(request.user, Action.EDIT_PROMPTS, org)
    return {
        "org": org, "project": prompt_set.project, "prompt_set": prompt_set, "prompt": prompt,
        "form": form, "rows": rows, "check": check, "sample_fields": fields, "sample_signature": signature,
        # the check re-renders the preview inputs only when they change, so typing in one never loses focus
        "sample_fields_changed": data is None or data.get("sample_signature") != signature,
        "preview": _preview(template, parameters, values) if check["syntax"] is None else None,
        "editable": prompt_set.is_editable and can_edit,
        "types": tpl.PARAMETER_TYPES,
    }


def _save(request: AuthenticatedHttpRequest, prompt_set, prompt, form, rows):
    data = form.cleaned_data
    parameters = parameters_from_rows(rows)
    metadata = data["metadata"] if data["metadata"] is not None else {}
    if prompt is None:
        return attempt(request, lambda: prompt_services.create_prompt(
            request.user, prompt_set, data["name"], data["slug"] or None, data["template"], parameters,
            data["description"], metadata), form)
    return attempt(request, lambda: prompt_services.update_prompt(
        request.user, prompt, name=data["name"], slug=data["slug"] or None, template=data["template"],
        parameters=parameters, description=data["description"], metadata=metadata), form)


@web_view
def editor(request: AuthenticatedHttpRequest, org, project, pset, prompt) -> HttpResponse:
    found = base.prompt(request, org, project, pset, prompt)
    prompt_set = found.prompt_set
    initial = {"name": found.name, "slug": found.slug, "description": found.description,
               "template": found.template, "metadata": found.metadata}
    form = PromptForm(request.POST or None, initial=initial)
    data = request.POST if request.method == "POST" else None
    template, rows, _ = _draft(data, found)
    if request.method == "POST" and form.is_valid():
        ok, saved = _save(request, prompt_set, found, form, rows)
        if ok:
            messages.success(request, f"Saved {saved.name}.")
            return redirect(url_for(saved))
    context = _editor_context(request, prompt_set, found, form, rows, template, data)
    return page(request, "web/prompts/editor.html", context,
                crumbs=crumbs(prompt_set.project.organisation, prompt_set.project, prompt_set, found))


@web_view
def create(request: AuthenticatedHttpRequest, org, project, pset) -> HttpResponse:
    prompt_set = base.prompt_set(request, org, project, pset)
    form = PromptForm(request.POST or None)
    data = request.POST if request.method == "POST" else None
    template, rows, _ = _draft(data)
    if request.method == "POST" and form.is_valid():
        ok, created = _save(request, prompt_set, None, form, rows)
        if ok:
            messages.success(request, f"Prompt {created.name} created.")
            return redirect(url_for(created))
    context = _editor_context(request, prompt_set, None, form, rows, template, data)
    return page(request, "web/prompts/editor.html", context,
                crumbs=crumbs(prompt_set.project.organisation, prompt_set.project, prompt_set, None, "New prompt"))


@require_POST
@web_view
def check(request: AuthenticatedHttpRequest, org, project, pset) -> HttpResponse:
    prompt_set = base.prompt_set(request, org, project, pset)
    template, rows, _ = _draft(request.POST)
    context = _editor_context(request, prompt_set, None, None, rows, template, request.POST)
    return render(request, "web/prompts/_live.html", context)


@require_POST
@web_view
def preview(request: AuthenticatedHttpRequest, org, project, pset) -> HttpResponse:
    base.prompt_set(request, org, project, pset)
    template, rows, parameters = _draft(request.POST)
    check_result = prompt_queries.check_draft(template, parameters)
    if check_result["syntax"] is not None:
        result = None
    else:
        names = [f["name"] for f in _sample_fields(rows, check_result)]
        result = _preview(template, parameters, sample_values(request.POST, names))
    return render(request, "web/prompts/_preview_output.html", {"preview": result, "check": check_result})


@require_GET
@web_view
def param_row(request: AuthenticatedHttpRequest, org, project, pset) -> HttpResponse:
    base.prompt_set(request, org, project, pset)
    return render(request, "web/prompts/_param_row.html",
                  {"row": blank_row(), "types": tpl.PARAMETER_TYPES, "editable": True, "focus": True})


@require_POST
@web_view
def missing_rows(request: AuthenticatedHttpRequest, org, project, pset) -> HttpResponse:
    """Rows for every variable used but not declared, typed string (saved with the prompt)."""
    base.prompt_set(request, org, project, pset)
    template, _, parameters = _draft(request.POST)
    missing = prompt_queries.check_draft(template, parameters)["missing"]
    response = render(request, "web/prompts/_param_rows.html",
                      {"rows": [blank_row(name) for name in missing], "types": tpl.PARAMETER_TYPES,
                       "editable": True, "focus_first": True})
    response["HX-Trigger-After-Settle"] = "paramsChanged"
    return response


@web_view
def delete(request: AuthenticatedHttpRequest, org, project, pset, prompt) -> HttpResponse:
    found = base.prompt(request, org, project, pset, prompt)
    prompt_set = found.prompt_set
    if request.method == "POST":
        name = found.name
        ok, _ = attempt(request, lambda: prompt_services.delete_prompt(request.user, found))
        if ok:
            messages.success(request, f"Prompt {name} deleted.")
            return redirect(url_for(prompt_set))
        return redirect(url_for(found))
    return page(request, "web/prompts/delete.html", {"prompt": found, "prompt_set": prompt_set},
                crumbs=crumbs(prompt_set.project.organisation, prompt_set.project, prompt_set, found, "Delete"))
