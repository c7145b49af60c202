"""Importing a project's content (from a peering archive, already validated): the plan, then the writes.

Private to prompts; ``prompts.services.import_content`` is the way in. The archive format itself is
peering's (peering/archive.py); this module knows only the shape of its ``content``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from anvil_client import composition as shared
from anvil_client import versions as semver_rules

from anvil_forge.core.errors import Conflict

from . import approvals, testresults
from .models import ApprovalSource, Project, Prompt, PromptSet, Status, Version
from .composition import working_snapshot
from .snapshots import content_of
from .validation import (
    check_config, check_kind, check_messages, check_metadata, check_name, check_parameters, check_template,
    check_tests,
)


def _prompt_dict(prompt) -> dict:
    """A prompt as the archive holds it (peering/archive.py writes the same shape, format 3)."""
    return {"slug": prompt.slug, "name": prompt.name, "description": prompt.description, "kind": prompt.kind,
            "template": prompt.template, "messages": list(prompt.messages), "parameters": list(prompt.parameters),
            "config": dict(prompt.config), "metadata": dict(prompt.metadata), "tests": list(prompt.tests)}


@dataclass
class ImportResult:
    project: Project
    project_created: bool = False
    prompt_sets_created: list[str] = field(default_factory=list)
    versions_added: list[str] = field(default_factory=list)  # "emails@1.2.0"
    versions_kept: int = 0
    working_copies_kept: list[str] = field(default_factory=list)  # existing sets whose working copy differs
    tests_gate_kept: bool = False  # an existing project whose test gate differs from the archive's

    @property
    def changed(self) -> bool:
        return self.project_created or bool(self.prompt_sets_created or self.versions_added)

    def message(self) -> str:
        """One sentence for flash messages and the CLI."""
        where = f"'{self.project.name}' ({self.project.organisation.slug}/{self.project.slug})"
        if not self.changed:
            text = f"Nothing new to import: {where} already has everything in this archive"
        elif self.project_created:
            text = (f"Imported {where}: {len(self.prompt_sets_created)} prompt set(s), "
                    f"{len(self.versions_added)} version(s)")
        else:
            parts = []
            if self.prompt_sets_created:
                parts.append(f"{len(self.prompt_sets_created)} new prompt set(s)")
            if self.versions_added:
                parts.append(f"{len(self.versions_added)} new version(s) ({', '.join(self.versions_added[:5])}"
                             + ("…" if len(self.versions_added) > 5 else "") + ")")
            text = f"Imported into the existing project {where}: {' and '.join(parts)}"
            if self.versions_kept:
                text += f"; {self.versions_kept} version(s) it already had were kept"
        if self.working_copies_kept:
            text += (f". The working copy of {', '.join(self.working_copies_kept)} differs from the archive's "
                     "and was left as it is here")
        if self.tests_gate_kept:
            text += (f". The project's test gate ({'on' if self.project.tests_gate else 'off'} here) differs from "
                     "the archive's and was left as it is")
        return text + "."


def _working_copy(prompt_set: PromptSet) -> dict:
    return {
        "name": prompt_set.name, "description": prompt_set.description, "metadata": prompt_set.metadata,
        "config": prompt_set.config, "dependencies": prompt_set.dependencies,
        "prompts": sorted((_prompt_dict(p) for p in prompt_set.prompts.all()), key=lambda p: p["slug"]),
    }


def _archive_working_copy(data: dict) -> dict:
    return {
        "name": data["name"], "description": data["description"], "metadata": data["metadata"],
        "config": data["config"], "dependencies": data["dependencies"],
        "prompts": sorted(({**p, "parameters": check_parameters(p["parameters"]),
                            "tests": check_tests(p["tests"], p["kind"])} for p in data["prompts"]),
                          key=lambda p: p["slug"]),
    }


def _field(set_slug: str, *rest: str) -> str:
    return ".".join([f"prompt_sets[{set_slug}]", *rest])


class _Plan:
    """What an import will do, worked out (and every conflict found) before anything is written."""

    def __init__(self) -> None:
        self.conflicts: list[tuple[str, str]] = []
        self.new_sets: list[dict] = []  # archive entries
        self.additions: list[tuple[PromptSet, list[tuple[int, dict]]]] = []  # existing set, [(sequence, version)]
        self.kept = 0
        self.working_copies_kept: list[str] = []


def _plan_new_set(plan: _Plan, project: Project | None, data: dict) -> None:
    if project is not None and project.prompt_sets.filter(name=data["name"]).exists():
        plan.conflicts.append((_field(data["slug"], "name"),
                               f"prompt set '{data['slug']}': this project already has another prompt set named "
                               f"{data['name']!r} (with a different slug)"))
    plan.new_sets.append(data)


def _plan_existing_set(plan: _Plan, prompt_set: PromptSet, data: dict) -> None:
    local = {v.label: v for v in prompt_set.versions.all()}
    labels = list(local)
    highest_sequence = max((v.sequence for v in local.values()), default=0)
    last = max(prompt_set.last_sequence, highest_sequence)
    added: list[tuple[int, dict]] = []
    for version in data["versions"]:
        label = version["label"]
        mine = local.get(label)
        if mine is not None:
            if content_of(mine.snapshot) != content_of(version["snapshot"]):
                plan.conflicts.append((_field(data["slug"], f"versions[{label}]"),
                                       f"prompt set '{data['slug']}' version {label}: this FORGE already has a "
                                       "version with that label and different content"))
            else:
                plan.kept += 1
            continue
        try:
            semver_rules.check_new_label(label, labels)
        except semver_rules.VersionError as exc:
            plan.conflicts.append((_field(data["slug"], f"versions[{label}]"),
                                   f"prompt set '{data['slug']}' version {label} cannot be added here: {exc}"))
            continue
        sequence = max(version["sequence"], last + 1)
        last = sequence
        labels.append(label)
        added.append((sequence, version))
    if added:
        plan.additions.append((prompt_set, added))
    if _working_copy(prompt_set) != _archive_working_copy(data):
        plan.working_copies_kept.append(prompt_set.slug)


class _ArchiveLibrary:
    """Every version of the archive, to run a version's tests when the archive records no results for them
    (``null`` in format 3; older formats have no tests). Taken from the archive rather than the database:
    a version may lock one created later in the import, and a version the project already has with that
    label has the same content (or the import stops)."""

    def __init__(self, content: dict) -> None:
        self.library = shared.Library(
            shared.SetVersion(s["slug"], v["label"], dict(v["snapshot"]["prompts"]),
                              dict(v["snapshot"].get("locks") or {}))
            for s in content["prompt_sets"] for v in s["versions"])

    def results(self, set_slug: str, version: dict) -> dict | None:
        """The archive's record of the version's results, else what its snapshot's tests give here."""
        if version["test_results"] is not None:
            return version["test_results"]
        if not any(p.get("tests") for p in version["snapshot"]["prompts"].values()):
            return None
        origin = self.library.get(set_slug, version["label"])
        assert origin is not None  # the library holds every version of the archive
        return testresults.results_of(self.library, origin)


