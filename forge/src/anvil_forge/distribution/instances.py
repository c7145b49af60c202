"""LIVE instances: what running clients report about themselves (register / heartbeat)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlparse

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from anvil_forge.audit.services import record
from anvil_forge.core.errors import ValidationError
from anvil_forge.orgs import policy
from anvil_forge.orgs.policy import Action

from .models import AccessToken, LiveInstance, Mode


def _text(data: dict, field: str, limit: int, required: bool = False) -> str:
    value = data.get(field) or ""
    if not isinstance(value, str) or len(value) > limit or (required and not value):
        raise ValidationError.field(field, f"{field} must be {'a non-empty' if required else 'a'} string "
                                           f"of at most {limit} characters")
    return value


def _clean(data: dict) -> dict:
    mode = data.get("mode")
    if mode not in Mode.values:
        raise ValidationError.field("mode", f"mode must be one of {', '.join(Mode.values)}")
    receiver_url = _text(data, "receiver_url", 500)
    if receiver_url and (urlparse(receiver_url).scheme not in ("http", "https") or not urlparse(receiver_url).netloc):
        raise ValidationError.field("receiver_url", "receiver_url must be an http(s) URL")
    uses = data.get("use_counts") or {}
    if not isinstance(uses, dict) or not all(isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
                                             and v >= 0 for k, v in uses.items()):
        raise ValidationError.field("use_counts", "use_counts must map prompt ids to non-negative integers")
    return {
        "host": _text(data, "host", 255), "mode": mode, "receiver_url": receiver_url,
        "receiver_secret": _text(data, "receiver_secret", 128), **clean_held(data),
        "client_version": _text(data, "client_version", 32), "use_counts": uses,
    }


def clean_held(data: dict) -> dict:
    """The ``sequence`` and ``versions`` an instance reports holding (a heartbeat, or a receiver's answer)."""
    sequence = data.get("sequence")
    if sequence is not None and (not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 0):
        raise ValidationError.field("sequence", "sequence must be a non-negative integer or null")
    versions = data.get("versions") or {}
    if not isinstance(versions, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in versions.items()):
        raise ValidationError.field("versions", "versions must map prompt-set slugs to version labels")
    return {"sequence": sequence, "versions": versions}


GONE = timedelta(days=1)  # not heard from for this long: gone (a restarted app registers as a new instance)


def gone_since():
    return timezone.now() - GONE


@transaction.atomic
def register(token: AccessToken, data: dict) -> LiveInstance:
    """Create or refresh the instance ``data["instance_id"]`` of the token's project."""
    instance_id = _text(data, "instance_id", 64, required=True)
    fields = _clean(data)
    project_instances = LiveInstance.objects.filter(project=token.project)
    if not project_instances.filter(instance_id=instance_id).exists():
        limit = int(getattr(settings, "ANVIL_MAX_LIVE_INSTANCES", 10_000))
        if project_instances.filter(last_seen_at__gte=gone_since()).count() >= limit:
            raise ValidationError.field(
                "instance_id", f"project '{token.project.slug}' already has {limit} LIVE instances heard from in "
                               f"the last day, its limit (ANVIL_MAX_LIVE_INSTANCES): a new one is not registered")
    instance, created = LiveInstance.objects.select_for_update().update_or_create(
        project=token.project, instance_id=instance_id,
        defaults={**fields, "access_token": token, "last_seen_at": timezone.now()},
    )
    if created:
        record(None, token.project.organisation, "live_instance.register", instance,
               {"project": token.project.slug, "host": fields["host"], "mode": fields["mode"],
                "token": token.label}, target_type="live_instance")
    return instance


def stale_after() -> timedelta:
    return timedelta(seconds=getattr(settings, "ANVIL_LIVE_STALE_SECONDS", 180))


def is_stale(instance: LiveInstance) -> bool:
    return instance.last_seen_at < timezone.now() - stale_after()


def instances_for(user, project):
    policy.require(user, Action.VIEW, project.organisation, "project")
    return LiveInstance.objects.filter(project=project).order_by("-last_seen_at", "instance_id")


def overview(user, project, limit: int = 100) -> tuple[list[LiveInstance], int]:
    """What the project page shows: up to ``limit`` instances heard from in the last day (newest first,
    each with ``stale`` and its ``top_uses``), and how many are gone (each app start registers anew)."""
    listed = instances_for(user, project)
    recent = list(listed.filter(last_seen_at__gte=gone_since())[:limit])
    for instance in recent:
        instance.stale = is_stale(instance)
        instance.top_uses = sorted(instance.use_counts.items(), key=lambda kv: -kv[1])[:3]
    return recent, listed.filter(last_seen_at__lt=gone_since()).count()
