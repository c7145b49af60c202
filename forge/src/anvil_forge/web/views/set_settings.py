"""A prompt set's settings: create and edit it with its default model configuration and its dependencies.

* ``…/new-set`` and ``…/s/<set>/edit``: the form (name, slug, description, metadata, model defaults,
  dependency rows); errors come back next to the field or row they name (``config.temperature``,
  ``dependencies.common``);
* ``…/settings-check``: the model configuration checked as you type (out-of-band errors next to each key);
* ``…/dependency-row``: one empty dependency row.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from anvil_forge.prompts import queries as prompt_queries
from anvil_forge.prompts import services as prompt_services

from .. import config_form
from ..drafts import SetDraft, new_key
from ..forms import PromptSetForm
from ..links import url_for
from . import base
from .base import AuthenticatedHttpRequest, attempt, crumbs, page, web_view

UNREADABLE = "Some fields cannot be read: see the marked ones."


def _other_sets(request: HttpRequest, project, prompt_set=None) -> list:
    """The sets a set may depend on: the others of its project."""
    return [s for s in prompt_queries.prompt_sets_for(request.user, project).order_by("name")
            if prompt_set is None or s.pk != prompt_set.pk]


def _context(request: HttpRequest, project, prompt_set, form, draft: SetDraft, data=None) -> dict:
    if data is not None:  # what the live check would say, next to each key
        found = prompt_queries.check_draft("", [], config=draft.config)
        for error in found["config_errors"]:
            draft.add(config_form.config_slot(error["key"]), error["message"])
    rows = [dict(row, errors=draft.errors.get(f"d-{row['key']}", [])) for row in draft.dependency_rows]
    sets = _other_sets(request, project, prompt_set)
    return {
        "org": project.organisation, "project": project, "prompt_set": prompt_set, "form": form,
        "creating": prompt_set is None, "config": config_form.present(draft.config_fields, draft.errors),
        "dependency_rows": rows, "dependency_errors": draft.errors.get("dependencies", []),
        "sets": sets, "set_slugs": [s.slug for s in sets],
    }


def _valid(form, draft: SetDraft) -> bool:
    if not form.is_valid():
        return False
    if draft.errors:
        form.add_error(None, UNREADABLE)
        return False
    return True


@web_view
def create(request: AuthenticatedHttpRequest, org, project) -> HttpResponse:
    project = base.project(request, org, project)
    posted = request.method == "POST"
    form = PromptSetForm(request.POST if posted else None)
    draft = SetDraft.from_post(request.POST) if posted else SetDraft.from_set()
    if posted and _valid(form, draft):
        data = form.cleaned_data
        ok, prompt_set = attempt(request, lambda: prompt_services.create_prompt_set(
            request.user, project, data["name"], data["slug"] or None, data["description"], data["metadata"] or {},
            config=draft.config, dependencies=draft.dependencies), form, draft.place)
        if ok:
            messages.success(request, f"Prompt set {prompt_set.name} created. Add its first prompt.")
            return redirect(url_for(prompt_set))
    return page(request, "web/prompt_sets/form.html",
                _context(request, project, None, form, draft, request.POST if posted else None),
                crumbs=crumbs(project.organisation, project, None, None, "New prompt set"))


@web_view
def edit(request: AuthenticatedHttpRequest, org, project, pset) -> HttpResponse:
    prompt_set = base.prompt_set(request, org, project, pset)
    project = prompt_set.project
    posted = request.method == "POST"
    form = PromptSetForm(request.POST if posted else None, initial={
        "name": prompt_set.name, "slug": prompt_set.slug, "description": prompt_set.description,
        "metadata": prompt_set.metadata})
    draft = SetDraft.from_post(request.POST) if posted else SetDraft.from_set(prompt_set)
    if posted and _valid(form, draft):
        data = form.cleaned_data
        ok, saved = attempt(request, lambda: prompt_services.update_prompt_set(
            request.user, prompt_set, name=data["name"], slug=data["slug"] or None, description=data["description"],
            metadata=data["metadata"] if data["metadata"] is not None else {}, config=draft.config,
            dependencies=draft.dependencies), form, draft.place)
        if ok:
            messages.success(request, "Prompt set saved.")
            return redirect(url_for(saved))
        prompt_set.refresh_from_db()
    return page(request, "web/prompt_sets/form.html",
                _context(request, project, prompt_set, form, draft, request.POST if posted else None),
                crumbs=crumbs(project.organisation, project, prompt_set, None, "Edit"))


@require_POST
@web_view
def config_check(request: AuthenticatedHttpRequest, org, project) -> HttpResponse:
    """The default model configuration checked as it is typed: each key's error, out of band."""
    base.project(request, org, project)
    draft = SetDraft.from_post(request.POST)
    found = prompt_queries.check_draft("", [], config=draft.config)
    for error in found["config_errors"]:
        draft.add(config_form.config_slot(error["key"]), error["message"])
    return render(request, "web/_config_checks.html", {"config": config_form.present(draft.config_fields,
                                                                                     draft.errors)})


@require_GET
@web_view
def dependency_row(request: AuthenticatedHttpRequest, org, project) -> HttpResponse:
    project = base.project(request, org, project)
    exclude = request.GET.get("exclude", "")
    sets = [s for s in prompt_queries.prompt_sets_for(request.user, project).order_by("name") if s.slug != exclude]
    return render(request, "web/prompt_sets/_dependency_row.html",
                  {"row": {"key": new_key(), "set": "", "spec": "", "errors": []}, "sets": sets, "editable": True,
                   "focus": True})
