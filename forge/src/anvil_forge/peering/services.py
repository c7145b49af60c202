"""Writes for peering: importing a project archive, connecting and disconnecting remote projects.

Each function takes the acting user, checks ``orgs.policy``, runs in one
transaction and records an audit event (docs/architecture.md). Nothing here
talks to another FORGE: the adapters fetch with :mod:`.remote` first and pass
what they got.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from anvil_client import versions as semver_rules

from anvil_forge.audit import queries as audit_queries
from anvil_forge.audit.services import record
from anvil_forge.core.errors import Conflict, NotFound, ValidationError
from anvil_forge.orgs import policy
from anvil_forge.orgs.policy import Action
from anvil_forge.prompts import services as prompt_services
from anvil_forge.prompts.models import Project, Prompt, PromptSet, Status, Version
from anvil_forge.prompts.snapshots import content_of
from anvil_forge.prompts.validation import check_metadata, check_name, check_parameters, check_template

from . import archive as archive_format
from . import queries as peering_queries
from .known_forges import KnownForgesError, get_forge
from .models import RemoteProjectLink

# --- import ------------------------------------------------------------------------------------


@dataclass
class ImportResult:
    project: Project
    project_created: bool = False
    prompt_sets_created: list[str] = field(default_factory=list)
    versions_added: list[str] = field(default_factory=list)  # "emails@1.2.0"
    versions_kept: int = 0
    working_copies_kept: list[str] = field(default_factory=list)  # existing sets whose working copy differs

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
        return text + "."


def _working_copy(prompt_set: PromptSet) -> dict:
    return {
        "name": prompt_set.name, "description": prompt_set.description, "metadata": prompt_set.metadata,
        "prompts": sorted((archive_format._prompt(p) for p in prompt_set.prompts.all()), key=lambda p: p["slug"]),
    }


def _archive_working_copy(data: dict) -> dict:
    return {
        "name": data["name"], "description": data["description"], "metadata": data["metadata"],
        "prompts": sorted(({**p, "parameters": check_parameters(p["parameters"])} for p in data["prompts"]),
                          key=lambda p: p["slug"]),
    }


def _field(set_slug: str, *rest: str) -> str:
    return ".".join([f"prompt_sets[{set_slug}]", *rest])


class _Plan:
    """What an import will do, worked out (and every conflict found) before anything is written."""

    def __init__(self):
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


def _create_set(actor, project: Project, data: dict, result: ImportResult) -> None:
    prompt_set = PromptSet.objects.create(
        project=project, name=check_name(data["name"]), slug=data["slug"], description=data["description"],
        metadata=check_metadata(data["metadata"]), status=Status.LIVE, last_sequence=data["last_sequence"],
    )
    for prompt in data["prompts"]:
        Prompt.objects.create(
            prompt_set=prompt_set, name=check_name(prompt["name"]), slug=prompt["slug"],
            description=prompt["description"], template=check_template(prompt["template"]),
            parameters=check_parameters(prompt["parameters"]), metadata=check_metadata(prompt["metadata"]),
        )
    for version in data["versions"]:  # in the archive's order, with its sequence numbers
        Version.objects.create(prompt_set=prompt_set, label=version["label"], changelog=version["changelog"],
                               snapshot=version["snapshot"], sequence=version["sequence"], created_by=actor)
        result.versions_added.append(f"{prompt_set.slug}@{version['label']}")
    if data["status"] == Status.LOCKED:
        prompt_services.approve_imported(actor, prompt_set)
    if data["status"] != Status.LIVE:  # content first (only a LIVE set takes it), then the status
        prompt_set.status = data["status"]
        prompt_set.save(update_fields=["status", "updated_at"])
    result.prompt_sets_created.append(prompt_set.slug)


def import_archive(actor, organisation, data, *, via: str = "") -> ImportResult:
    """Import a project archive into ``organisation`` (owners and admins).

    The archive is validated first (format, schema, checksum, consistency):
    :class:`~.archive.InvalidArchive` otherwise. Then, in one transaction, the
    project is created — or, if the organisation has a project with that slug,
    its prompt sets and versions are merged: versions it already has (same label
    and content) are kept, new ones added after them in the archive's order,
    new prompt sets created whole; the working copy and status of a set it
    already has are left alone. A label it has with different content, or one
    that would not roll forward, stops the import (``Conflict`` naming it) and
    nothing is written. Importing the same archive again changes nothing.
    ``via`` says how it arrived (``api``, ``upload``, ``cli``, ``forge <name>``), for the audit log.
    """
    policy.require(actor, Action.MANAGE_PROJECTS, organisation)
    data = archive_format.validate(data)
    try:
        with transaction.atomic():
            return _import(actor, organisation, data, via)
    except IntegrityError:
        raise Conflict("the project changed while it was being imported; try again") from None


def _import(actor, organisation, data: dict, via: str) -> ImportResult:
    content = data["content"]
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
    if created:
        project = Project.objects.create(organisation=organisation, name=check_name(meta["name"]), slug=meta["slug"],
                                         description=meta["description"])
    result = ImportResult(project=project, project_created=created, versions_kept=plan.kept,
                          working_copies_kept=plan.working_copies_kept)
    for data_set in plan.new_sets:
        _create_set(actor, project, data_set, result)
    for prompt_set, added in plan.additions:
        for sequence, version in added:
            Version.objects.create(prompt_set=prompt_set, label=version["label"], changelog=version["changelog"],
                                   snapshot=version["snapshot"], sequence=sequence, created_by=actor)
            result.versions_added.append(f"{prompt_set.slug}@{version['label']}")
        prompt_set.last_sequence = max(prompt_set.last_sequence, max(s for s, _ in added))
        prompt_set.save(update_fields=["last_sequence", "updated_at"])
    if result.changed:
        origin = data["source"]
        record(actor, organisation, "project.import", project, {
            "via": via,
            "from": {"forge": origin["forge"], "organisation": origin["organisation"],
                     "project_id": origin["project_id"]},
            "checksum": data["checksum"],
            "created": created,
            "prompt_sets_created": result.prompt_sets_created,
            "versions_added": len(result.versions_added),
            "versions_kept": result.versions_kept,
        })
    return result


# --- connected remote projects ----------------------------------------------------------------------

@transaction.atomic
def connect_remote_project(actor, organisation, forge_name: str, remote_project_id, *, name: str, slug: str,
                           description: str = "", remote_organisation: str = "") -> RemoteProjectLink:
    """List a project of a known forge among ``organisation``'s projects (owners and admins): a reference only.

    The adapter has fetched the remote project (so it exists and the forge's key may see it) and passes
    its id, name, slug and organisation name, which are cached for the project list.
    """
    policy.require(actor, Action.MANAGE_PROJECTS, organisation)
    try:
        forge = get_forge(forge_name)
    except (NotFound, KnownForgesError):
        raise ValidationError.field("forge", f"no known forge is named {forge_name!r}") from None
    if RemoteProjectLink.objects.filter(organisation=organisation, forge_name=forge.name,
                                        remote_project_id=remote_project_id).exists():
        raise Conflict(f"{organisation.name} is already connected to '{name}' on {forge.name}")
    link = RemoteProjectLink(organisation=organisation, forge_name=forge.name, remote_project_id=remote_project_id,
                             name=(name or slug or "remote project")[:100], slug=(slug or "")[:64],
                             description=description or "", remote_organisation=(remote_organisation or "")[:100],
                             created_by=actor)
    try:
        with transaction.atomic():
            link.save()
    except IntegrityError:
        raise Conflict(f"{organisation.name} is already connected to '{name}' on {forge.name}") from None
    record(actor, organisation, "project.connect", link,
           {"forge": forge.name, "remote_project_id": str(remote_project_id), "name": link.name})
    return link


@transaction.atomic
def disconnect_remote_project(actor, link: RemoteProjectLink) -> None:
    """Remove a connected remote project from the organisation's list (nothing on the remote changes)."""
    policy.require(actor, Action.MANAGE_PROJECTS, link.organisation, "connected project")
    record(actor, link.organisation, "project.disconnect", link,
           {"forge": link.forge_name, "remote_project_id": str(link.remote_project_id), "name": link.name})
    link.delete()


# --- reads worth recording: exports and peers' reads ---------------------------------------------------

PEER_READ_EVERY = timedelta(minutes=10)  # a peer polling a project is one event per this, not one per poll


@transaction.atomic
def export_project(actor, project: Project, *, via: str) -> dict:
    """The project's archive (any member may export it), recorded as ``project.export``: the archive holds
    every prompt and version, so who took a copy belongs in the history. ``actor`` None: the operator's
    ``anvil export`` on the FORGE's own machine."""
    if actor is not None:
        data = peering_queries.export_archive(actor, project)
    else:
        data = peering_queries.build_archive(project)
    record(actor, project.organisation, "project.export", project,
           {"via": via, "checksum": data["checksum"], "prompt_sets": len(data["content"]["prompt_sets"])})
    return data


def record_peer_read(actor, project: Project) -> None:
    """A FORGE (or anyone with an API key) read a project's content through the peering API: recorded as
    ``peer.read``, at most once per PEER_READ_EVERY per reader and project so polling does not flood the log."""
    since = timezone.now() - PEER_READ_EVERY
    if not audit_queries.recorded_since("peer.read", actor, str(project.pk), since):
        record(actor, project.organisation, "peer.read", project, {"via": "api /forge/projects"})
