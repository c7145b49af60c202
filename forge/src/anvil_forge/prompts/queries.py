"""Reads for projects, prompt sets, prompts and versions, limited to what the user may see.

Anything outside the user's organisations raises NotFound, exactly like
something that does not exist.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Count

from anvil_client import composition as composition_shared
from anvil_client import model_config
from anvil_client import templates as tpl
from anvil_client import versions as semver_rules

from anvil_forge.core.counts import count_of, last_updated, latest_of
from anvil_forge.core.errors import NotFound
from anvil_forge.core.fuzzy import rank
from anvil_forge.orgs import policy
from anvil_forge.orgs.queries import organisations_for, role_subquery

from . import approvals, composition, snapshots, sources, testresults, validation
from .composition import dependency_rows as dependency_rows  # the set page's dependencies panel
from .diff import diff_snapshots
from .diff import side_by_side as side_by_side  # for the web diff view
from .models import Approval, Project, Prompt, PromptSet, Version
from .models import Status as Status  # handed out with the sets
from .rendering import render_address as render_address  # rendering is a read: the face offers it
from .rendering import as_text as as_text
from .rendering import render_draft as render_draft
from .rendering import render_prompt as render_prompt
from .rendering import render_resolved as render_resolved
from .resolver import select_version as select_version
from .transitions import TRANSITIONS as TRANSITIONS  # the status changes, for the UI's labels

# Sources: a set as prompt files hold it (pull, diff, push; docs/prompts-as-code.md).
source_document = sources.document
source_etag = sources.etag
# Test results (docs/prompt-tests.md): the editor's checks panel, the set page's column, the API.
draft_test_results = testresults.for_draft
draft_test_snapshots = testresults.draft_snapshots  # the editor's *Update snapshots*, before a save
prompt_test_results = testresults.for_prompt
working_test_results = testresults.for_working_copy
test_status_by_prompt = testresults.status_by_prompt
failing_tests = testresults.failing
test_summary = testresults.summary  # the counts a bundle carries for a set version
check_tests = validation.check_tests  # the editor's live check: canonical tests, or errors naming the path


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
    ).prefetch_related("prompt_set__approvals__approved_by", "prompt_set__approvals__version")
    if prompt_set is not None:
        qs = qs.filter(prompt_set=prompt_set)
    return qs.order_by("-sequence")


def approval_of(version: Version) -> Approval | None:
    """The approval that makes this version publishable (its content was approved), or None."""
    return approvals.approval_of(version)


def approved_versions(prompt_set: PromptSet) -> list[Version]:
    """The set's publishable versions, newest first: those whose content an approver approved."""
    digests = set(prompt_set.approvals.values_list("digest", flat=True))
    return [v for v in prompt_set.versions.order_by("-sequence") if approvals.content_digest(v.snapshot) in digests]


def locked_versions(project_id, snapshots: list[dict]) -> list[Version]:
    """The versions these snapshots lock, transitively: the partials a bundle must carry."""
    return composition.locked_versions(project_id, snapshots)


def unapproved_locks(version: Version) -> list[str]:
    """``set@label`` of the versions this version locks (transitively) whose content no approver approved:
    publishing would ship unapproved text through a partial."""
    return [f"{v.prompt_set.slug}@{v.label}" for v in composition.locked_versions(version.prompt_set.project_id,
                                                                                   [version.snapshot])
            if approvals.approval_of(v) is None]


def get_version(user, pk) -> Version:
    return _get(versions_for(user), pk, "version")


def get_version_by_label(user, prompt_set, label: str) -> Version:
    version = versions_for(user, prompt_set).filter(label=label).first()
    if version is None:
        raise NotFound(f"prompt set '{prompt_set.slug}' has no version {label!r}")
    return version


def analysis(prompt: Prompt) -> dict:
    """Variables the template (or the chat prompt's messages) read, the parameter check (missing / unused /
    matched), the partials it renders and what would fail in them."""
    empty: dict[str, Any] = {"variables": [], "missing": [], "unused": [], "matched": [], "partials": [],
                             "placeholders": [], "problems": []}
    try:
        prepared = composition_shared.prepare_document(snapshots.prompt_snapshot(prompt))
    except tpl.TemplateError as exc:
        return {"valid": False, "error": str(exc), **empty}
    names = _read(prepared)
    check = _check(names, [p.name for p in prepared.parameters])
    return {
        "valid": True, "error": None, "variables": list(names),
        "missing": check.missing, "unused": check.unused, "matched": check.matched,
        "partials": _partials(prepared),
        "placeholders": prepared.placeholders if isinstance(prepared, tpl.PreparedChat) else [],
        # (a prompt without partials has no partial problems: no need to read the rest of the set)
        "problems": ([str(p) for p in composition.problems(prompt.prompt_set, [prompt.slug])]
                     if composition_shared.references(prepared) else []),
    }


