"""Projects: the list (cards with counts), create, the project page, edit, delete."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect

from anvil_forge.orgs import policy
from anvil_forge.orgs.policy import Action
from anvil_forge.peering import queries as peering_queries
from anvil_forge.prompts import queries as prompt_queries
from anvil_forge.prompts import services as prompt_services

from ..current import current_organisation
from ..forms import ConfirmForm, ProjectForm, ProjectSettingsForm
from ..links import url_for
from . import base, distribution
from .base import AuthenticatedHttpRequest, attempt, crumbs, page, web_view


@web_view
def current(request: AuthenticatedHttpRequest) -> HttpResponse:
    """``/projects/``: the projects of the current organisation."""
    org = current_organisation(request)
    if org is None:
        return redirect("web:orgs")
    return redirect(url_for(org))


@web_view
def project_list(request: AuthenticatedHttpRequest, org) -> HttpResponse:
    org = base.organisation(request, org)
    return page(request, "web/projects/list.html", {
        "org": org,
        "projects": prompt_queries.projects_overview(request.user, org),
        "links": peering_queries.links_for(request.user, org),  # connected remote projects (peering)
        "can_manage": policy.can(request.user, Action.MANAGE_PROJECTS, org),
    }, crumbs=crumbs(org, None, None, None, "Projects"))


@web_view
def create(request: AuthenticatedHttpRequest, org) -> HttpResponse:
    org = base.organisation(request, org)
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        ok, project = attempt(request, lambda: prompt_services.create_project(
            request.user, org, data["name"], data["slug"] or None, data["description"]), form)
        if ok:
            messages.success(request, f"Project {project.name} created.")
            return redirect(url_for(project))
    return page(request, "web/projects/form.html", {
        "org": org, "form": form, "creating": True,
        "can_manage": policy.can(request.user, Action.MANAGE_PROJECTS, org),
    }, crumbs=crumbs(org, None, None, None, "New project"))


@web_view
def detail(request: AuthenticatedHttpRequest, org, project) -> HttpResponse:
    project = base.project(request, org, project)
    org = project.organisation
    return page(request, "web/projects/detail.html", {
        "org": org, "project": project,
        "prompt_sets": prompt_queries.prompt_sets_overview(request.user, project),
        "can_manage": policy.can(request.user, Action.MANAGE_PROJECTS, org),
        "can_edit_prompts": policy.can(request.user, Action.EDIT_PROMPTS, org),
        "new_token": request.session.pop("anvil_new_token", None),
        **distribution.project_context(request.user, project),
    }, crumbs=crumbs(org, project))


@web_view
def edit(request: AuthenticatedHttpRequest, org, project) -> HttpResponse:
    project = base.project(request, org, project)
    org = project.organisation
    form = ProjectSettingsForm(request.POST or None, initial={
        "name": project.name, "slug": project.slug, "description": project.description,
        "tests_gate": project.tests_gate})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        ok, saved = attempt(request, lambda: prompt_services.update_project(
            request.user, project, name=data["name"], slug=data["slug"] or None, description=data["description"],
            tests_gate=data["tests_gate"]), form)
        if ok:
            messages.success(request, "Project saved.")
            return redirect(url_for(saved))
        project.refresh_from_db()
    return page(request, "web/projects/form.html", {
        "org": org, "project": project, "form": form, "creating": False,
        "can_manage": policy.can(request.user, Action.MANAGE_PROJECTS, org),
    }, crumbs=crumbs(org, project, None, None, "Edit"))


@web_view
def delete(request: AuthenticatedHttpRequest, org, project) -> HttpResponse:
    project = base.project(request, org, project)
    org = project.organisation
    form = ConfirmForm(request.POST or None, expected=project.slug)
    if request.method == "POST" and form.is_valid():
        name = project.name
        ok, _ = attempt(request, lambda: prompt_services.delete_project(request.user, project), form)
        if ok:
            messages.success(request, f"Project {name} and everything in it were deleted.")
            return redirect(url_for(org))
    return page(request, "web/projects/delete.html", {
        "org": org, "project": project, "form": form,
        "contents": prompt_queries.project_contents(request.user, project),
        "can_manage": policy.can(request.user, Action.MANAGE_PROJECTS, org),
    }, crumbs=crumbs(org, project, None, None, "Delete"))
