"""Organisations: list, create, switch, settings, delete; members, invitations, roles; the audit log."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from anvil_forge.audit.queries import events_for_organisation
from anvil_forge.orgs import policy
from anvil_forge.orgs import queries as org_queries
from anvil_forge.orgs import services as org_services
from anvil_forge.orgs.policy import Role
from anvil_forge.orgs.policy import Action
from anvil_forge.prompts import queries as prompt_queries

from ..current import remember
from ..forms import ConfirmForm, InviteForm, OrganisationForm, RoleForm
from ..links import url_for
from . import base
from .base import AuthenticatedHttpRequest, attempt, crumbs, page, safe_next, web_view


@web_view
def org_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    return page(request, "web/orgs/list.html", {"organisations": org_queries.organisations_overview(request.user)},
                crumbs=crumbs(None, None, None, None, "Organisations"))


@web_view
def org_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = OrganisationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        ok, org = attempt(request, lambda: org_services.create_organisation(
            request.user, data["name"], data["slug"] or None, data["description"]), form)
        if ok:
            remember(request, org)
            messages.success(request, f"Organisation {org.name} created. You are its owner.")
            return redirect(url_for(org))
    return page(request, "web/orgs/create.html", {"form": form},
                crumbs=crumbs(None, None, None, None, ("Organisations", reverse("web:orgs")), "New organisation"))


@require_POST
@web_view
def switch(request: AuthenticatedHttpRequest) -> HttpResponse:
    org = base.organisation(request, request.POST.get("organisation", ""))
    messages.info(request, f"Now working in {org.name}.")
    return redirect(safe_next(request, url_for(org)))


def _role(request: HttpRequest, org):
    return policy.role_of(request.user, org)


@web_view
def settings_view(request: AuthenticatedHttpRequest, org) -> HttpResponse:
    org = base.organisation(request, org)
    role = _role(request, org)
    can_edit = policy.allows(role, Action.EDIT_ORGANISATION)
    form = OrganisationForm(request.POST or None, initial={"name": org.name, "slug": org.slug,
                                                           "description": org.description})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        ok, saved = attempt(request, lambda: org_services.update_organisation(
            request.user, org, name=data["name"], slug=data["slug"] or None, description=data["description"]), form)
        if ok:
            messages.success(request, "Organisation settings saved.")
            return redirect("web:org_settings", saved.slug)
        org.refresh_from_db()
    return page(request, "web/orgs/settings.html", {"org": org, "form": form, "role": role, "can_edit": can_edit},
                crumbs=crumbs(org, None, None, None, "Settings"))


@web_view
def delete(request: AuthenticatedHttpRequest, org) -> HttpResponse:
    org = base.organisation(request, org)
    form = ConfirmForm(request.POST or None, expected=org.slug)
    if request.method == "POST" and form.is_valid():
        name = org.name
        ok, _ = attempt(request, lambda: org_services.delete_organisation(request.user, org), form)
        if ok:
            request.session.pop("anvil_organisation", None)
            messages.success(request, f"Organisation {name} deleted.")
            return redirect("web:orgs")
    overview = prompt_queries.projects_overview(request.user, org)
    return page(request, "web/orgs/delete.html", {
        "org": org, "form": form, "projects": overview, "role": _role(request, org),
        "can_edit": policy.can(request.user, Action.EDIT_ORGANISATION, org),
    }, crumbs=crumbs(org, None, None, None, ("Settings", reverse("web:org_settings", args=[org.slug])), "Delete"))


@web_view
def members_view(request: AuthenticatedHttpRequest, org) -> HttpResponse:
    org = base.organisation(request, org)
    role = _role(request, org)
    return page(request, "web/orgs/members.html", {
        "org": org, "role": role,
        "members": org_queries.members(request.user, org),
        "invitations": org_queries.pending_invitations(request.user, org),
        "can_manage": policy.allows(role, Action.MANAGE_MEMBERS),
        "invite_form": InviteForm(),
        "roles": Role.choices,
    }, crumbs=crumbs(org, None, None, None, "Members"))


@require_POST
@web_view
def invite(request: AuthenticatedHttpRequest, org) -> HttpResponse:
    org = base.organisation(request, org)
    form = InviteForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        ok, result = attempt(request, lambda: org_services.invite_member(request.user, org, data["email"], data["role"]),
                             form)
        if ok:
            if result.joined is not None:
                messages.success(request, f"{data['email']} already had an account and joined as {data['role']}.")
            else:
                messages.success(request, f"Invitation sent to {data['email']} (valid for 7 days).")
            return redirect("web:org_members", org.slug)
    role = _role(request, org)
    return page(request, "web/orgs/members.html", {
        "org": org, "role": role, "members": org_queries.members(request.user, org),
        "invitations": org_queries.pending_invitations(request.user, org),
        "can_manage": policy.allows(role, Action.MANAGE_MEMBERS), "invite_form": form, "roles": Role.choices,
    }, crumbs=crumbs(org, None, None, None, "Members"), status=422)


@require_POST
@web_view
def change_role(request: AuthenticatedHttpRequest, org, user_id) -> HttpResponse:
    org = base.organisation(request, org)
    membership = base.lookup(lambda: org_queries.member(request.user, org, user_id))
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the roles owner, admin or member.")
    else:
        ok, changed = attempt(request, lambda: org_services.change_role(
            request.user, org, membership.user, form.cleaned_data["role"]))
        if ok:
            messages.success(request, f"{membership.user.email} is now {changed.role}.")
    return redirect("web:org_members", org.slug)


@web_view
def remove(request: AuthenticatedHttpRequest, org, user_id) -> HttpResponse:
    org = base.organisation(request, org)
    membership = base.lookup(lambda: org_queries.member(request.user, org, user_id))
    leaving = membership.user_id == request.user.pk
    if request.method == "POST":
        ok, _ = attempt(request, lambda: org_services.remove_member(request.user, org, membership.user))
        if ok:
            if leaving:
                request.session.pop("anvil_organisation", None)
                messages.success(request, f"You left {org.name}.")
                return redirect("web:orgs")
            messages.success(request, f"{membership.user.email} was removed from {org.name}.")
        return redirect("web:org_members", org.slug)
    return page(request, "web/orgs/remove.html", {"org": org, "membership": membership, "leaving": leaving},
                crumbs=crumbs(org, None, None, None, ("Members", reverse("web:org_members", args=[org.slug])),
                              "Leave" if leaving else "Remove member"))


@web_view
def audit(request: AuthenticatedHttpRequest, org) -> HttpResponse:
    org = base.organisation(request, org)
    events = events_for_organisation(request.user, org)
    paginator = Paginator(events, 50)
    page_obj = paginator.get_page(request.GET.get("page"))
    return page(request, "web/orgs/audit.html", {"org": org, "page_obj": page_obj},
                crumbs=crumbs(org, None, None, None, "Audit log"))