def _create_version(actor, prompt_set: PromptSet, version: dict, sequence: int, library: _ArchiveLibrary,
                    result: ImportResult) -> None:
    """The snapshot exactly as in the archive, so content digests (and the approvals of LOCKED sets) match."""
    Version.objects.create(prompt_set=prompt_set, label=version["label"], changelog=version["changelog"],
                           snapshot=version["snapshot"], sequence=sequence, created_by=actor,
                           test_results=library.results(prompt_set.slug, version))
    result.versions_added.append(f"{prompt_set.slug}@{version['label']}")


def _create_set(actor, project: Project, data: dict, library: _ArchiveLibrary, result: ImportResult) -> PromptSet:
    """The set with its working copy and versions, still LIVE (its status is set once every set exists, as
    a LOCKED set's approval covers its locks, which may name sets created after it)."""
    prompt_set = PromptSet.objects.create(
        project=project, name=check_name(data["name"]), slug=data["slug"], description=data["description"],
        metadata=check_metadata(data["metadata"]), config=check_config(data["config"]),
        dependencies=dict(data["dependencies"]), status=Status.LIVE, last_sequence=data["last_sequence"],
    )
    for prompt in data["prompts"]:
        kind = check_kind(prompt["kind"])
        parameters = check_parameters(prompt["parameters"])
        Prompt.objects.create(
            prompt_set=prompt_set, name=check_name(prompt["name"]), slug=prompt["slug"],
            description=prompt["description"], kind=kind,
            template=check_template(prompt["template"]) if kind == "text" else "",
            messages=check_messages(prompt["messages"], parameters) if kind == "chat" else [],
            parameters=parameters, config=check_config(prompt["config"], removals=True),
            metadata=check_metadata(prompt["metadata"]), tests=check_tests(prompt["tests"], kind),
        )
    for version in data["versions"]:  # in the archive's order, with its sequence numbers
        _create_version(actor, prompt_set, version, version["sequence"], library, result)
    result.prompt_sets_created.append(prompt_set.slug)
    return prompt_set


