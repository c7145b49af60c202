"""Making releases: publish, promote, expand and roll back (services.py hands them out, in its transactions,
after its permission checks; the approval requests are in publish_requests.py).

Every release is the channel's sequence plus one and holds the channel's whole content; the project row is
locked first, so releases of one project are made one at a time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from django.db import transaction

from anvil_forge.audit.services import record
from anvil_forge.core.errors import Conflict
from anvil_forge.prompts import services as prompt_services
from anvil_forge.prompts.queries import Version

from . import channels, fanout
from .events import broker
from .models import Channel, Delivery, Publication, PublishedVersion, ReleaseKind


@dataclass
class Release:
    """What a publish, promote, expand or roll back did (``publication``: the channel's head after it)."""

    channel: Channel
    publication: Publication | None
    changed: bool  # False: the channel already held that content (nothing new was released)
    deliveries: list[Delivery] = field(default_factory=list)  # the pushes it queued

    @property
    def sequence(self) -> int:
        return self.publication.sequence if self.publication else 0


def content_of(release: Publication | None) -> dict[str, str]:
    return dict(release.content) if release else {}


def make(actor, channel: Channel, content: dict[str, str], *, kind: str, rollout: dict | None = None,
         prompt_set=None, version: Version | None = None, source_channel: str = "",
         restores: Publication | None = None, requested_by=None) -> Release:
    """A new release of ``channel`` holding ``content``; to everyone, or to ``rollout``'s cohort (the others
    keep the current head). ``requested_by``: who asked, when ``actor`` approved their request."""
    current = channels.require_not_partial(channel, "releasing again")
    if current is not None and current.content == content and kind != ReleaseKind.ROLLBACK:
        return Release(channel, current, False)
    targets = check_rollout(channel, current, rollout)
    staged = targets != EVERYONE
    publisher = requested_by or actor
    publication = Publication.objects.create(
        project_id=channel.project_id, channel=channel, sequence=(current.sequence if current else 0) + 1,
        kind=kind, prompt_set=prompt_set, version=version, content=content, source_channel=source_channel,
        restores_sequence=restores.sequence if restores else None,
        previous=current if staged else None, published_by=publisher,
        approved_by=actor if requested_by is not None else None, **(targets if staged else {}))
    _set_published(channel, content)
    for version_id in content.values():
        prompt_services.mark_published_id(version_id)
    _announce(channel, publication)
    return Release(channel, publication, True, fanout.plan(publication))


EVERYONE: dict = {"percentage": 100, "labels": {}, "instance_ids": []}


def check_rollout(channel: Channel, current: Publication | None, rollout: dict | None) -> dict:
    """``rollout`` checked (ValidationError names the field), or EVERYONE for none; a Conflict if it would
    stage the channel's first release (the rest of the channel would have nothing to keep)."""
    targets: dict = channels.clean_rollout(rollout) if rollout else EVERYONE
    staged = targets["percentage"] < 100 or bool(targets["labels"]) or bool(targets["instance_ids"])
    if staged and current is None:
        raise Conflict(f"channel '{channel.name}' has no release yet: its first one goes to everyone (a rollout "
                       f"needs a previous release for the rest of the channel to keep)",
                       [{"field": "percentage", "message": "first release of the channel"}])
    return targets if staged else EVERYONE


def expand(actor, channel: Channel, rollout: dict) -> Release:
    """Widen the rollout in progress on ``channel`` (a larger percentage, fewer label conditions, more named
    instances, or everyone); a cohort only grows, since an instance never goes back to an older sequence."""
    current = channels.head(channel)
    if not channels.partial(current):
        raise Conflict(f"channel '{channel.name}' has no rollout in progress"
                       + (f": sequence {current.sequence} already reaches everyone" if current else ""),
                       [{"field": "channel", "message": "no rollout in progress"}])
    assert current is not None
    wanted = channels.clean_rollout({"percentage": rollout.get("percentage", current.percentage),
                                     "labels": rollout.get("labels", current.labels),
                                     "instance_ids": sorted(set(current.instance_ids)
                                                            | set(rollout.get("instance_ids") or []))})
    if rollout.get("everyone"):
        wanted = {"percentage": 100, "labels": {}, "instance_ids": wanted["instance_ids"]}
    if wanted["percentage"] < current.percentage or any(
            current.labels.get(key) != value for key, value in wanted["labels"].items()):
        raise Conflict(f"a rollout only grows (now {channels.describe_targets(current)}): instances that took "
                       f"sequence {current.sequence} cannot go back to the release before it; roll it back "
                       f"instead", [{"field": "percentage", "message": "smaller than the rollout"}])
    if (wanted["percentage"], wanted["labels"], wanted["instance_ids"]) == (
            current.percentage, current.labels, sorted(current.instance_ids)):
        raise Conflict(f"the rollout already reaches {channels.describe_targets(current)}: expand it to a larger "
                       f"percentage, fewer label conditions, more named instances or everyone",
                       [{"field": "percentage", "message": "not larger than the rollout"}])
    before = channels.describe_targets(current)
    Publication.objects.filter(pk=current.pk).update(**wanted)
    current.refresh_from_db()
    record(actor, channel.project.organisation, "channel.expand", channel,
           {"project": channel.project.slug, "channel": channel.name, "sequence": current.sequence,
            "from": before, "to": channels.describe_targets(current)}, target_type="channel")
    _announce(channel, current)
    return Release(channel, current, True, fanout.plan(current))


def rollback(actor, channel: Channel) -> Release:
    """A new release of ``channel`` restoring, for everyone, the content before its newest release: the
    release a rollout in progress kept the others on, or else the release before the newest."""
    current = channels.head(channel)
    if current is None:
        raise Conflict(f"channel '{channel.name}' has no release to roll back",
                       [{"field": "channel", "message": "nothing published"}])
    target = channels.rollback_target(current)
    if target is None:
        raise Conflict(f"sequence {current.sequence} is the first release of channel '{channel.name}': there is "
                       f"no earlier content to roll back to", [{"field": "channel", "message": "first release"}])
    if channels.partial(current):  # the rollout ends here: the roll back reaches everyone
        Publication.objects.filter(pk=current.pk).update(percentage=100, labels={}, instance_ids=[])
    return make(actor, channel, content_of(target), kind=ReleaseKind.ROLLBACK, restores=target)


def _set_published(channel: Channel, content: dict[str, str]) -> None:
    PublishedVersion.objects.filter(channel=channel).exclude(prompt_set_id__in=[*content]).delete()
    for set_id, version_id in content.items():
        PublishedVersion.objects.update_or_create(channel=channel, prompt_set_id=uuid.UUID(set_id),
                                                  defaults={"project_id": channel.project_id,
                                                            "version_id": version_id})


def _announce(channel: Channel, release: Publication) -> None:
    """Tell the channel's streams, once committed, of its head and whom it reaches (so each stream places
    its instance without a query, and one outside a rollout's cohort is told nothing new)."""
    project_id, name, sequence = channel.project_id, channel.name, release.sequence
    previous = release.previous if not release.everyone else None
    targets = {"release": str(release.pk), "everyone": release.everyone, "percentage": release.percentage,
               "labels": release.labels, "instance_ids": release.instance_ids,
               "previous_release": str(previous.pk) if previous else None,
               "previous_sequence": previous.sequence if previous else None}
    transaction.on_commit(lambda: broker.announce(project_id, sequence, name, targets))  # the fastest path
