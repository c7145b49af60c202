"""Reads for distribution: the app's face for every read from outside it (the writes are in services.py)."""

from __future__ import annotations

from contextlib import AbstractContextManager

from anvil_client import bundle as bundle_format
from anvil_forge.core.errors import NotFound
from anvil_forge.orgs import policy
from anvil_forge.orgs.policy import Action
from anvil_forge.prompts import queries as prompt_queries

from . import bundles, channels, keys
from .channels import PRODUCTION, Cohort, describe_request, describe_targets  # noqa: F401 (re-exported for adapters)
from .events import broker
from .models import AccessToken, Channel, Delivery, LiveInstance, Publication, PublishedVersion, PublishRequest
from .models import DeliveryState, Mode, RequestState  # noqa: F401 (re-exported: the choices adapters may name)
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

def published_versions(user, project, channel: str | None = None):
    """What a channel's newest release holds (default production), a row per prompt set."""
    policy.require(user, Action.VIEW, project.organisation, "project")
    return (PublishedVersion.objects.filter(project=project, channel__name=channel or channels.PRODUCTION)
            .select_related("prompt_set", "version"))


def published_version_of(prompt_set, channel: str | None = None):
    row = (PublishedVersion.objects.filter(prompt_set=prompt_set, channel__name=channel or channels.PRODUCTION)
           .select_related("version").first())
    return row.version if row else None


def published_everywhere(prompt_set) -> list[tuple[str, object]]:
    """``[(channel name, version)]``: which version of the set each channel's newest release holds."""
    rows = (PublishedVersion.objects.filter(prompt_set=prompt_set).select_related("version", "channel")
            .order_by("channel__name"))
    return [(row.channel.name, row.version) for row in rows]


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
    """``{prompt set id: label of its published version}`` for the sets the project's production channel
    publishes."""
    return dict(PublishedVersion.objects.filter(project=project, channel__name=channels.PRODUCTION)
                .values_list("prompt_set_id", "version__label"))


def current_sequence(project_or_channel) -> int:
    """A channel's sequence (a project: its production channel's): that of its newest release (0: none)."""
    return bundles.current_sequence(project_or_channel)


PREVIOUS_RELEASE_FORMATS = bundles.PREVIOUS_RELEASE_FORMATS  # what a pull that names no formats reads


def current_bundle(project_or_channel, formats=bundle_format.FORMAT_VERSIONS) -> dict:
    """The signed bundle of a channel's newest release (a project: its production channel's;
    docs/bundle-format.md), for a reader of the bundle ``formats`` given (below 3: without the sets' test
    summaries; below 4: without the channel and the sets' digests)."""
    return bundles.build_bundle(project_or_channel, formats)


def bundle_for_token(token, instance_id: str | None, formats) -> tuple[dict, str]:
    """What a LIVE client pulling with ``token`` is served: its channel's release for its cohort (placed by
    the instance id it sends and the labels it registered with that token), and the cohort."""
    labels = None
    if instance_id:
        labels = (LiveInstance.objects.filter(project_id=token.project_id, instance_id=instance_id,
                                              access_token=token).values_list("labels", flat=True).first())
    return bundles.bundle_for(token.channel, instance_id, labels, formats)


def instance_labels(token, instance_id: str | None) -> dict | None:
    """The labels ``instance_id`` registered with ``token`` (None: it has not registered yet)."""
    if not instance_id:
        return {}
    return (LiveInstance.objects.filter(project_id=token.project_id, instance_id=instance_id, access_token=token)
            .values_list("labels", flat=True).first())


def stream_placement(token, instance_id: str | None) -> tuple[dict | None, int]:
    """For an event stream opened with ``token`` by ``instance_id``: the labels the instance registered with
    (None: not registered yet — a client opens its stream as it first registers) and the sequence it is
    served now (its ``hello``)."""
    labels = instance_labels(token, instance_id)
    release, _ = channels.release_for(token.channel, instance_id, labels)
    return labels, release.sequence if release else 0


def stream_target(message: dict, channel, instance_id: str | None, labels: dict | None) -> tuple[str | None, int]:
    """Of an announcement of ``channel``'s head, the release (id, sequence) this stream's instance is served:
    decided from the announcement's targets in memory, or looked up if it came without them."""
    targets = message.get("targets")
    if targets is None:
        release, _ = channels.release_for(channel, instance_id, labels)
        return (str(release.pk), release.sequence) if release else (None, 0)
    if targets["everyone"] or channels.in_cohort(channels.Targets.of(targets), instance_id, labels):
        return targets["release"], message["sequence"]
    return targets["previous_release"], targets["previous_sequence"] or 0


def release_bundle_text(channel, release_id, formats) -> str:
    """The canonical text of one release's signed bundle, for a reader of ``formats`` (event streams send it
    whole: one build and one serialisation per release, however many streams)."""
    return bundles.bundle_text(channel, release_id, formats)


def instance_release(instance) -> tuple[int, str]:
    """The sequence a registered instance should hold now and its cohort (told in its registration answer)."""
    channel = instance.channel
    if channel is None:
        return 0, Cohort.ALL
    release, cohort = channels.release_for(channel, instance.instance_id, instance.labels)
    return (release.sequence if release else 0), cohort


# --- channels ------------------------------------------------------------------------------------------

def channel_list(user, project) -> list[Channel]:
    """The project's channels by name (production first), each with ``head`` (its newest release or None)."""
    policy.require(user, Action.VIEW, project.organisation, "project")
    found = list(Channel.objects.filter(project=project).select_related("project__organisation"))
    found.sort(key=lambda c: (c.name != channels.PRODUCTION, c.name))
    for channel in found:
        channel.head = channels.head(channel)  # type: ignore[attr-defined]  # (read by the adapters)
    return found


