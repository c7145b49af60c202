"""Reads for projects, prompt sets, prompts and versions, limited to what the user may see.

Anything outside the user's organisations raises NotFound, exactly like
something that does not exist.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError

from anvil_client import templates as tpl
from anvil_client import versions as semver_rules

from anvil_forge.core.errors import NotFound, ValidationError
from anvil_forge.orgs.queries import organisations_for

from .diff import diff_snapshots
from .models import Project, Prompt, PromptSet, Version
from .snapshots import build_snapshot


def _visible(user, model, path: str):
    return model.objects.filter(**{f"{path}__in": organisations_for(user)})


def projects_for(user, organisation=None):
    qs = _visible(user, Project, "organisation").select_related("organisation")
    if organisation is not None:
        qs = qs.filter(organisation=organisation)
    return qs.order_by("organisation__name", "name")


def _get(qs, pk, what: str):
    try:
        obj = qs.filter(pk=pk).first()
    except (ValueError, TypeError, DjangoValidationError):  # a malformed id is simply not found
        obj = None
    if obj is None:
        raise NotFound(f"{what} not found")
    return obj


def get_project(user, pk) -> Project:
    return _get(projects_for(user), pk, "project")


def prompt_sets_for(user, project=None):
    qs = _visible(user, PromptSet, "project__organisation").select_related("project__organisation")
    if project is not None:
        qs = qs.filter(project=project)
    return qs.order_by("name")


def get_prompt_set(user, pk) -> PromptSet:
    return _get(prompt_sets_for(user), pk, "prompt set")


def prompts_for(user, prompt_set=None):
    qs = _visible(user, Prompt, "prompt_set__project__organisation").select_related("prompt_set__project__organisation")
    if prompt_set is not None:
        qs = qs.filter(prompt_set=prompt_set)
    return qs.order_by("name")


def get_prompt(user, pk) -> Prompt:
    return _get(prompts_for(user), pk, "prompt")


def versions_for(user, prompt_set=None):
    qs = _visible(user, Version, "prompt_set__project__organisation").select_related(
        "prompt_set__project__organisation", "created_by"
    )
    if prompt_set is not None:
        qs = qs.filter(prompt_set=prompt_set)
    return qs.order_by("-sequence")


def get_version(user, pk) -> Version:
    return _get(versions_for(user), pk, "version")


def get_version_by_label(user, prompt_set, label: str) -> Version:
    version = versions_for(user, prompt_set).filter(label=label).first()
    if version is None:
        raise NotFound(f"prompt set '{prompt_set.slug}' has no version {label!r}")
    return version


def select_version(prompt_set: PromptSet, specifier: str) -> Version:
    """The version of a set a specifier picks (exact, latest, stable, ^, ~, ranges)."""
    try:
        spec = semver_rules.parse_specifier(specifier)
    except semver_rules.VersionError as exc:
        raise ValidationError.field("version", str(exc)) from None
    labels = list(prompt_set.versions.values_list("label", flat=True))
    label = spec.select(labels)
    if label is None:
        raise NotFound(
            f"no version of '{prompt_set.slug}' matches {specifier!r}"
            + (f" (versions: {', '.join(sorted(labels, key=semver_rules.sort_key))})" if labels else " (it has no versions)"),
            [{"field": "version", "message": "no matching version"}],
        )
    return prompt_set.versions.get(label=label)


def analysis(prompt: Prompt) -> dict:
    """Variables the template reads, and the parameter check (missing / unused / matched)."""
    try:
        check = tpl.check_parameters(prompt.template, tpl.parse_parameters(prompt.parameters))
    except tpl.TemplateError as exc:
        return {"valid": False, "error": str(exc), "variables": [], "missing": [], "unused": [], "matched": []}
    return {
        "valid": True, "error": None, "variables": tpl.variables(prompt.template),
        "missing": check.missing, "unused": check.unused, "matched": check.matched,
    }


def diff(user, prompt_set: PromptSet, from_label: str, to_label: str | None = None) -> dict:
    """Structured diff from one version to another, or to the working copy when ``to_label`` is None."""
    old = get_version_by_label(user, prompt_set, from_label).snapshot
    new = build_snapshot(prompt_set) if to_label is None else get_version_by_label(user, prompt_set, to_label).snapshot
    result = diff_snapshots(old, new)
    result["from"], result["to"] = from_label, to_label
    return result
