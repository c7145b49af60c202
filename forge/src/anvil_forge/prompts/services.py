"""Writes for projects, prompt sets, prompts and versions.

Every function takes the acting user, checks ``orgs.policy``, runs in one
transaction and records an audit event. A prompt set that is not LIVE refuses
every edit to itself or its prompts here, whoever asks (and the database
refuses it too, see migration 0002).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.utils import timezone

from anvil_client import templates as tpl
from anvil_client import testcases

from anvil_forge.audit.services import record
from anvil_forge.core.errors import Conflict, NotFound, ValidationError
from anvil_forge.core.slugs import check_slug, make_slug
from anvil_forge.orgs import policy
from anvil_forge.orgs.policy import Action

from . import approvals, composition, imports, source_writes, testresults, version_writes
from .models import ApprovalSource, Kind, Project, Prompt, PromptSet, Status, Version
from .transitions import TRANSITIONS
from .validation import (
    check_config, check_kind, check_messages, check_metadata, check_name, check_parameters, check_template,
    check_tests,
)

if TYPE_CHECKING:  # annotations only: accounts.models is not imported by other apps at run time
    from anvil_forge.accounts.models import User

# Set while replace_source saves a set's prompts one by one: partials are checked once, over the whole set,
# after the last (a new prompt may render another new one).
_whole_set_checked: ContextVar[bool] = ContextVar("whole_set_checked", default=False)



def _unique(model, scope: dict, field: str, value: str, exclude=None, label: str = "") -> None:
    clash = model.objects.filter(**scope, **{field: value})
    if exclude is not None:
        clash = clash.exclude(pk=exclude.pk)
    if clash.exists():
        raise Conflict(f"{label} {field} {value!r} is already used here", [{"field": field, "message": "already used"}])


def _save(obj, message: str):
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError:
        raise Conflict(message) from None
    return obj


def _locked_set(prompt_set: PromptSet) -> PromptSet:
    """Re-read the set under a row lock so a concurrent status change cannot slip between check and write."""
    return PromptSet.objects.select_for_update().select_related("project__organisation").get(pk=prompt_set.pk)


def require_editable(prompt_set: PromptSet) -> None:
    if prompt_set.status != Status.LIVE:
        label = Status(prompt_set.status).label
        hint = "unlock it first" if prompt_set.status == Status.LOCKED else "approve or reject the review first"
        raise Conflict(f"prompt set '{prompt_set.slug}' is {label}: its content cannot change ({hint})")


def ensure_organisation_deletable(organisation) -> None:
    ensure_projects_deletable(organisation.projects.all())


def ensure_projects_deletable(projects) -> None:
    frozen = list(
        PromptSet.objects.filter(project__in=projects).exclude(status=Status.LIVE).values_list("project__slug", "slug")
    )
    if frozen:
        names = ", ".join(f"{p}/{s}" for p, s in frozen)
        raise Conflict(f"these prompt sets are in review or LOCKED and cannot be deleted: {names}; unlock them first")


# --- projects ---------------------------------------------------------------

@transaction.atomic
def create_project(actor: User, organisation, name: str, slug: str | None = None, description: str = "") -> Project:
    policy.require(actor, Action.MANAGE_PROJECTS, organisation)
    name = check_name(name)
    slug = check_slug(slug or make_slug(name))
    _unique(Project, {"organisation": organisation}, "name", name, label="project")
    _unique(Project, {"organisation": organisation}, "slug", slug, label="project")
    project = _save(Project(organisation=organisation, name=name, slug=slug, description=description or ""),
                    f"a project named {name!r} already exists")
    record(actor, organisation, "project.create", project, {"name": name})
    return project


@transaction.atomic
def update_project(actor: User, project: Project, *, name=None, slug=None, description=None,
                   tests_gate=None) -> Project:
    policy.require(actor, Action.MANAGE_PROJECTS, project.organisation, "project")
    scope, changed = {"organisation": project.organisation}, []
    if name is not None and name != project.name:
        project.name = check_name(name)
        _unique(Project, scope, "name", project.name, exclude=project, label="project")
        changed.append("name")
    if slug is not None and slug != project.slug:
        project.slug = check_slug(slug)
        _unique(Project, scope, "slug", project.slug, exclude=project, label="project")
        changed.append("slug")
    if description is not None and description != project.description:
        project.description = description
        changed.append("description")
    if tests_gate is not None and bool(tests_gate) != project.tests_gate:
        project.tests_gate = bool(tests_gate)
        changed.append("tests_gate")
    if changed:
        _save(project, "project name or slug already used")
        record(actor, project.organisation, "project.update", project,
               {"fields": changed, **({"tests_gate": project.tests_gate} if "tests_gate" in changed else {})})
    return project


@transaction.atomic
def delete_project(actor: User, project: Project) -> None:
    policy.require(actor, Action.MANAGE_PROJECTS, project.organisation, "project")
    ensure_projects_deletable([project])
    _ensure_never_published(Version.objects.filter(prompt_set__project=project), "project")
    summary = {"name": project.name, "prompt_sets": project.prompt_sets.count()}
    record(actor, project.organisation, "project.delete", project, summary)
    project.delete()


def _ensure_not_depended_on(prompt_set: PromptSet, consequence: str) -> None:
    """Other sets name this one (in their dependencies and their partials): a slug change or a deletion
    would break them."""
    dependents = composition.dependents(prompt_set)
    if dependents:
        raise Conflict(f"prompt set '{prompt_set.slug}' is a dependency of {', '.join(dependents)}: "
                       f"{consequence} (remove the dependency there first)")


def _ensure_never_published(versions, what: str) -> None:
    published = list(versions.filter(first_published_at__isnull=False).values_list("prompt_set__slug", "label")[:5])
    if published:
        names = ", ".join(f"{s}@{v}" for s, v in published)
        raise Conflict(f"this {what} has published versions ({names}) and cannot be deleted")


# --- prompt sets --------------------------------------------------------------

@transaction.atomic
def create_prompt_set(actor: User, project: Project, name: str, slug: str | None = None,
                      description: str = "", metadata: dict | None = None, config: dict | None = None,
                      dependencies: dict | None = None) -> PromptSet:
    policy.require(actor, Action.EDIT_PROMPTS, project.organisation, "project")
    name = check_name(name)
    slug = check_slug(slug or make_slug(name))
    _unique(PromptSet, {"project": project}, "name", name, label="prompt set")
    _unique(PromptSet, {"project": project}, "slug", slug, label="prompt set")
    prompt_set = PromptSet(project=project, name=name, slug=slug, description=description or "",
                           metadata=check_metadata(metadata), config=check_config(config))
    prompt_set.dependencies = composition.check_dependencies(prompt_set, dependencies)
    prompt_set = _save(prompt_set, f"a prompt set named {name!r} already exists")
    record(actor, project.organisation, "prompt_set.create", prompt_set, {"project": project.slug})
    return prompt_set


@transaction.atomic
def update_prompt_set(actor: User, prompt_set: PromptSet, *, name=None, slug=None, description=None,
                      metadata=None, config=None, dependencies=None) -> PromptSet:
    prompt_set = _locked_set(prompt_set)
    organisation = prompt_set.project.organisation
    policy.require(actor, Action.EDIT_PROMPTS, organisation, "prompt set")
    require_editable(prompt_set)
    scope, changed = {"project": prompt_set.project}, []
    if name is not None and name != prompt_set.name:
        prompt_set.name = check_name(name)
        _unique(PromptSet, scope, "name", prompt_set.name, exclude=prompt_set, label="prompt set")
        changed.append("name")
    if slug is not None and slug != prompt_set.slug:
        _ensure_not_depended_on(prompt_set, "its slug cannot change")
        prompt_set.slug = check_slug(slug)
        _unique(PromptSet, scope, "slug", prompt_set.slug, exclude=prompt_set, label="prompt set")
        changed.append("slug")
    if description is not None and description != prompt_set.description:
        prompt_set.description = description
        changed.append("description")
    if metadata is not None and metadata != prompt_set.metadata:
        prompt_set.metadata = check_metadata(metadata)
        changed.append("metadata")
    if config is not None and config != prompt_set.config:
        prompt_set.config = check_config(config)
        changed.append("config")
    if dependencies is not None and dependencies != prompt_set.dependencies:
        prompt_set.dependencies = composition.check_dependencies(prompt_set, dependencies)
        changed.append("dependencies")
    if changed:
        _save(prompt_set, "prompt set name or slug already used")
        if "dependencies" in changed and not _whole_set_checked.get():  # e.g. a dependency removed while a
            # prompt still renders its partial
            composition.refuse_problems(composition.problems(prompt_set), "the set's prompts would not render")
        record(actor, organisation, "prompt_set.update", prompt_set, {"fields": changed})
    return prompt_set


@transaction.atomic
def delete_prompt_set(actor: User, prompt_set: PromptSet) -> None:
    prompt_set = _locked_set(prompt_set)
    organisation = prompt_set.project.organisation
    policy.require(actor, Action.DELETE_VERSIONED, organisation, "prompt set")
    require_editable(prompt_set)
    _ensure_never_published(prompt_set.versions.all(), "prompt set")
    _ensure_not_depended_on(prompt_set, "it cannot be deleted")
    locking = composition.versions_locking_set(prompt_set)
    if locking:
        raise Conflict(f"prompt set '{prompt_set.slug}' has versions locked by {', '.join(locking[:5])}: deleting it "
                       f"would break them (they render its prompts)")
    record(actor, organisation, "prompt_set.delete", prompt_set,
           {"project": prompt_set.project.slug, "versions": prompt_set.versions.count()})
    prompt_set.delete()


@transaction.atomic
def change_status(actor: User, prompt_set: PromptSet, status: str) -> PromptSet:
    prompt_set = _locked_set(prompt_set)
    organisation = prompt_set.project.organisation
    if status not in Status.values:
        raise ValidationError.field("status", f"status {status!r} is not one of {', '.join(Status.values)}")
    current = Status(prompt_set.status)
    target = Status(status)
    if current == target:
        raise Conflict(f"prompt set '{prompt_set.slug}' is already {target.label}")
    rule = TRANSITIONS.get((current, target))
    if rule is None:
        policy.require(actor, Action.VIEW, organisation, "prompt set")
        allowed = ", ".join(t.label for (f, t) in TRANSITIONS if f == current)
        raise Conflict(f"a {current.label} prompt set cannot go to {target.label} (allowed: {allowed})")
    action, verb = rule
    policy.require(actor, action, organisation, "prompt set")
    if target == Status.REVIEW:
        _ensure_ready_for_review(prompt_set)
    summary = {"from": current.value, "to": target.value}
    if target == Status.LOCKED:  # the approver approves the content under review: the working copy
        _ensure_tests_pass(prompt_set)
        snapshot = composition.working_snapshot(prompt_set)
        approvals.approve(prompt_set, snapshot, ApprovalSource.REVIEW, actor)
        summary["approved_content"] = approvals.content_digest(snapshot)
    prompt_set.status = target
    prompt_set.save(update_fields=["status", "updated_at"])
    record(actor, organisation, f"prompt_set.{verb}", prompt_set, summary)
    return prompt_set


def _ensure_tests_pass(prompt_set: PromptSet) -> None:
    """The gate (docs/prompt-tests.md): no locking while a test of the working copy fails, unless the
    project turned it off."""
    if not prompt_set.project.tests_gate:
        return
    failing = testresults.failing(testresults.for_working_copy(prompt_set))
    if failing:
        shown = "; ".join(failing[:10]) + (f"; and {len(failing) - 10} more" if len(failing) > 10 else "")
        raise Conflict(f"prompt set '{prompt_set.slug}' cannot be locked while tests fail: {shown} (fix them, or "
                       f"turn the project's test gate off)",
                       [{"field": f"prompts.{name.split(': ', 1)[0]}.tests", "message": name} for name in failing[:50]])


def _ensure_ready_for_review(prompt_set: PromptSet) -> None:
    problems = []
    for prompt in prompt_set.prompts.all():
        missing = sorted(set(_variables(prompt)) - {p["name"] for p in prompt.parameters})
        if missing:
            problems.append({"field": f"prompts.{prompt.slug}", "message": f"undeclared parameters: {', '.join(missing)}"})
    if problems:
        raise ValidationError("every prompt must declare the parameters its template uses before review", problems)
    composition.refuse_problems(composition.problems(prompt_set), "a partial would not render")


def _variables(prompt: Prompt) -> list[str]:
    """The names a prompt's template (or, for a chat prompt, its messages) read."""
    if prompt.kind == Kind.CHAT:
        return tpl.PreparedChat(prompt.messages, prompt.parameters).variables
    return tpl.variables(prompt.template)


