"""Reads for distribution: the app's face for every read from outside it (the writes are in services.py)."""

from __future__ import annotations

from contextlib import AbstractContextManager

from anvil_client import bundle as bundle_format
from anvil_forge.core.errors import NotFound
from anvil_forge.orgs import policy
from anvil_forge.orgs.policy import Action
from anvil_forge.prompts import queries as prompt_queries

from . import bundles, keys
from .events import broker
from .models import AccessToken, Delivery, LiveInstance, Publication, PublishedVersion
from .models import DeliveryState, Mode  # noqa: F401 (re-exported: the choices adapters may name)
from .registration import gone_since, is_stale


# --- access tokens ----------------------------------------------------------------------------------

def access_tokens(user, project):
    policy.require(user, Action.VIEW, project.organisation, "project")
    return AccessToken.objects.filter(project=project).order_by("-created_at")


def access_token(user, project, token_id) -> AccessToken:
    """One access token of the project (revoked or not); NotFound if the project has no such token."""
    policy.require(user, Action.VIEW, project.organisation, "project")
    token = AccessToken.objects.filter(project=project, pk=token_id).select_related("project__organisation").first()
    if token is None:
        raise NotFound("access token not found")
    return token


def access_token_valid(token_id) -> bool:
    """Whether the token is still valid (not revoked): an open event stream checks at every heartbeat."""
    return AccessToken.objects.filter(pk=token_id, revoked_at__isnull=True).exists()


# --- published state, the bundle, the signing key -------------------------------------------------------

def published_versions(user, project):
    policy.require(user, Action.VIEW, project.organisation, "project")
    return PublishedVersion.objects.filter(project=project).select_related("prompt_set", "version")


def published_version_of(prompt_set):
    row = PublishedVersion.objects.filter(prompt_set=prompt_set).select_related("version").first()
    return row.version if row else None


def publish_refusal(user, prompt_set) -> str:
    """Why this user may not publish the set now (the rules ``services.publish`` enforces), or "" if they may."""
    if prompt_set.status != prompt_queries.Status.LOCKED:
        return "Only LOCKED prompt sets can be published."
    if not policy.can(user, Action.MANAGE_DISTRIBUTION, prompt_set.project.organisation):
        return "Only owners and admins publish."
    if not prompt_set.versions.exists():
        return "Create a version first."
    if not prompt_queries.approved_versions(prompt_set):
        return "No version is approved: approve one first."
    return ""


def published_labels(project) -> dict:
    """``{prompt set id: label of its published version}`` for the project's published sets."""
    return dict(PublishedVersion.objects.filter(project=project).values_list("prompt_set_id", "version__label"))


def current_sequence(project) -> int:
    """The project's sequence: that of its latest publish (0: nothing published yet)."""
    return bundles.current_sequence(project)


PREVIOUS_RELEASE_FORMATS = bundles.PREVIOUS_RELEASE_FORMATS  # what a pull that names no formats reads


def current_bundle(project, formats=bundle_format.FORMAT_VERSIONS) -> dict:
    """The signed bundle of the project's current published state (docs/bundle-format.md), for a reader of
    the bundle ``formats`` given (below 3: without the sets' test summaries)."""
    return bundles.build_bundle(project, formats)


def release_tests(user, project) -> list[dict]:
    """The current release, each published set version with what its tests gave when it was made:
    ``[{"slug", "version", "tests": {"total", "passed", "failed"} | None}]`` (None: it has no tests), by slug."""
    rows = (published_versions(user, project).order_by("prompt_set__slug")
            .values_list("prompt_set__slug", "version__label", "version__test_results"))
    return [{"slug": slug, "version": label, "tests": bundles.test_summary(results)}
            for slug, label, results in rows]


def public_key() -> str:
    """``ed25519:<base64>``: the key this FORGE signs bundles with (clients and peers pin it)."""
    return keys.public_key()


def signing_keys() -> list[dict]:
    """Every signing key this FORGE has had, oldest first, with its state (current, previous, retired)."""
    return keys.signing_keys()


def key_chain() -> dict:
    """``{current_key, keys, endorsements}``: what a client pinned to an earlier key follows to the current
    one (public keys only; served at /api/v1/forge/keys)."""
    return keys.chain()


def publish_events(project) -> AbstractContextManager:
    """``with publish_events(project) as queue:`` an asyncio queue that receives ``{"sequence": n}`` for every
    publish of the project, from any FORGE process (docs/distribution.md, streaming); for event streams."""
    return broker.subscribe(project.pk)


# --- publications and deliveries -------------------------------------------------------------------------

def publications(user, project):
    """The project's publishes, each with its deliveries (and their instances) fetched alongside."""
    policy.require(user, Action.VIEW, project.organisation, "project")
    return (Publication.objects.filter(project=project).select_related("prompt_set", "version", "published_by")
            .prefetch_related("deliveries__instance"))


def get_delivery(user, pk):
    delivery = Delivery.objects.filter(pk=pk).select_related("publication__project__organisation", "instance").first()
    if delivery is None or not policy.can(user, Action.VIEW, delivery.publication.project.organisation):
        raise NotFound("delivery not found")
    return delivery


# --- LIVE instances ---------------------------------------------------------------------------------------

def live_instances(user, project):
    """Every LIVE instance of the project, most recently seen first."""
    policy.require(user, Action.VIEW, project.organisation, "project")
    return LiveInstance.objects.filter(project=project).order_by("-last_seen_at", "instance_id")


def live_overview(user, project, limit: int = 100) -> tuple[list[LiveInstance], int]:
    """What the project page shows: up to ``limit`` instances heard from in the last day (newest first,
    each with ``stale`` and its ``top_uses``), and how many are gone (each app start registers anew)."""
    listed = live_instances(user, project)
    recent = list(listed.filter(last_seen_at__gte=gone_since())[:limit])
    for instance in recent:
        instance.stale = is_stale(instance)
        instance.needs_format, instance.too_old = _served(instance, project)
        instance.top_uses = sorted(instance.use_counts.items(), key=lambda kv: -kv[1])[:3]
    return recent, listed.filter(last_seen_at__lt=gone_since()).count()


def instance_too_old(instance: LiveInstance) -> bool:
    """Whether the instance's client cannot read the format of the bundle it is served: that of the published
    content (the test summaries of format 3 are left out for a client that does not read it)."""
    return _served(instance)[1]


def _served(instance: LiveInstance, project=None) -> tuple[int, bool]:
    """The format the instance is served (pushes honour its registered formats), and whether it cannot read it."""
    formats = instance.bundle_formats or [1]  # (a client of the first release does not say: format 1)
    served = bundles.served_format(project or instance.project, formats)
    return served, served not in formats


def instance_is_stale(instance: LiveInstance) -> bool:
    """Whether the instance missed its heartbeats (not heard from for ``ANVIL_LIVE_STALE_SECONDS``)."""
    return is_stale(instance)


def live_instance_count(projects) -> int:
    """How many LIVE instances the given projects (a queryset or list) have, gone ones included."""
    return LiveInstance.objects.filter(project__in=projects).count()


def instance_registered(token, instance_id: str) -> bool:
    """Whether ``token`` registered the LIVE instance ``instance_id`` (the API counts requests per instance
    only for those, so a caller cannot make up fresh counts)."""
    return LiveInstance.objects.filter(project_id=token.project_id, instance_id=instance_id,
                                       access_token=token).exists()
