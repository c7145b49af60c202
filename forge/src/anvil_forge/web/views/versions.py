"""Versions: create, the read-only version page, compare (side by side or unified), roll back, approve, delete."""

from __future__ import annotations

import difflib
import re

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from anvil_forge.core.errors import NotFound
from anvil_forge.orgs import policy
from anvil_forge.orgs.policy import Action
from anvil_forge.prompts import queries as prompt_queries
from anvil_forge.prompts import services as prompt_services

from ..forms import RollbackForm, VersionForm
from ..links import url_for
from . import base
from .base import AuthenticatedHttpRequest, attempt, crumbs, page, web_view

WORKING_COPY = "working"


def _version(request: HttpRequest, prompt_set, label: str):
    return base.lookup(lambda: prompt_queries.get_version_by_label(request.user, prompt_set, label))


def _pending_changes(request: HttpRequest, prompt_set, latest):
    """What a new version would hold that the latest does not (None when there is no version yet)."""
    if latest is None:
        return None
    return _present(prompt_queries.diff(request.user, prompt_set, latest.label, None))


@web_view
def create(request: AuthenticatedHttpRequest, org, project, pset) -> HttpResponse:
    prompt_set = base.prompt_set(request, org, project, pset)
    suggestions = prompt_queries.suggested_labels(prompt_set)
    form = VersionForm(request.POST or None, initial={"label": suggestions[0][1] if suggestions else ""})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        ok, version = attempt(request, lambda: prompt_services.create_version(
            request.user, prompt_set, data["label"], data["changelog"]), form)
        if ok:
            messages.success(request, f"Version {version.label} created (#{version.sequence}).")
            return redirect(url_for(prompt_set))
    latest = prompt_queries.versions_for(request.user, prompt_set).first()
    return page(request, "web/versions/create.html", {
        "prompt_set": prompt_set, "form": form, "suggestions": suggestions, "latest": latest,
        "changes": _pending_changes(request, prompt_set, latest),
    }, crumbs=crumbs(prompt_set.project.organisation, prompt_set.project, prompt_set, None, "New version"))


@web_view
def detail(request: AuthenticatedHttpRequest, org, project, pset, label) -> HttpResponse:
    prompt_set = base.prompt_set(request, org, project, pset)
    version = _version(request, prompt_set, label)
    others = [v for v in prompt_queries.versions_for(request.user, prompt_set) if v.pk != version.pk]
    snapshot = version.snapshot
    prompts = sorted(snapshot.get("prompts", {}).items())
    org_obj = prompt_set.project.organisation
    dependencies = snapshot.get("dependencies") or {}
    return page(request, "web/versions/detail.html", {
        "prompt_set": prompt_set, "version": version, "others": others, "prompts": prompts,
        "metadata": snapshot.get("metadata") or {}, "config": snapshot.get("config") or {},
        "locks": [{"slug": slug, "label": label, "specifier": dependencies.get(slug, "")}
                  for slug, label in sorted((snapshot.get("locks") or {}).items())],
        "unlocked": sorted(set(dependencies) - set(snapshot.get("locks") or {})),
        "can_delete": policy.can(request.user, Action.DELETE_VERSIONED, org_obj) and not version.first_published_at,
        "can_rollback": policy.can(request.user, Action.EDIT_PROMPTS, org_obj),
        "can_approve": policy.can(request.user, Action.APPROVE, org_obj),
        "approval": prompt_queries.approval_of(version),
        "test_results": version.test_results,  # what its tests gave when it was made (None: no tests then)
        "tests_by_prompt": (version.test_results or {}).get("prompts") or {},
        "rollback_form": RollbackForm(initial={"to": version.label,
                                               "label": (prompt_queries.suggested_labels(prompt_set) or [("", "")])[0][1]}),
    }, crumbs=crumbs(org_obj, prompt_set.project, prompt_set, None, f"Version {version.label}"))


_TOKENS = re.compile(r"\w+|\s+|[^\w\s]")


def _inline(old: str, new: str) -> tuple[list, list]:
    """Word-level segments [(text, changed)] of a removed line and the added line facing it."""
    a, b = _TOKENS.findall(old), _TOKENS.findall(new)
    left, right = [], []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if i2 > i1:
            left.append(("".join(a[i1:i2]), tag != "equal"))
        if j2 > j1:
            right.append(("".join(b[j1:j2]), tag != "equal"))
    return left, right