def _check_kind_content(prompt: Prompt) -> None:
    """Before saving: content of the prompt's kind only, and a chat prompt's messages checked against its
    parameters (refused naming the message)."""
    if prompt.kind == Kind.CHAT:
        if prompt.template:
            raise ValidationError.field("template", "a chat prompt has messages, not a template (change its kind "
                                                    "to text to use a template)")
        prompt.messages = check_messages(prompt.messages, prompt.parameters)
    elif prompt.messages:
        raise ValidationError.field("messages", "a text prompt has a template, not messages (change its kind to "
                                                "chat to use messages)")


def _check_partials(prompt: Prompt) -> None:
    """After saving (the set's working copy now holds it): its partials (a missing partial, a required parameter
    not passed, a cycle), refused naming the problem; the transaction then keeps nothing."""
    if _whole_set_checked.get():
        return  # replace_source checks the whole set once every prompt is saved
    composition.refuse_problems(composition.problems(prompt.prompt_set, [prompt.slug]), "the prompt would not render")


# --- prompts --------------------------------------------------------------------

@transaction.atomic
def create_prompt(actor: User, prompt_set: PromptSet, name: str, slug: str | None = None, template: str = "",
                  parameters: list | None = None, description: str = "", metadata: dict | None = None,
                  kind: str = Kind.TEXT, messages: list | None = None, config: dict | None = None,
                  tests: list | None = None) -> Prompt:
    prompt_set = _locked_set(prompt_set)
    organisation = prompt_set.project.organisation
    policy.require(actor, Action.EDIT_PROMPTS, organisation, "prompt set")
    require_editable(prompt_set)
    name = check_name(name)
    slug = check_slug(slug or make_slug(name).replace("-", "_"))
    _unique(Prompt, {"prompt_set": prompt_set}, "name", name, label="prompt")
    _unique(Prompt, {"prompt_set": prompt_set}, "slug", slug, label="prompt")
    kind = check_kind(kind)
    prompt = Prompt(prompt_set=prompt_set, name=name, slug=slug, description=description or "", kind=kind,
                    template=check_template(template) if kind == Kind.TEXT else template or "",
                    messages=messages or [], parameters=check_parameters(parameters),
                    metadata=check_metadata(metadata), config=check_config(config, removals=True),
                    tests=check_tests(tests, kind))
    _check_kind_content(prompt)
    _save(prompt, f"a prompt named {name!r} already exists")
    _check_partials(prompt)
    record(actor, organisation, "prompt.create", prompt, {"prompt_set": prompt_set.slug, "kind": kind})
    return prompt