def channel(user, project, name: str) -> Channel:
    policy.require(user, Action.VIEW, project.organisation, "project")
    return channels.named(project, name)


def channel_delete_refusal(user, channel) -> str:
    """Why this user may not delete the channel now (the rules ``services.delete_channel`` enforces), or ""
    if they may: the pages offer Delete only then."""
    if not policy.can(user, Action.MANAGE_DISTRIBUTION, channel.project.organisation):
        return "Only owners and admins delete channels."
    return channels.delete_refusal(channel)


def can_roll_back(release) -> bool:
    """Whether a channel whose newest release is ``release`` has content to roll back to."""
    return channels.rollback_target(release) is not None


def head_of(channel):
    """The channel's newest release (None: nothing released to it yet)."""
    return channels.head(channel)


def channel_definitions(user, project) -> dict:
    """The project's channels as a definitions document (``anvil channels export``; services.import_channels)."""
    policy.require(user, Action.VIEW, project.organisation, "project")
    return channels.definitions(project)


def release_sets(release) -> list[dict]:
    """A release's sets, ``[{slug, name, version, version_id, digest}]`` by slug; ``digest``: the set's digest
    in the release's format-4 bundle (docs/bundle-format.md), equal in every channel holding that version."""
    if release is None:
        return []
    bundle = bundles.build_bundle(release.channel, bundle_format.FORMAT_VERSIONS, release)
    names = dict(prompt_queries.versions_by_id(release.content.values())
                 .values_list("prompt_set__slug", "prompt_set__name"))
    return [{"slug": s["slug"], "name": names.get(s["slug"], s["slug"]), "version": s["version"],
             "version_id": s["version_id"], "digest": s.get("digest", "")} for s in bundle["prompt_sets"]]


def releases(user, project, name: str, limit: int = 20) -> list[Publication]:
    """A channel's releases, newest first."""
    found = channel(user, project, name)
    return list(Publication.objects.filter(channel=found).select_related("published_by", "approved_by",
                                                                          "prompt_set", "version")
                .order_by("-sequence")[:limit])


def rollout_progress(user, project, name: str, limit: int = 500) -> dict:
    """Where a channel's newest release stands: who it targets, and each instance heard from in the last day
    with its cohort, what it holds and its last error (a failed push, or what the client reported)."""
    found = channel(user, project, name)
    current = channels.head(found)
    instances = list(LiveInstance.objects.filter(channel=found, last_seen_at__gte=gone_since())
                     .order_by("host", "instance_id")[:limit])
    failed = {}
    if current is not None:
        failed = dict(Delivery.objects.filter(publication=current, state=DeliveryState.FAILED)
                      .values_list("instance_id", "last_error"))
    rows, counts = [], {"instances": 0, "in_cohort": 0, "on_release": 0, "on_previous": 0, "elsewhere": 0,
                        "errors": 0}
    previous = current.previous if current is not None and channels.partial(current) else None
    for instance in instances:
        cohort = Cohort.ALL
        if current is not None and previous is not None:
            inside = channels.in_cohort(current, instance.instance_id, instance.labels)
            cohort = Cohort.ROLLOUT if inside else Cohort.PREVIOUS
        error = failed.get(instance.pk) or instance.last_error
        counts["instances"] += 1
        counts["in_cohort"] += cohort != Cohort.PREVIOUS
        if current is not None and instance.sequence == current.sequence:
            counts["on_release"] += 1
        elif previous is not None and instance.sequence == previous.sequence:
            counts["on_previous"] += 1
        else:
            counts["elsewhere"] += 1
        counts["errors"] += bool(error)
        rows.append({"instance": instance, "cohort": cohort, "holds": instance.sequence,
                     "should_hold": _should_hold(current, previous, cohort), "error": error,
                     "stale": is_stale(instance)})
    return {"channel": found, "release": current, "previous": previous, "partial": channels.partial(current),
            "targets": describe_targets(current) if current else "", "counts": counts, "instances": rows}


def _should_hold(current, previous, cohort) -> int | None:
    if current is None:
        return None
    return previous.sequence if cohort == Cohort.PREVIOUS and previous is not None else current.sequence


def publish_requests(user, project, state: str | None = None):
    """The project's publish requests, newest first (``state``: only those in it; pending ones past their
    time show as expired once the worker or a decision marks them)."""
    policy.require(user, Action.VIEW, project.organisation, "project")
    found = (PublishRequest.objects.filter(project=project)
             .select_related("channel", "prompt_set", "version", "requested_by", "decided_by", "publication"))
    return found.filter(state=state) if state else found


def publish_request(user, pk) -> PublishRequest:
    found = (PublishRequest.objects.filter(pk=pk)
             .select_related("project__organisation", "channel", "prompt_set", "version", "requested_by").first())
    if found is None or not policy.can(user, Action.VIEW, found.project.organisation):
        raise NotFound("publish request not found")
    return found


def pending_request_count(user, project) -> int:
    return publish_requests(user, project, RequestState.PENDING).count()


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
    """``with publish_events(project) as queue:`` an asyncio queue that receives ``{"sequence": n, "channel":
    name}`` for every release of the project (any channel's; a rollout that grew announces its sequence
    again), from any FORGE process (docs/distribution.md, streaming); for event streams."""
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
    channel = instance.channel or channels.named(project or instance.project, channels.PRODUCTION)
    served = bundles.served_format(channel, formats)
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