def _rows(text_diff: dict | None) -> list:
    """Two-column rows of a text diff for the side-by-side view, the changed words of each changed line
    marked (also on the diff's own lines, for the unified view)."""
    if not text_diff:
        return []
    rows = prompt_queries.side_by_side(text_diff["lines"])
    marked = {}
    for left, right in rows:
        if left and right and left["op"] == "remove" and right["op"] == "add":
            left["segments"], right["segments"] = _inline(left["text"], right["text"])
            marked[("remove", left["no"])] = left["segments"]
            marked[("add", right["no"])] = right["segments"]
    for line in text_diff["lines"]:
        key = ("remove", line["old_no"]) if line["op"] == "remove" else ("add", line["new_no"])
        if key in marked:
            line["segments"] = marked[key]
    return rows


SET_PARTS = ("config", "dependencies", "locks")


def _present(result: dict) -> dict:
    """The diff with what the templates need: side-by-side rows for every changed template and message
    content, and the names of the set's changed parts."""
    for change in result["prompts"]["changed"]:
        change["rows"] = _rows(change.get("template"))
        change["caption"] = f"Template of {change['slug']}"
        change["test_rows"] = _rows(change.get("tests"))
        for op in (change.get("messages") or {}).get("ops", []):
            if op["op"] == "change":
                op["rows"] = _rows(op.get("content"))
                op["caption"] = f"Content of messages[{op['new_index']}] of {change['slug']}"
        change["config_changed"] = any((change.get("config") or {}).values())
    result["set"]["changes"] = (list(result["set"]["changed_fields"])
                                + [part for part in SET_PARTS if any((result["set"].get(part) or {}).values())])
    return result


@web_view
def compare(request: AuthenticatedHttpRequest, org, project, pset) -> HttpResponse:
    prompt_set = base.prompt_set(request, org, project, pset)
    versions = list(prompt_queries.versions_for(request.user, prompt_set))
    labels = [v.label for v in versions]
    old = request.GET.get("from") or (labels[1] if len(labels) > 1 else (labels[0] if labels else ""))
    new = request.GET.get("to") or (labels[0] if len(labels) > 1 else WORKING_COPY)
    view = "unified" if request.GET.get("view") == "unified" else "split"
    result, error = None, None
    if not labels:
        error = "This prompt set has no versions yet: create one to compare it with the working copy."
    elif old == WORKING_COPY:
        error = "Pick a version on the left: the working copy can only be the newer side."
    else:
        try:
            result = _present(prompt_queries.diff(request.user, prompt_set, old, None if new == WORKING_COPY else new))
        except NotFound as exc:  # a label typed into the address bar: say which, on the page
            error = f"{exc.message[:1].upper()}{exc.message[1:]}: pick versions from the lists."
    return page(request, "web/versions/compare.html", {
        "prompt_set": prompt_set, "versions": versions, "old": old, "new": new, "view": view,
        "result": result, "error": error, "working": WORKING_COPY,
    }, crumbs=crumbs(prompt_set.project.organisation, prompt_set.project, prompt_set, None, "Compare"))


@require_POST
@web_view
def rollback(request: AuthenticatedHttpRequest, org, project, pset) -> HttpResponse:
    prompt_set = base.prompt_set(request, org, project, pset)
    form = RollbackForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the label of the new version.")
        return redirect(url_for(prompt_set))
    data = form.cleaned_data
    ok, version = attempt(request, lambda: prompt_services.rollback(
        request.user, prompt_set, data["to"], data["label"], data["changelog"] or None))
    if ok:
        messages.success(request, f"Version {version.label} created with the content of {data['to']}. "
                                  "The working copy is unchanged.")
        return redirect(url_for(prompt_set))
    return redirect(reverse("web:version", args=[prompt_set.project.organisation.slug, prompt_set.project.slug,
                                                 prompt_set.slug, data["to"]]))


@web_view
def delete(request: AuthenticatedHttpRequest, org, project, pset, label) -> HttpResponse:
    prompt_set = base.prompt_set(request, org, project, pset)
    version = _version(request, prompt_set, label)
    if request.method == "POST":
        ok, _ = attempt(request, lambda: prompt_services.delete_version(request.user, version))
        if ok:
            messages.success(request, f"Version {label} deleted.")
            return redirect(url_for(prompt_set))
        return redirect(url_for(version))
    return page(request, "web/versions/delete.html", {"prompt_set": prompt_set, "version": version},
                crumbs=crumbs(prompt_set.project.organisation, prompt_set.project, prompt_set, None,
                              (f"Version {label}", url_for(version)), "Delete"))


@require_POST
@web_view
def approve(request: AuthenticatedHttpRequest, org, project, pset, label) -> HttpResponse:
    prompt_set = base.prompt_set(request, org, project, pset)
    version = _version(request, prompt_set, label)
    ok, _ = attempt(request, lambda: prompt_services.approve_version(request.user, version))
    if ok:
        messages.success(request, f"Version {label} approved: it can be published.")
    return redirect(url_for(prompt_set) if request.POST.get("next") == "set" else url_for(version))