@transaction.atomic
def update_prompt(actor: User, prompt: Prompt, *, name=None, slug=None, template=None, parameters=None,
                  description=None, metadata=None, kind=None, messages=None, config=None, tests=None) -> Prompt:
    """Change a prompt. Changing ``kind`` clears the other kind's content (a text prompt's template, a chat
    prompt's messages) unless it is given too."""
    prompt_set = _locked_set(prompt.prompt_set)
    organisation = prompt_set.project.organisation
    policy.require(actor, Action.EDIT_PROMPTS, organisation, "prompt")
    require_editable(prompt_set)
    prompt = Prompt.objects.select_for_update().get(pk=prompt.pk)
    scope, changed = {"prompt_set": prompt_set}, []
    if name is not None and name != prompt.name:
        prompt.name = check_name(name)
        _unique(Prompt, scope, "name", prompt.name, exclude=prompt, label="prompt")
        changed.append("name")
    if slug is not None and slug != prompt.slug:
        prompt.slug = check_slug(slug)
        _unique(Prompt, scope, "slug", prompt.slug, exclude=prompt, label="prompt")
        changed.append("slug")
    if kind is not None and kind != prompt.kind:
        prompt.kind = check_kind(kind)
        changed.append("kind")
    if template is not None and template != prompt.template:
        prompt.template = check_template(template)
        changed.append("template")
    if messages is not None and messages != prompt.messages:
        if not isinstance(messages, list):
            raise ValidationError.field("messages", "messages must be a list")
        prompt.messages = messages
        changed.append("messages")
    if parameters is not None:
        parameters = check_parameters(parameters)
        if parameters != prompt.parameters:
            prompt.parameters = parameters
            changed.append("parameters")
    if config is not None and config != prompt.config:
        prompt.config = check_config(config, removals=True)
        changed.append("config")
    if description is not None and description != prompt.description:
        prompt.description = description
        changed.append("description")
    if metadata is not None and metadata != prompt.metadata:
        prompt.metadata = check_metadata(metadata)
        changed.append("metadata")
    if tests is not None or "kind" in changed:  # a kind change re-checks the tests' targets
        checked = check_tests(prompt.tests if tests is None else tests, prompt.kind)
        if checked != prompt.tests:
            prompt.tests = checked
            changed.append("tests")
    if changed:
        if "kind" in changed:  # the other kind's content goes, unless it was given (then it is refused)
            if prompt.kind == Kind.CHAT and template is None:
                prompt.template = ""
            if prompt.kind == Kind.TEXT and messages is None:
                prompt.messages = []
        _check_kind_content(prompt)
        _save(prompt, "prompt name or slug already used")
        prompt.prompt_set = prompt_set
        _check_partials(prompt)
        record(actor, organisation, "prompt.update", prompt, {"prompt_set": prompt_set.slug, "fields": changed})
    prompt.prompt_set = prompt_set
    return prompt