def _read(prepared) -> list[str]:
    return prepared.variables if isinstance(prepared, tpl.PreparedChat) else prepared.template.variables


def _check(used_names, declared) -> tpl.ParameterCheck:
    used, names = set(used_names), set(declared)
    return tpl.ParameterCheck(missing=sorted(used - names), unused=sorted(names - used), matched=sorted(used & names))


def _partials(prepared) -> list[dict]:
    return [{"name": ref.name, "arguments": list(ref.arguments), "line": ref.line, "column": ref.column,
             "message_index": index} for index, ref in composition_shared.references(prepared)]


def diff(user, prompt_set: PromptSet, from_label: str, to_label: str | None = None) -> dict:
    """Structured diff from one version to another, or to the working copy when ``to_label`` is None."""
    old = get_version_by_label(user, prompt_set, from_label).snapshot
    new = (composition.working_snapshot(prompt_set) if to_label is None
           else get_version_by_label(user, prompt_set, to_label).snapshot)
    result = diff_snapshots(old, new)
    result["from"], result["to"] = from_label, to_label
    return result


# --- the web UI: lookups by slug, overviews, search ---------------------------------

def _by_slug(queryset, slug: str, what: str):
    found = queryset.filter(slug=slug).first()
    if found is None:
        raise NotFound(f"{what} not found")
    return found


def get_project_by_slug(user, organisation, slug: str) -> Project:
    return _by_slug(projects_for(user, organisation), slug, "project")


def get_prompt_set_by_slug(user, project, slug: str) -> PromptSet:
    return _by_slug(prompt_sets_for(user, project), slug, "prompt set")


def get_prompt_by_slug(user, prompt_set, slug: str) -> Prompt:
    return _by_slug(prompts_for(user, prompt_set), slug, "prompt")


def projects_overview(user, organisation):
    """Projects of an organisation with how many prompt sets, prompts and versions each holds."""
    return projects_for(user, organisation).annotate(
        prompt_set_count=count_of(PromptSet.objects.all(), "project"),
        prompt_count=count_of(Prompt.objects.all(), "prompt_set__project"),
        version_count=count_of(Version.objects.all(), "prompt_set__project"),
    ).order_by("name")


def prompt_sets_overview(user, project):
    """Prompt sets of a project with their prompt and version counts and latest version label."""
    from django.db.models import OuterRef, Subquery

    latest = Version.objects.filter(prompt_set=OuterRef("pk")).order_by("-sequence").values("label")[:1]
    return prompt_sets_for(user, project).annotate(
        prompt_count=count_of(Prompt.objects.all(), "prompt_set"),
        version_count=count_of(Version.objects.all(), "prompt_set"),
        latest_label=Subquery(latest),
    ).order_by("name")


def project_contents(user, project) -> dict:
    """What deleting a project would take with it (the confirmation page names it)."""
    sets = list(prompt_sets_overview(user, project))
    return {
        "prompt_sets": sets,
        "prompt_set_count": len(sets),
        "prompt_count": sum(s.prompt_count for s in sets),
        "version_count": sum(s.version_count for s in sets),
    }


def counts(user, organisation) -> dict:
    """The dashboard's numbers for one organisation."""
    sets = prompt_sets_for(user).filter(project__organisation=organisation)
    return {
        "projects": projects_for(user, organisation).count(),
        "prompt_sets": sets.count(),
        "prompts": prompts_for(user).filter(prompt_set__project__organisation=organisation).count(),
        "versions": versions_for(user).filter(prompt_set__project__organisation=organisation).count(),
        "in_review": sets.filter(status=Status.REVIEW).count(),
        "locked": sets.filter(status=Status.LOCKED).count(),
        # distribution's instances hang off projects: counted through the reverse relation, no import of it
        "live_instances": projects_for(user, organisation).aggregate(n=Count("live_instances"))["n"],
    }


