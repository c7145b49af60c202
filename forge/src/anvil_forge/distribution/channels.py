"""Channels and their releases (no writes of their own: services.py and releases.py write).

A channel's newest release (its *head*) is what it distributes. A head that went to part of the channel (a
staged rollout) reaches the instances in its cohort; the others are served its ``previous`` release. Who
is in the cohort is decided here, once, for pull, stream and push alike:

* an instance named in ``instance_ids`` is in;
* otherwise it must match every one of ``labels`` (the client declares its labels) and its stable hash of
  the rollout and its instance id must fall within ``percentage``. The hash is salted with the rollout's
  id, so each rollout picks its own instances, and an expanded rollout keeps everyone it had.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from anvil_forge.core.errors import Conflict, NotFound, ValidationError

from .models import Channel, Publication

PRODUCTION = "production"
NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
MAX_LABELS = 20
LABEL_KEY = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")
MAX_LABEL_VALUE = 128
MAX_INSTANCE_IDS = 1000
RESERVED = frozenset({"definitions"})
BUCKETS = 10_000  # percentages to two decimals


class Cohort:
    ALL = "all"            # no partial rollout: every instance gets the head
    ROLLOUT = "rollout"    # in a partial rollout's cohort: the head
    PREVIOUS = "previous"  # outside it: the release before


def ensure_production(project) -> Channel:
    channel, _ = Channel.objects.get_or_create(project=project, name=PRODUCTION)
    return channel


def clean_name(value, field: str = "name") -> str:
    name = value.strip() if isinstance(value, str) else ""
    if name in RESERVED:
        raise ValidationError.field(field, f"{name!r} is reserved (the API's /channels/{name} is not a channel)")
    if not NAME.fullmatch(name):
        raise ValidationError.field(field, f"{field} must be 1-64 lower-case letters, digits and hyphens, "
                                           f"starting with a letter or digit (e.g. staging, canary)")
    return name


def named(project, name: str | None, field: str = "channel") -> Channel:
    """The project's channel ``name`` (default production); NotFound naming the channels it has."""
    name = name or PRODUCTION
    channel = Channel.objects.filter(project=project, name=name).select_related("project__organisation").first()
    if channel is None:
        if name == PRODUCTION:
            return ensure_production(project)
        known = ", ".join(Channel.objects.filter(project=project).values_list("name", flat=True))
        raise NotFound(f"project '{project.slug}' has no channel {name!r} (its channels: {known})",
                       [{"field": field, "message": "no such channel"}])
    return channel


def clean_labels(value, field: str = "labels") -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_LABELS:
        raise ValidationError.field(field, f"{field} must be an object of at most {MAX_LABELS} labels")
    for key, label in value.items():
        if not isinstance(key, str) or not LABEL_KEY.fullmatch(key):
            raise ValidationError.field(field, f"label name {key!r} must be 1-63 lower-case letters, digits, "
                                               f"'_', '.' and '-', starting with a letter or digit")
        if not isinstance(label, str) or len(label) > MAX_LABEL_VALUE or not label.isprintable():
            raise ValidationError.field(field, f"label {key!r} must be printable text of at most "
                                               f"{MAX_LABEL_VALUE} characters")
    return dict(sorted(value.items()))


def clean_rollout(data: dict | None) -> dict:
    """``{percentage, labels, instance_ids}`` checked; percentage defaults to 100 unless only instance ids
    are named (then 0: just those)."""
    data = data or {}
    if not isinstance(data, dict):
        raise ValidationError.field("rollout", "rollout must be an object {percentage, labels, instance_ids}")
    labels = clean_labels(data.get("labels"), "labels")
    ids = data.get("instance_ids") or []
    if not isinstance(ids, list) or len(ids) > MAX_INSTANCE_IDS or not all(
            isinstance(i, str) and 0 < len(i) <= 64 and i.isprintable() for i in ids):
        raise ValidationError.field("instance_ids", f"instance_ids must be a list of at most {MAX_INSTANCE_IDS} "
                                                    f"instance ids (1-64 printable characters each)")
    percentage = data.get("percentage")
    if percentage is None:
        percentage = 0 if ids and not labels else 100
    if isinstance(percentage, bool) or not isinstance(percentage, int) or not 0 <= percentage <= 100:
        raise ValidationError.field("percentage", "percentage must be a whole number from 0 to 100")
    if percentage == 0 and not ids:
        raise ValidationError.field("percentage", "a rollout to 0 % of the channel and no named instances "
                                                  "reaches nobody")
    return {"percentage": percentage, "labels": labels, "instance_ids": sorted(set(ids))}


@dataclass(frozen=True)
class Targets:
    """Whom a release reaches, as an announcement carries it (the fields :func:`in_cohort` reads)."""

    pk: str
    everyone: bool
    percentage: int
    labels: dict
    instance_ids: list

    @classmethod
    def of(cls, targets: dict) -> Targets:
        return cls(targets["release"], targets["everyone"], targets["percentage"], targets["labels"],
                   targets["instance_ids"])