@transaction.atomic
def update_test_snapshots(actor: User, prompt: Prompt, names: list[str] | None = None) -> list[str]:
    """Store, as each ``snapshot`` test's snapshot, what the prompt renders now (the tests named, or all);
    returns the names of the tests whose snapshot changed. A test whose render fails keeps its snapshot."""
    prompt_set = _locked_set(prompt.prompt_set)
    policy.require(actor, Action.EDIT_PROMPTS, prompt_set.project.organisation, "prompt")
    require_editable(prompt_set)
    prompt = Prompt.objects.select_for_update().get(pk=prompt.pk)
    prompt.prompt_set = prompt_set
    cases = testcases.parse_test_cases(prompt.tests, kind=prompt.kind)
    unknown = sorted(set(names or []) - {c.name for c in cases})
    if unknown:
        raise NotFound(f"prompt '{prompt.slug}' has no test {unknown[0]!r}",
                       [{"field": "names", "message": "no such test"}])
    results = testresults.for_prompt(prompt, update_snapshots=True)
    updated = testresults.with_new_snapshots(prompt.tests, prompt.kind, results, names)
    changed = [new["name"] for old, new in zip(prompt.tests, updated) if old.get("snapshot") != new.get("snapshot")]
    if changed:
        prompt.tests = updated
        prompt.save(update_fields=["tests", "updated_at"])
        record(actor, prompt_set.project.organisation, "prompt.update", prompt,
               {"prompt_set": prompt_set.slug, "fields": ["tests"], "snapshots_updated": changed})
    return changed


