"""Prompt sets: the set page (prompts, status and its actions, versions), create, edit, delete, status changes."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from anvil_forge.distribution import queries as dist_queries
from anvil_forge.orgs import policy
from anvil_forge.orgs.policy import Action
from anvil_forge.prompts import queries as prompt_queries
from anvil_forge.prompts import services as prompt_services

from ..forms import ConfirmForm, PromptSetForm, RollbackForm
from ..links import url_for
from . import base
from .base import AuthenticatedHttpRequest, attempt, crumbs, page, web_view

VERB_LABELS = {"submit": "Submit for review", "approve": "Approve and lock", "reject": "Reject",
               "unlock": "Unlock"}
VERB_DONE = {"submit": "submitted for review", "approve": "approved: it is LOCKED now",
             "reject": "sent back to LIVE", "unlock": "unlocked: it is LIVE again"}


@web_view
def create(request: AuthenticatedHttpRequest, org, project) -> HttpResponse:
    project = base.project(request, org, project)
    org = project.organisation
    form = PromptSetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        ok, prompt_set = attempt(request, lambda: prompt_services.create_prompt_set(
            request.user, project, data["name"], data["slug"] or None, data["description"], data["metadata"] or {}),
            form)
        if ok:
            messages.success(request, f"Prompt set {prompt_set.name} created. Add its first prompt.")
            return redirect(url_for(prompt_set))
    return page(request, "web/prompt_sets/form.html", {"org": org, "project": project, "form": form, "creating": True},
                crumbs=crumbs(org, project, None, None, "New prompt set"))


@web_view
def detail(request: AuthenticatedHttpRequest, org, project, pset) -> HttpResponse:
    prompt_set = base.prompt_set(request, org, project, pset)
    project = prompt_set.project
    org = project.organisation
    role = policy.role_of(request.user, org)
    prompts = list(prompt_queries.prompts_for(request.user, prompt_set))
    for prompt in prompts:
        prompt.check = prompt_queries.analysis(prompt)
    versions = list(prompt_queries.versions_for(request.user, prompt_set))
    for version in versions:
        version.approval = prompt_queries.approval_of(version)
    approved = [v for v in versions if v.approval]
    newest_approved = approved[0].sequence if approved else 0
    transitions = [dict(t, label=VERB_LABELS.get(t["verb"], t["verb"]))
                   for t in prompt_queries.allowed_transitions(request.user, prompt_set)]
    suggestions = prompt_queries.suggested_labels(prompt_set)
    return page(request, "web/prompt_sets/detail.html", {
        "org": org, "project": project, "prompt_set": prompt_set, "role": role,
        "prompts": prompts, "versions": versions, "transitions": transitions,
        "editable": prompt_set.is_editable,
        "can_edit": policy.allows(role, Action.EDIT_PROMPTS),
        "can_delete": policy.allows(role, Action.DELETE_VERSIONED),
        "can_approve": policy.allows(role, Action.APPROVE),
        "publish_reason": dist_queries.publish_refusal(request.user, prompt_set),
        "approved_versions": approved,  # the publish form offers these, the newest approved first
        "unapproved_newer": [v.label for v in versions if not v.approval and v.sequence > newest_approved],
        "published": dist_queries.published_version_of(prompt_set),
        "next_label": suggestions[0][1] if suggestions else "",
        "rollback_form": RollbackForm(),
    }, crumbs=crumbs(org, project, prompt_set))


@web_view
def edit(request: AuthenticatedHttpRequest, org, project, pset) -> HttpResponse:
    prompt_set = base.prompt_set(request, org, project, pset)
    project = prompt_set.project
    org = project.organisation
    form = PromptSetForm(request.POST or None, initial={
        "name": prompt_set.name, "slug": prompt_set.slug, "description": prompt_set.description,
        "metadata": prompt_set.metadata})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        ok, saved = attempt(request, lambda: prompt_services.update_prompt_set(
            request.user, prompt_set, name=data["name"], slug=data["slug"] or None, description=data["description"],
            metadata=data["metadata"] if data["metadata"] is not None else {}), form)
        if ok:
            messages.success(request, "Prompt set saved.")
            return redirect(url_for(saved))
        prompt_set.refresh_from_db()
    return page(request, "web/prompt_sets/form.html", {
        "org": org, "project": project, "prompt_set": prompt_set, "form": form, "creating": False,
    }, crumbs=crumbs(org, project, prompt_set, None, "Edit"))


@web_view
def delete(request: AuthenticatedHttpRequest, org, project, pset) -> HttpResponse:
    prompt_set = base.prompt_set(request, org, project, pset)
    project = prompt_set.project
    org = project.organisation
    form = ConfirmForm(request.POST or None, expected=prompt_set.slug)
    if request.method == "POST" and form.is_valid():
        name = prompt_set.name
        ok, _ = attempt(request, lambda: prompt_services.delete_prompt_set(request.user, prompt_set), form)
        if ok:
            messages.success(request, f"Prompt set {name} deleted, with its prompts and versions.")
            return redirect(url_for(project))
    return page(request, "web/prompt_sets/delete.html", {
        "org": org, "project": project, "prompt_set": prompt_set, "form": form,
        "prompts": prompt_queries.prompts_for(request.user, prompt_set),
        "version_count": prompt_queries.versions_for(request.user, prompt_set).count(),
        "can_delete": policy.can(request.user, Action.DELETE_VERSIONED, org),
    }, crumbs=crumbs(org, project, prompt_set, None, "Delete"))


@require_POST
@web_view
def change_status(request: AuthenticatedHttpRequest, org, project, pset) -> HttpResponse:
    prompt_set = base.prompt_set(request, org, project, pset)
    target = request.POST.get("to", "")
    before = prompt_set.status
    ok, changed = attempt(request, lambda: prompt_services.change_status(request.user, prompt_set, target))
    if ok:
        verb = prompt_queries.TRANSITIONS[(prompt_queries.Status(before), prompt_queries.Status(target))][1]
        messages.success(request, f"{changed.name} {VERB_DONE.get(verb, 'changed')}.")
    return redirect(url_for(prompt_set))


@require_POST
@web_view
def add_missing(request: AuthenticatedHttpRequest, org, project, pset, prompt) -> HttpResponse:
    found = base.prompt(request, org, project, pset, prompt)
    ok, added = attempt(request, lambda: prompt_services.add_missing_parameters(request.user, found))
    if ok:
        if added:
            messages.success(request, f"Declared {', '.join(added)} in {found.name} (typed string).")
        else:
            messages.info(request, f"{found.name} already declares every parameter it uses.")
    return redirect(url_for(found.prompt_set))