def _set_status(actor, prompt_set: PromptSet, status: str) -> None:
    if status == Status.LOCKED:
        approvals.approve(prompt_set, working_snapshot(prompt_set), ApprovalSource.IMPORT, actor)
    if status != Status.LIVE:  # content first (only a LIVE set takes it), then the status
        prompt_set.status = status
        prompt_set.save(update_fields=["status", "updated_at"])



def apply(actor, organisation, content: dict) -> ImportResult:
    """Create or merge the project an archive's (validated) ``content`` describes; Conflict, and nothing
    written, when it does not fit (see peering.services.import_archive)."""
    meta = content["project"]
    project = Project.objects.select_for_update().filter(organisation=organisation, slug=meta["slug"]).first()
    plan = _Plan()
    if project is None:
        if Project.objects.filter(organisation=organisation, name=meta["name"]).exists():
            raise Conflict(f"{organisation.name} already has a project named {meta['name']!r} with another slug "
                           f"than '{meta['slug']}': rename one of them first",
                           [{"field": "project.name", "message": "already used"}])
        for data_set in content["prompt_sets"]:
            _plan_new_set(plan, None, data_set)
    else:
        existing = {s.slug: s for s in PromptSet.objects.select_for_update().filter(project=project)}
        for data_set in content["prompt_sets"]:
            prompt_set = existing.get(data_set["slug"])
            if prompt_set is None:
                _plan_new_set(plan, project, data_set)
            else:
                _plan_existing_set(plan, prompt_set, data_set)
    if plan.conflicts:
        field_name, message = plan.conflicts[0]
        more = f" (and {len(plan.conflicts) - 1} more conflict(s))" if len(plan.conflicts) > 1 else ""
        raise Conflict(f"nothing was imported: {message}{more}",
                       [{"field": f, "message": m} for f, m in plan.conflicts])

    created = project is None
    if project is None:
        project = Project.objects.create(organisation=organisation, name=check_name(meta["name"]), slug=meta["slug"],
                                         description=meta["description"], tests_gate=meta["tests_gate"])
    result = ImportResult(project=project, project_created=created, versions_kept=plan.kept,
                          working_copies_kept=plan.working_copies_kept,
                          tests_gate_kept=project.tests_gate != meta["tests_gate"])
    library = _ArchiveLibrary(content)
    created_sets = [(_create_set(actor, project, data_set, library, result), data_set["status"])
                    for data_set in plan.new_sets]
    for prompt_set, status in created_sets:
        _set_status(actor, prompt_set, status)
    for prompt_set, added in plan.additions:
        for sequence, version in added:
            _create_version(actor, prompt_set, version, sequence, library, result)
        prompt_set.last_sequence = max(prompt_set.last_sequence, max(s for s, _ in added))
        prompt_set.save(update_fields=["last_sequence", "updated_at"])
    return result