@transaction.atomic
def add_missing_parameters(actor: User, prompt: Prompt) -> list[str]:
    """Declare every variable the template reads but the prompt does not declare (typed string)."""
    prompt_set = _locked_set(prompt.prompt_set)
    policy.require(actor, Action.EDIT_PROMPTS, prompt_set.project.organisation, "prompt")
    require_editable(prompt_set)
    prompt = Prompt.objects.select_for_update().get(pk=prompt.pk)
    missing = sorted(set(_variables(prompt)) - {p["name"] for p in prompt.parameters})
    if not missing:
        return []
    added = [tpl.Parameter(name=n).to_dict() for n in missing]
    update_prompt(actor, prompt, parameters=list(prompt.parameters) + added)
    return missing


@transaction.atomic
def delete_prompt(actor: User, prompt: Prompt) -> None:
    prompt_set = _locked_set(prompt.prompt_set)
    organisation = prompt_set.project.organisation
    policy.require(actor, Action.EDIT_PROMPTS, organisation, "prompt")
    require_editable(prompt_set)
    record(actor, organisation, "prompt.delete", prompt, {"prompt_set": prompt_set.slug})
    prompt.delete()


# --- versions (version_writes.py) -------------------------------------------------

create_version = version_writes.create_version
rollback = version_writes.rollback
approve_version = version_writes.approve_version
delete_version = version_writes.delete_version