def allowed_transitions(user, prompt_set) -> list[dict]:
    """The status changes this user may make on the set now: [{"to": status, "verb": "approve"}, …]."""
    role = policy.role_of(user, prompt_set.project.organisation)
    return [
        {"to": target.value, "verb": verb}
        for (source, target), (action, verb) in TRANSITIONS.items()
        if source == prompt_set.status and policy.allows(role, action)
    ]


def suggested_labels(prompt_set) -> list[tuple[str, str]]:
    """Labels that would be accepted for the next version: [("patch", "1.2.1"), ("minor", …), ("major", …)]."""
    latest = prompt_set.versions.order_by("-sequence").values_list("label", flat=True).first()
    if latest is None:
        return [("first", "0.1.0"), ("first stable", "1.0.0")]
    current = semver_rules.parse_label(latest)
    suggestions = []
    if current.prerelease:
        suggestions.append(("release", str(current.finalize_version())))
        suggestions.append(("next pre-release", str(current.replace(build=None).bump_prerelease())))
    else:
        suggestions.append(("patch", str(current.bump_patch())))
    suggestions.append(("minor", str(current.bump_minor())))
    suggestions.append(("major", str(current.bump_major())))
    seen, unique = set(), []
    for kind, label in suggestions:
        if label not in seen:
            seen.add(label)
            unique.append((kind, label))
    return unique


def check_draft(template: str, parameters: list, *, kind: str = "text", messages: list | None = None,
                config: dict | None = None, prompt_set: PromptSet | None = None, slug: str | None = None) -> dict:
    """Syntax, parameter, configuration and partial checks of unsaved content (the editor's live checks).

    ``syntax`` is None or {"message", "line", "column", "message_index"}; ``message_errors`` maps a chat
    message's index to what is wrong with it; ``parameter_errors`` maps a parameter name ("" when unknown)
    to what is wrong with its declaration; ``config_errors`` lists {"key", "message"}; the parameter check
    compares the declared names with the variables the content reads; ``problems`` are partials that
    would fail (checked against the set's working copy when ``prompt_set`` and ``slug`` are given).
    """
    result: dict[str, Any] = {"syntax": None, "variables": [], "missing": [], "unused": [], "matched": [],
                              "parameter_errors": {}, "message_errors": {}, "config_errors": [],
                              "partials": [], "placeholders": [], "problems": []}
    names = []
    valid_parameters = []
    for item in parameters or []:
        try:
            parameter = tpl.Parameter.from_dict(item)
            names.append(parameter.name)
            valid_parameters.append(parameter)
        except tpl.ParameterDefinitionError as exc:
            result["parameter_errors"].setdefault(exc.parameter or "", str(exc))
            if isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"]:
                names.append(item["name"])
    seen = set()
    for name in names:
        if name in seen:
            result["parameter_errors"].setdefault(name, f"parameter '{name}' is declared more than once")
        seen.add(name)
    if isinstance(config, dict):
        to_check = {k: v for k, v in config.items() if v is not None}
        result["config_errors"] = [{"key": e.key, "message": str(e)}
                                   for e in model_config.check_config_all(to_check)]
    elif config is not None:
        result["config_errors"] = [{"key": "", "message": "the configuration must be a JSON object"}]
    unique = list({p.name: p for p in valid_parameters}.values())
    draft: dict[str, Any] = {"kind": kind, "template": template or "", "messages": messages or [],
                             "parameters": [p.to_dict() for p in unique]}
    try:
        prepared = composition_shared.prepare_document(draft)
    except tpl.MessageDefinitionError as exc:
        if exc.index is not None:
            result["message_errors"][exc.index] = str(exc)
        result["syntax"] = {"message": str(exc), "line": None, "column": None, "message_index": exc.index}
        return result
    except tpl.TemplateSyntaxError as exc:
        result["syntax"] = {"message": str(exc), "line": exc.line, "column": exc.column,
                            "message_index": exc.message_index}
        if exc.message_index is not None:
            result["message_errors"][exc.message_index] = str(exc)
        return result
    except tpl.TemplateError as exc:
        result["syntax"] = {"message": str(exc), "line": None, "column": None, "message_index": exc.message_index}
        return result
    variables = _read(prepared)
    check = _check(variables, names)
    result.update(variables=list(variables), missing=check.missing, unused=check.unused, matched=check.matched,
                  partials=_partials(prepared),
                  placeholders=prepared.placeholders if isinstance(prepared, tpl.PreparedChat) else [])
    if prompt_set is not None and slug:
        library, origin = composition.library_for(prompt_set)
        prompts = dict(origin.prompts)
        prompts[slug] = draft
        draft_origin = composition_shared.SetVersion(origin.slug, "(draft)", prompts, origin.locks)
        library.add(draft_origin)
        result["problems"] = [str(p) for p in library.problems(draft_origin, slug)]
    return result


