"""Prompt sets: the set page (prompts and their tests, status and its actions, dependencies, versions), delete,
status changes.

Creating and editing a set (its settings) is :mod:`.set_settings`'.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from anvil_client import versions as semver_rules

from anvil_forge.distribution import queries as dist_queries
from anvil_forge.orgs import policy
from anvil_forge.orgs.policy import Action
from anvil_forge.prompts import queries as prompt_queries
from anvil_forge.prompts import services as prompt_services

from ..forms import ConfirmForm, RollbackForm
from ..links import url_for
from . import base
from .base import AuthenticatedHttpRequest, attempt, crumbs, page, web_view

VERB_LABELS = {"submit": "Submit for review", "approve": "Approve and lock", "reject": "Reject",
               "unlock": "Unlock"}
REFUSED = "anvil_lock_refused"  # the session key: the failing tests a refused lock named, for the page after
VERB_DONE = {"submit": "submitted for review", "approve": "approved: it is LOCKED now",
             "reject": "sent back to LIVE", "unlock": "unlocked: it is LIVE again"}


@web_view
def detail(request: AuthenticatedHttpRequest, org, project, pset) -> HttpResponse:
    prompt_set = base.prompt_set(request, org, project, pset)
    project = prompt_set.project
    org = project.organisation
    role = policy.role_of(request.user, org)
    prompts = list(prompt_queries.prompts_for(request.user, prompt_set))
    test_status = prompt_queries.test_status_by_prompt(prompt_set)
    for prompt in prompts:
        prompt.check = prompt_queries.analysis(prompt)
        prompt.test_status = test_status.get(prompt.slug)
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
        "published_channels": dist_queries.published_everywhere(prompt_set),
        "channels": dist_queries.channel_list(request.user, project),  # the publish form's channel select
        "next_label": suggestions[0][1] if suggestions else "",
        "rollback_form": RollbackForm(),
        "dependencies": _dependencies(prompt_set, versions[0] if versions else None),
        "tests": _tests_total(test_status), "tests_gate": project.tests_gate,
        "lock_refused": _lock_refused(request, prompt_set, prompts),
    }, crumbs=crumbs(org, project, prompt_set))


def _tests_total(status: dict) -> dict:
    total = sum(s["total"] for s in status.values())
    failed = sum(s["failed"] for s in status.values())
    return {"total": total, "passed": total - failed, "failed": failed}


def _lock_refused(request: AuthenticatedHttpRequest, prompt_set, prompts) -> list[dict]:
    """The failing tests the last refused lock of this set named (once), each linked to its prompt's editor."""
    refused = request.session.get(REFUSED)
    if not refused or refused.get("set") != str(prompt_set.pk):
        return []
    del request.session[REFUSED]
    by_slug = {p.slug: p for p in prompts}
    rows = []
    for name in refused.get("failing", []):
        slug, _, test = str(name).partition(": ")
        prompt = by_slug.get(slug)
        rows.append({"name": name, "test": test or name, "prompt": prompt,
                     "url": url_for(prompt) if prompt is not None else None})
    return rows


def _dependencies(prompt_set, latest) -> list[dict]:
    """Each dependency: what the working copy resolves it to (the lock a new version would record), what the
    latest version locks, the matching versions newer than that lock, and newer ones outside the specifier."""
    locked = (latest.snapshot.get("locks") or {}) if latest is not None else {}
    rows = []
    for row in prompt_queries.dependency_rows(prompt_set):
        current = locked.get(row["slug"])
        since = current or row["resolved"]
        newer = [label for label in row["matching"] if since and semver_rules.compare(label, since) > 0]
        rows.append(dict(row, latest_lock=current, newer_matching=newer))
    return rows


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
    failing: list[str] = []

    def place(field: str, message: str) -> bool:  # a refused lock names each failing test: prompts.<slug>.tests
        if field.startswith("prompts.") and field.endswith(".tests"):
            failing.append(message)
            return True
        return False

    ok, changed = attempt(request, lambda: prompt_services.change_status(request.user, prompt_set, target),
                          None, place)
    if failing:
        request.session[REFUSED] = {"set": str(prompt_set.pk), "failing": failing}
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
