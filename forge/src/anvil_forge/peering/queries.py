"""Reads for peering: what this FORGE shows its peers, exports, and the connected remote projects.

Everything is limited to what the user may see; anything else is NotFound.
"""

from __future__ import annotations

from functools import cache
from urllib.parse import urlsplit

from anvil_client.bundle import key_id
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError

from anvil_forge.core.errors import NotFound
from anvil_forge.distribution import queries as dist_queries
from anvil_forge.orgs import policy
from anvil_forge.orgs.policy import Action
from anvil_forge.orgs.queries import organisations_for
from anvil_forge.prompts import queries as prompt_queries

from . import archive, remote
from . import known_forges as _known_forges
from .archive import InvalidArchive as InvalidArchive  # handed out: adapters catch it
from .known_forges import KnownForgesError as KnownForgesError
from .models import RemoteProjectLink
from .remote import RemoteError as RemoteError
from .wire import ForgeInfo as ForgeInfo  # the peering API's answer shapes
from .wire import ForgeOrganisation as ForgeOrganisation
from .wire import ForgeProject as ForgeProject
from .wire import ForgeProjectDetail as ForgeProjectDetail

# --- the archive format, for adapters ------------------------------------------------------------------

def parse_archive(data: bytes | str) -> dict:
    """An archive file's bytes (JSON, UTF-8), refused clearly (InvalidArchive) when it is not one."""
    return archive.loads(data)


def dump_archive(data: dict) -> str:
    """The archive as text (sorted keys, indented for people)."""
    return archive.dumps(data)


def archive_summary(data: dict) -> dict:
    """Counts for messages and previews: project slug/name, prompt sets, prompts, versions."""
    return archive.summary(data)


# --- this FORGE ------------------------------------------------------------------------------------


@cache
def anvil_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("anvil-forge")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without metadata
        return "0"


def forge_name() -> str:
    """How this FORGE names itself to peers: ``ANVIL_FORGE_NAME``, else the host of ``ANVIL_BASE_URL``."""
    configured = (settings.ANVIL_FORGE_NAME or "").strip()
    if configured:
        return configured
    base = settings.ANVIL_BASE_URL
    return urlsplit(base).netloc or "anvil"


def identity() -> dict:
    """Name, software version, base URL and the bundle-signing public key (``GET /forge/info``)."""
    key = dist_queries.public_key()
    return {
        "name": forge_name(),
        "version": anvil_version(),
        "url": settings.ANVIL_BASE_URL,
        "public_key": key,
        "key_id": key_id(key),
        "api_version": "1",
        "archive_format_version": archive.FORMAT_VERSION,
    }


# --- what peers browse ---------------------------------------------------------------------------

def organisations_overview(user):
    """The user's organisations with ``role``, ``project_count`` and ``last_updated_at`` (newest change inside)."""
    return prompt_queries.organisations_activity(user, organisations_for(user))


def projects_overview(user, organisation):
    """An organisation's projects with prompt-set, prompt and version counts and ``last_updated_at``."""
    return prompt_queries.projects_activity(user, organisation)


def get_project_overview(user, pk):
    """One project as :func:`projects_overview` annotates it."""
    project = prompt_queries.get_project(user, pk)
    return projects_overview(user, project.organisation).get(pk=project.pk)