def search(user, text: str, limit: int = 20) -> list[dict]:
    """Fuzzy search across the projects, prompt sets and prompts the user may see (the command palette).

    Each hit is {"kind": "project"|"prompt_set"|"prompt", "name", "path", "organisation",
    "project", "prompt_set", "prompt", "status"}; ``path`` is the slug address
    (``org/project/set/prompt``). Best matches first.
    """
    cap = 5000  # enough for any real organisation; keeps a palette query cheap
    hits = []
    for org, project, name in projects_for(user).values_list("organisation__slug", "slug", "name")[:cap]:
        hits.append({"kind": "project", "name": name, "path": f"{org}/{project}", "organisation": org,
                     "project": project, "prompt_set": None, "prompt": None, "status": None})
    for org, project, slug, name, status in prompt_sets_for(user).values_list(
            "project__organisation__slug", "project__slug", "slug", "name", "status")[:cap]:
        hits.append({"kind": "prompt_set", "name": name, "path": f"{org}/{project}/{slug}", "organisation": org,
                     "project": project, "prompt_set": slug, "prompt": None, "status": status})
    for org, project, pset, slug, name in prompts_for(user).values_list(
            "prompt_set__project__organisation__slug", "prompt_set__project__slug", "prompt_set__slug",
            "slug", "name")[:cap]:
        hits.append({"kind": "prompt", "name": name, "path": f"{org}/{project}/{pset}/{slug}", "organisation": org,
                     "project": project, "prompt_set": pset, "prompt": slug, "status": None})
    if not (text or "").strip():
        return hits[:limit]
    return rank(text, hits, key=lambda hit: f"{hit['name']} {hit['path']}", limit=limit)


# --- what peers browse (peering.queries hands these out) ----------------------------------------------

def organisations_activity(user, organisations):
    """``organisations`` with ``role``, ``project_count`` and ``last_updated_at`` (newest change inside)."""
    return organisations.annotate(
        role=role_subquery(user),
        project_count=count_of(Project.objects.all(), "organisation"),
        last_updated_at=last_updated(
            "updated_at",
            latest_of(Project.objects.all(), "organisation", "updated_at"),
            latest_of(PromptSet.objects.all(), "project__organisation", "updated_at"),
            latest_of(Prompt.objects.all(), "prompt_set__project__organisation", "updated_at"),
            latest_of(Version.objects.all(), "prompt_set__project__organisation", "created_at"),
        ),
    )


def projects_activity(user, organisation):
    """An organisation's projects with prompt-set, prompt and version counts and ``last_updated_at``."""
    policy.require(user, policy.Action.VIEW, organisation)
    return projects_overview(user, organisation).annotate(
        last_updated_at=last_updated(
            "updated_at",
            latest_of(PromptSet.objects.all(), "project", "updated_at"),
            latest_of(Prompt.objects.all(), "prompt_set__project", "updated_at"),
            latest_of(Version.objects.all(), "prompt_set__project", "created_at"),
        ),
    )


def sets_with_prompts_and_versions(project):
    """The project's prompt sets by name, each with its prompts and versions prefetched (peers' detail)."""
    return project.prompt_sets.order_by("name").prefetch_related("prompts", "versions")


def all_projects():
    """Every project, for the operator's commands (no user to limit what is seen)."""
    return Project.objects.select_related("organisation")


def sets_in_review(user, organisation) -> list:
    """The organisation's prompt sets waiting for approval (the dashboard), by name."""
    return list(prompt_sets_for(user).filter(project__organisation=organisation, status=Status.REVIEW)
                .select_related("project__organisation").order_by("name"))


def set_slugs(prompt_set_ids) -> list[str]:
    """The slugs of these prompt sets, sorted."""
    return sorted(PromptSet.objects.filter(pk__in=list(prompt_set_ids)).values_list("slug", flat=True))


def versions_by_id(version_ids):
    """The versions with these ids (any project: distribution builds a release's bundle from its ids)."""
    return Version.objects.filter(pk__in=list(version_ids))