@transaction.atomic
def import_content(actor: User, organisation, content: dict) -> imports.ImportResult:
    """Create, or merge into the organisation's project with the same slug, the project an archive's
    validated ``content`` describes (owners and admins; peering.services.import_archive validates the
    archive and audits the import). Versions it has are kept, new ones added after them; a label it has
    with different content stops the import (Conflict naming it) and nothing is written. A set imported
    LOCKED keeps its working copy approved (the importer holds the approve right)."""
    policy.require(actor, Action.MANAGE_PROJECTS, organisation)
    return imports.apply(actor, organisation, content)


# --- for apps built on prompts (distribution's publish and registration) ---------------------------------

def lock_project(project_id) -> Project:
    """The project, row-locked until the caller's transaction ends (its sequence, its instance count)."""
    return Project.objects.select_for_update().select_related("organisation").get(pk=project_id)


def lock_prompt_set(prompt_set_id) -> PromptSet:
    """The prompt set, row-locked until the caller's transaction ends (its status cannot change meanwhile)."""
    return PromptSet.objects.select_for_update().get(pk=prompt_set_id)


def mark_published(version: Version) -> None:
    """Note the first time a version is published (the one change a version allows: see migration 0002)."""
    if version.first_published_at is None:
        mark_published_id(version.pk)


def mark_published_id(version_id) -> None:
    """:func:`mark_published` by id (a release of a channel holds many versions, most published before)."""
    Version.objects.filter(pk=version_id, first_published_at__isnull=True).update(first_published_at=timezone.now())


# --- sources: a set as prompt files hold it (docs/prompts-as-code.md) ----------------------------------

@transaction.atomic
def replace_source(actor: User, project: Project, slug: str, document: dict, *, if_match: str | None = None,
                   create: bool = False) -> tuple[PromptSet, dict]:
    """Make the LIVE set ``slug``'s working copy equal ``document`` (a source, see prompts/sources.py):
    prompts created, changed and deleted by slug, in one transaction, partials checked over the result.
    ``if_match``: the ETag the caller last saw (PreconditionFailed when the working copy has another);
    ``create``: the set must not exist yet, and is created. Returns the set and what changed (sources.plan);
    an unchanged document changes nothing. A REVIEW or LOCKED set is refused (Conflict)."""
    return source_writes.replace(actor, project, slug, document, if_match=if_match, create=create)