def project_detail(user, project) -> dict:
    """A project with its prompt sets (status, versions, published version) and their prompts (working copy)."""
    policy.require(user, Action.VIEW, project.organisation, "project")
    published = dist_queries.published_labels(project)
    sets = []
    last = project.updated_at
    for prompt_set in prompt_queries.sets_with_prompts_and_versions(project):
        versions = sorted(prompt_set.versions.all(), key=lambda v: -v.sequence)
        prompts = sorted(prompt_set.prompts.all(), key=lambda p: p.name)
        times = [prompt_set.updated_at, *(p.updated_at for p in prompts), *(v.created_at for v in versions)]
        set_last = max(times)
        last = max(last, set_last)
        sets.append({
            "id": prompt_set.pk, "created_at": prompt_set.created_at, "updated_at": prompt_set.updated_at,
            "name": prompt_set.name, "slug": prompt_set.slug, "description": prompt_set.description,
            "metadata": prompt_set.metadata, "status": prompt_set.status,
            "version_count": len(versions), "prompt_count": len(prompts),
            "latest_version": versions[0].label if versions else None,
            "published_version": published.get(prompt_set.pk),
            "last_updated_at": set_last,
            "versions": [{"id": v.pk, "label": v.label, "sequence": v.sequence, "changelog": v.changelog,
                          "created_at": v.created_at, "published": v.first_published_at is not None}
                         for v in versions],
            "prompts": [{"id": p.pk, "created_at": p.created_at, "updated_at": p.updated_at, "name": p.name,
                         "slug": p.slug, "flat_id": f"{prompt_set.slug}.{p.slug}", "description": p.description,
                         "template": p.template, "parameters": p.parameters, "metadata": p.metadata}
                        for p in prompts],
        })
    organisation = project.organisation
    return {
        "id": project.pk, "created_at": project.created_at, "updated_at": project.updated_at,
        "organisation": {"id": organisation.pk, "name": organisation.name, "slug": organisation.slug},
        "organisation_id": organisation.pk,
        "name": project.name, "slug": project.slug, "description": project.description,
        "prompt_set_count": len(sets),
        "prompt_count": sum(s["prompt_count"] for s in sets),
        "version_count": sum(s["version_count"] for s in sets),
        "last_updated_at": last,
        "prompt_sets": sets,
    }


# --- export -------------------------------------------------------------------------------------

def export_archive(user, project) -> dict:
    """The project's archive (any member of its organisation may export it)."""
    policy.require(user, Action.VIEW, project.organisation, "project")
    return build_archive(project)


def build_archive(project) -> dict:
    """The archive, without a policy check: for the operator's ``anvil export`` (shell access to the FORGE)."""
    return archive.build(project, {"forge": forge_name(), "url": settings.ANVIL_BASE_URL,
                                   "anvil_version": anvil_version()})


# --- connected remote projects --------------------------------------------------------------------

def links_for(user, organisation=None):
    """The remote projects connected to the user's organisations (or to one of them), by name."""
    qs = RemoteProjectLink.objects.filter(organisation__in=organisations_for(user)).select_related(
        "organisation", "created_by")
    if organisation is not None:
        qs = qs.filter(organisation=organisation)
    return qs.order_by("name", "forge_name")


def get_link(user, pk) -> RemoteProjectLink:
    try:
        link = links_for(user).filter(pk=pk).first()
    except (ValueError, TypeError, DjangoValidationError):
        link = None
    if link is None:
        raise NotFound("connected project not found")
    return link


def links_to(user, forge_name: str, remote_project_id) -> list[RemoteProjectLink]:
    """The user's organisations' links to one remote project (to show "connected to X" on the remote page)."""
    try:
        return list(links_for(user).filter(forge_name=forge_name, remote_project_id=remote_project_id))
    except (ValueError, TypeError, DjangoValidationError):
        return []


# --- other FORGEs: the operator's known forges, and what they answer ---------------------------------------

def known_forges():
    """The peers the operator configured (``ANVIL_KNOWN_FORGES``); KnownForgesError when it is broken."""
    return _known_forges.known_forges()


def get_forge(name: str):
    """One known forge by name (NotFound, or KnownForgesError when the configuration is broken)."""
    return _known_forges.get_forge(name)


def remote_info(forge):
    """A peer's name, version and public key (one request; RemoteError when it fails)."""
    return remote.info(forge)


def remote_organisations(forge, cursor: str | None = None):
    return remote.organisations(forge, cursor)


def remote_projects(forge, organisation_id, cursor: str | None = None):
    return remote.projects(forge, organisation_id, cursor)


def remote_project(forge, project_id):
    return remote.project(forge, project_id)


def remote_export(forge, project_id) -> dict:
    """A peer project's archive (fetched, not imported: ``services.import_archive`` does that)."""
    return remote.export(forge, project_id)