def bucket(salt: str, instance_id: str) -> int:
    """The instance's stable place, 0..BUCKETS-1, in the rollout ``salt``."""
    digest = hashlib.sha256(f"{salt}/{instance_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def in_cohort(release: Publication | Targets, instance_id: str | None, labels: dict | None) -> bool:
    if release.everyone:
        return True
    if not instance_id:
        return False  # an anonymous pull cannot be placed: it keeps the previous release
    if instance_id in release.instance_ids:
        return True
    labels = labels or {}
    if any(labels.get(key) != value for key, value in release.labels.items()):
        return False
    return bucket(str(release.pk), instance_id) < release.percentage * (BUCKETS // 100)


def head(channel) -> Publication | None:
    """The channel's newest release (None: nothing published to it yet)."""
    return Publication.objects.filter(channel=channel).order_by("-sequence").select_related("previous").first()


def partial(release: Publication | None) -> bool:
    """Whether ``release`` is a rollout in progress (some of the channel keep the release before it)."""
    return release is not None and not release.everyone


def served_release(current: Publication | None, instance_id: str | None, labels: dict | None):
    """Of a channel whose head is ``current``, the release an instance is served."""
    if current is not None and partial(current) and not in_cohort(current, instance_id, labels):
        return current.previous
    return current


def release_for(channel, instance_id: str | None, labels: dict | None) -> tuple[Publication | None, str]:
    """The release an instance of ``channel`` is served, and its cohort (Cohort.*)."""
    current = head(channel)
    if not partial(current):
        return current, Cohort.ALL
    assert current is not None
    if in_cohort(current, instance_id, labels):
        return current, Cohort.ROLLOUT
    return current.previous, Cohort.PREVIOUS


def require_not_partial(channel, doing: str) -> Publication | None:
    """The channel's head; a Conflict if a rollout is in progress on it (``doing`` names what waits)."""
    current = head(channel)
    if partial(current):
        assert current is not None
        raise Conflict(f"channel '{channel.name}' has a rollout of sequence {current.sequence} in progress "
                       f"({describe_targets(current)}): expand it to everyone or roll it back before {doing}",
                       [{"field": "channel", "message": "rollout in progress"}])
    return current


def delete_refusal(channel) -> str:
    """Why the channel cannot be deleted ("": it can): production stays, and so does a channel LIVE clients
    follow (it has releases or access tokens)."""
    if channel.name == PRODUCTION:
        return "The production channel cannot be deleted."
    if channel.publications.exists() or channel.access_tokens.exists():
        return (f"Channel '{channel.name}' has releases or access tokens: LIVE clients follow it, so it stays "
                f"(revoke its tokens and stop publishing to it instead).")
    return ""


def rollback_target(current: Publication | None) -> Publication | None:
    """The release a roll back of a channel whose head is ``current`` restores: the one a rollout in progress
    kept the others on, else the release before the head (None: nothing to roll back to)."""
    if current is None:
        return None
    if partial(current):
        return current.previous
    return (Publication.objects.filter(channel_id=current.channel_id, sequence__lt=current.sequence)
            .order_by("-sequence").first())


def describe_targets(release: Publication) -> str:
    """``25 % of instances with region=eu, and 2 named instances``: who a rollout targets, in words."""
    if release.everyone:
        return "everyone"
    parts = []
    if release.percentage or not release.instance_ids:
        where = " with " + ", ".join(f"{k}={v}" for k, v in release.labels.items()) if release.labels else ""
        parts.append(f"{release.percentage} % of instances{where}")
    if release.instance_ids:
        n = len(release.instance_ids)
        parts.append(f"{n} named instance{'s' if n != 1 else ''}")
    return ", and ".join(parts)


DEFINITIONS_FORMAT = "anvil-channels"


def definitions(project) -> dict:
    """The project's channel definitions, as ``anvil channels export`` writes them (not their releases:
    those are the FORGE's own history)."""
    return {"format": DEFINITIONS_FORMAT, "format_version": 1, "project": project.slug,
            "channels": [{"name": c.name, "description": c.description, "requires_approval": c.requires_approval}
                         for c in Channel.objects.filter(project=project).order_by("name")]}


def parse_definitions(document) -> list[dict]:
    """The channels of a definitions document, checked (ValidationError names the problem)."""
    if not isinstance(document, dict) or document.get("format") != DEFINITIONS_FORMAT:
        raise ValidationError.field("format", f"not a channel definitions document (format must be "
                                              f"{DEFINITIONS_FORMAT!r})")
    if document.get("format_version") != 1:
        raise ValidationError.field("format_version", "format_version must be 1 (the only one there is)")
    items = document.get("channels")
    if not isinstance(items, list) or len(items) > 100:
        raise ValidationError.field("channels", "channels must be a list of at most 100 channels")
    seen, out = set(), []
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValidationError.field(f"channels[{n}]", "each channel must be an object")
        name = clean_name(item.get("name"), f"channels[{n}].name")
        if name in seen:
            raise ValidationError.field(f"channels[{n}].name", f"channel {name!r} is named twice")
        seen.add(name)
        description = item.get("description", "")
        approval = item.get("requires_approval", False)
        if not isinstance(description, str) or len(description) > 200:
            raise ValidationError.field(f"channels[{n}].description", "description must be text of at most 200 "
                                                                      "characters")
        if not isinstance(approval, bool):
            raise ValidationError.field(f"channels[{n}].requires_approval", "requires_approval must be true or "
                                                                            "false")
        out.append({"name": name, "description": description.strip(), "requires_approval": approval})
    return out


def describe_request(request) -> str:
    """``Greetings 1.3.0 to 25 %`` / ``what staging holds``: what a publish request would release."""
    if request.kind == "promote":
        what = f"what {request.source_channel} holds"
    else:
        what = f"{request.prompt_set.name} {request.version.label}"
    if request.rollout and request.rollout.get("percentage", 100) < 100:
        what += f" to {request.rollout['percentage']} %"
    return what
