"""Writes for peering: importing a project archive, connecting and disconnecting remote projects.

Each function takes the acting user, checks ``orgs.policy``, runs in one
transaction and records an audit event (docs/architecture.md). Nothing here
talks to another FORGE: the adapters fetch with :mod:`.remote` first and pass
what they got.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.utils import timezone


from anvil_forge.audit import queries as audit_queries
from anvil_forge.audit.services import record
from anvil_forge.core.errors import Conflict, NotFound, ValidationError
from anvil_forge.orgs import policy
from anvil_forge.orgs.policy import Action
from anvil_forge.prompts import services as prompt_services

from . import archive as archive_format
from . import queries as peering_queries
from .known_forges import KnownForgesError, get_forge
from .models import RemoteProjectLink

if TYPE_CHECKING:  # annotations only: accounts.models is not imported by other apps at run time
    from anvil_forge.accounts.models import User

# --- import ------------------------------------------------------------------------------------


class _DryRun(Exception):
    pass


def import_archive(actor: User, organisation, data, *, via: str = "", dry_run: bool = False):
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
    ``dry_run``: check everything and work out the result, then roll it all back.
    """
    policy.require(actor, Action.MANAGE_PROJECTS, organisation)
    data = archive_format.validate(data)
    try:
        with transaction.atomic():
            result = prompt_services.import_content(actor, organisation, data["content"])
            if result.changed:
                origin = data["source"]
                record(actor, organisation, "project.import", result.project, {
                    "via": via,
                    "from": {"forge": origin["forge"], "organisation": origin["organisation"],
                             "project_id": origin["project_id"]},
                    "checksum": data["checksum"],
                    "created": result.project_created,
                    "prompt_sets_created": result.prompt_sets_created,
                    "versions_added": len(result.versions_added),
                    "versions_kept": result.versions_kept,
                })
            if dry_run:
                raise _DryRun(result)
            return result
    except _DryRun as rolled_back:
        return rolled_back.args[0]
    except IntegrityError:
        raise Conflict("the project changed while it was being imported; try again") from None


# --- connected remote projects ----------------------------------------------------------------------

@transaction.atomic
def connect_remote_project(actor: User, organisation, forge_name: str, remote_project_id, *, name: str, slug: str,
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
def disconnect_remote_project(actor: User, link: RemoteProjectLink) -> None:
    """Remove a connected remote project from the organisation's list (nothing on the remote changes)."""
    policy.require(actor, Action.MANAGE_PROJECTS, link.organisation, "connected project")
    record(actor, link.organisation, "project.disconnect", link,
           {"forge": link.forge_name, "remote_project_id": str(link.remote_project_id), "name": link.name})
    link.delete()


# --- reads worth recording: exports and peers' reads ---------------------------------------------------

PEER_READ_EVERY = timedelta(minutes=10)  # a peer polling a project is one event per this, not one per poll


@transaction.atomic
def export_project(actor: User | None, project, *, via: str) -> dict:
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


def record_peer_read(actor: User, project) -> None:
    """A FORGE (or anyone with an API key) read a project's content through the peering API: recorded as
    ``peer.read``, at most once per PEER_READ_EVERY per reader and project so polling does not flood the log."""
    since = timezone.now() - PEER_READ_EVERY
    if not audit_queries.recorded_since("peer.read", actor, str(project.pk), since):
        record(actor, project.organisation, "peer.read", project, {"via": "api /forge/projects"})
