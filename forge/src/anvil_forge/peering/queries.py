"""Reads for peering: what this FORGE shows its peers, exports, and the connected remote projects.

Everything is limited to what the user may see; anything else is NotFound.
"""

from __future__ import annotations

from functools import cache
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Count, DateTimeField, F, IntegerField, Max, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce, Greatest

from anvil_forge.core.errors import NotFound
from anvil_forge.orgs import policy
from anvil_forge.orgs.policy import Action
from anvil_forge.orgs.queries import organisations_for
from anvil_forge.prompts import queries as prompt_queries
from anvil_forge.prompts.models import Project, Prompt, PromptSet, Version

from . import archive
from .models import RemoteProjectLink

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
    configured = (getattr(settings, "ANVIL_FORGE_NAME", "") or "").strip()
    if configured:
        return configured
    base = getattr(settings, "ANVIL_BASE_URL", "") or ""
    return urlsplit(base).netloc or "anvil"


def identity() -> dict:
    """Name, software version, base URL and the bundle-signing public key (``GET /forge/info``)."""
    from anvil_client.bundle import key_id

    from anvil_forge.distribution import keys

    key = keys.public_key()
    return {
        "name": forge_name(),
        "version": anvil_version(),
        "url": getattr(settings, "ANVIL_BASE_URL", ""),
        "public_key": key,
        "key_id": key_id(key),
        "api_version": "1",
        "archive_format_version": archive.FORMAT_VERSION,
    }


# --- what peers browse ---------------------------------------------------------------------------

def _count(qs, path: str):
    counted = qs.filter(**{path: OuterRef("pk")}).order_by().values(path).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _latest(qs, path: str, field: str):
    """The newest ``field`` among the rows of ``qs`` whose ``path`` is the outer row (NULL when none)."""
    newest = qs.filter(**{path: OuterRef("pk")}).order_by().values(path).annotate(m=Max(field)).values("m")
    return Subquery(newest, output_field=DateTimeField())


def _last_updated(own: str, *parts):
    """``Greatest`` of the outer row's own time and the newest times of its contents (each defaulting to it)."""
    return Greatest(F(own), *[Coalesce(part, F(own)) for part in parts], output_field=DateTimeField())


def organisations_overview(user):
    """The user's organisations with ``role``, ``project_count`` and ``last_updated_at`` (newest change inside)."""
    from anvil_forge.orgs.models import Membership

    role = Membership.objects.filter(organisation=OuterRef("pk"), user=user).values("role")[:1]
    return organisations_for(user).annotate(
        role=Subquery(role),
        project_count=_count(Project.objects.all(), "organisation"),
        last_updated_at=_last_updated(
            "updated_at",
            _latest(Project.objects.all(), "organisation", "updated_at"),
            _latest(PromptSet.objects.all(), "project__organisation", "updated_at"),
            _latest(Prompt.objects.all(), "prompt_set__project__organisation", "updated_at"),
            _latest(Version.objects.all(), "prompt_set__project__organisation", "created_at"),
        ),
    )


def projects_overview(user, organisation):
    """An organisation's projects with prompt-set, prompt and version counts and ``last_updated_at``."""
    policy.require(user, Action.VIEW, organisation)
    return prompt_queries.projects_for(user, organisation).annotate(
        prompt_set_count=_count(PromptSet.objects.all(), "project"),
        prompt_count=_count(Prompt.objects.all(), "prompt_set__project"),
        version_count=_count(Version.objects.all(), "prompt_set__project"),
        last_updated_at=_last_updated(
            "updated_at",
            _latest(PromptSet.objects.all(), "project", "updated_at"),
            _latest(Prompt.objects.all(), "prompt_set__project", "updated_at"),
            _latest(Version.objects.all(), "prompt_set__project", "created_at"),
        ),
    )


def get_project_overview(user, pk) -> Project:
    """One project as :func:`projects_overview` annotates it."""
    project = prompt_queries.get_project(user, pk)
    return projects_overview(user, project.organisation).get(pk=project.pk)


def project_detail(user, project) -> dict:
    """A project with its prompt sets (status, versions, published version) and their prompts (working copy)."""
    from anvil_forge.distribution.models import PublishedVersion

    policy.require(user, Action.VIEW, project.organisation, "project")
    published = dict(PublishedVersion.objects.filter(project=project).values_list("prompt_set_id", "version__label"))
    sets = []
    last = project.updated_at
    for prompt_set in project.prompt_sets.order_by("name").prefetch_related("prompts", "versions"):
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
    return archive.build(project, {"forge": forge_name(), "url": getattr(settings, "ANVIL_BASE_URL", ""),
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
