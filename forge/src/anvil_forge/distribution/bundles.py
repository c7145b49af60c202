"""The one bundle builder, shared by every delivery path (pull, push, stream)."""

from __future__ import annotations

import threading
from functools import lru_cache

from anvil_client import bundle as format
from anvil_client import model_config
from anvil_forge.prompts import queries as prompt_queries

from . import channels, keys
from .models import Channel, Publication


def current_sequence(project_or_channel) -> int:
    """The sequence of a channel's newest release (a project: of its production channel; 0: none yet)."""
    channel = _channel(project_or_channel)
    latest = Publication.objects.filter(channel=channel).order_by("-sequence").values("sequence").first()
    return latest["sequence"] if latest else 0


def _channel(project_or_channel):
    if isinstance(project_or_channel, Channel):
        return project_or_channel
    return channels.named(project_or_channel, channels.PRODUCTION)


PREVIOUS_RELEASE_FORMATS = (1, 2)
"""What a client that does not say reads: anvil-client 0.2.0 reads formats 1 and 2 and pulls without naming
them (0.1.0, format 1 only, gets the same bundles: below format 3 only the content decides the format)."""


def format_ceiling(formats) -> int:
    """The newest format this FORGE writes that a reader of ``formats`` takes (1 if none is known)."""
    return max((f for f in formats or () if f in format.FORMAT_VERSIONS), default=1)


def build_bundle(project_or_channel, formats=format.FORMAT_VERSIONS, release=None) -> dict:
    """The signed bundle of a channel's release (default: its newest; a project: its production channel;
    sequence 0: nothing published yet), for a reader of the bundle ``formats`` given: below format 3 without
    the sets' test summaries, below 4 without the channel and the sets' digests (informative: leaving them
    out keeps such a reader updating). The content itself is never left out, so content that needs format 2
    is format 2 for every reader (one of format 1 only is then too old)."""
    channel = _channel(project_or_channel)
    if release is None:
        release = channels.head(channel)
    return _built(channel.project_id, channel.name, str(release.pk) if release else None, keys.public_key(),
                  format_ceiling(formats))


def bundle_for(channel, instance_id: str | None, labels: dict | None, formats) -> tuple[dict, str]:
    """What one instance of ``channel`` is served — its cohort's release — and its cohort (channels.Cohort)."""
    release, cohort = channels.release_for(channel, instance_id, labels)
    if release is None:
        return _built(channel.project_id, channel.name, None, keys.public_key(), format_ceiling(formats)), cohort
    return build_bundle(channel, formats, release), cohort


def bundle_text(channel, release_id, formats) -> str:
    """The canonical JSON text of a release's bundle for a reader of ``formats`` (cached per release)."""
    with _once:
        return _text(channel.project_id, channel.name, release_id, keys.public_key(), format_ceiling(formats))


# One build at a time for the streams: when a release is announced every stream asks for its bundle at
# once, and without the lock each would build it, all but one in vain. Only the streams take it: they hold
# no database connection while they wait, so the one building always gets one. A request that holds a
# connection (a registration, a pull) waiting here could leave the builder none, on PostgreSQL's pool.
_once = threading.Lock()


def _built(*key) -> dict:
    return _build(*key)


@lru_cache(maxsize=64)
def _text(project_id, channel_name: str, release_id, forge_key: str, ceiling: int) -> str:
    return format.canonical(_build(project_id, channel_name, release_id, forge_key, ceiling)).decode()


def served_format(channel, formats) -> int:
    """The format of the bundle a reader of ``formats`` is served: it is too old if that is not one of them."""
    return build_bundle(channel, formats)["format_version"]


# A version's test_results reduced to the counts a bundle carries (None: it has no tests).
test_summary = prompt_queries.test_summary


@lru_cache(maxsize=256)
def _build(project_id, channel_name: str, release_id, forge_key: str, ceiling: int) -> dict:
    # A release never changes once made, so its bundle (per key and format ceiling) can be cached.
    project = prompt_queries.all_projects().values("slug", "name", "created_at").get(pk=project_id)
    release = Publication.objects.filter(pk=release_id).values("sequence", "created_at", "content").first()
    if release is not None:
        sequence, created_at = release["sequence"], release["created_at"].isoformat().replace("+00:00", "Z")
        content = release["content"]
    else:
        sequence, created_at, content = 0, project["created_at"].isoformat(), {}
    published = (prompt_queries.versions_by_id(content.values())
                 .values_list("prompt_set__slug", "label", "pk", "snapshot", "test_results"))
    prompt_sets, prompts, snapshots = [], {}, []
    for slug, label, version_id, snapshot, test_results in published:
        snapshots.append(snapshot)
        entry = {"slug": slug, "version": label, "version_id": str(version_id),
                 "tests": test_summary(test_results)}
        if snapshot.get("locks"):
            entry["locks"] = snapshot["locks"]
        prompt_sets.append(entry)
        set_config = snapshot.get("config") or {}
        for prompt_slug, prompt in snapshot["prompts"].items():
            if set_config or prompt.get("config"):  # the prompt's own configuration over its set's defaults
                prompt = {**prompt, "config": model_config.merge(set_config, prompt.get("config") or {})}
            prompts[f"{slug}.{prompt_slug}"] = prompt  # make_body ships only served members: never its tests
    # The locked versions the published prompts render as partials, so a LIVE client renders them offline.
    dependencies = [{"slug": v.prompt_set.slug, "version": v.label, "locks": v.snapshot.get("locks") or {},
                     "prompts": v.snapshot["prompts"]}
                    for v in prompt_queries.locked_versions(project_id, snapshots)]
    # Parameters were validated and normalised when each prompt was saved (prompts.validation);
    # make_body still normalises a declaration that is not in that form (say, from an imported archive).
    body = format.make_body(
        project={"id": str(project_id), "slug": project["slug"], "name": project["name"]},
        sequence=sequence, created_at=created_at, prompt_sets=prompt_sets, prompts=prompts, forge_key=forge_key,
        parameters_normalised=True, dependencies=dependencies, max_format=ceiling, channel=channel_name,
    )
    return format.seal(body, keys.private_key())

