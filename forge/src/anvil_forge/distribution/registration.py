"""What a LIVE instance reports about itself (register / heartbeat, a receiver's answer), checked; and when an
instance counts as stale or gone. The registration itself is ``services.register_instance``."""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from urllib.parse import urlsplit

import idna

from django.conf import settings
from django.utils import timezone

from anvil_forge.core.errors import ValidationError

from . import channels
from .models import LiveInstance, Mode


# What one instance may tell about itself, at most: the page shows the top uses, so a client sends its top
# MAX_USE_COUNTS; a project with more prompt sets than MAX_VERSIONS is far beyond any real one.
MAX_VERSIONS = 500
MAX_USE_COUNTS = 100
MAX_COUNT = 2**53  # a use count JSON numbers carry exactly everywhere
# RFC 6750's b64token: what an `Authorization: Bearer` header can carry (the FORGE presents this on pushes).
SECRET = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def text(data: dict, field: str, limit: int, required: bool = False) -> str:
    value = data.get(field) or ""
    if not isinstance(value, str) or len(value) > limit or (required and not value):
        raise ValidationError.field(field, f"{field} must be {'a non-empty' if required else 'a'} string "
                                           f"of at most {limit} characters")
    if not value.isprintable():
        raise ValidationError.field(field, f"{field} must not contain control or unprintable characters")
    return value


def _check_host(host: str) -> None:
    """An IP address or a DNS name whose every label is valid (IDNA-encoded for non-ASCII names)."""
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    try:
        ascii_host = idna.encode(host, uts46=True).decode("ascii") if not host.isascii() else host
        labels = ascii_host.rstrip(".").split(".")
        if not all(HOST_LABEL.fullmatch(label) for label in labels):
            raise ValueError(host)
        for label in labels:
            if label.lower().startswith("xn--"):
                idna.decode(label)  # a malformed A-label (e.g. "xn--") is refused here, not at push time
    except (ValueError, idna.IDNAError):
        raise ValidationError.field("receiver_url", f"receiver_url's host {host!r} is not a valid host name") from None


def _receiver_url(data: dict) -> str:
    url = text(data, "receiver_url", 500)
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 — raises ValueError for a port that is not a number in 0-65535
    except ValueError:
        raise ValidationError.field("receiver_url", "receiver_url is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError.field("receiver_url", "receiver_url must be an http(s) URL with a host")
    if parts.username is not None or parts.password is not None:
        raise ValidationError.field("receiver_url", "receiver_url must not carry credentials (the secret is sent "
                                                    "in receiver_secret)")
    if any(c.isspace() for c in url):
        raise ValidationError.field("receiver_url", "receiver_url must not contain spaces")
    _check_host(parts.hostname)
    return url


def check_url(url: str) -> None:
    """A stored receiver URL checked as registration checks it (fanout: rows stored before the checks)."""
    _receiver_url({"receiver_url": url})


def _receiver_secret(data: dict, receiver_url: str) -> str:
    secret = text(data, "receiver_secret", 128)
    if receiver_url and not secret:
        raise ValidationError.field("receiver_secret", "receiver_secret is needed with a receiver_url")
    if secret and not SECRET.fullmatch(secret):
        raise ValidationError.field("receiver_secret", "receiver_secret may hold only ASCII letters, digits and "
                                                       "-._~+/ (it is sent in an HTTP header)")
    return secret


def _use_counts(data: dict) -> dict:
    uses = data.get("use_counts") or {}
    if not isinstance(uses, dict) or not all(isinstance(k, str) and 0 < len(k) <= 200 and isinstance(v, int)
                                             and not isinstance(v, bool) and 0 <= v <= MAX_COUNT
                                             for k, v in uses.items()):
        raise ValidationError.field("use_counts", "use_counts must map prompt ids (up to 200 characters) to "
                                                  f"integers from 0 to {MAX_COUNT}")
    if len(uses) > MAX_USE_COUNTS:
        raise ValidationError.field("use_counts", f"use_counts has {len(uses)} entries; at most {MAX_USE_COUNTS} "
                                                  f"(send the most used)")
    return uses


def clean(data: dict) -> dict:
    """The fields of a registration or heartbeat other than ``instance_id``, checked (ValidationError names
    the field)."""
    mode = data.get("mode")
    if mode not in Mode.values:
        raise ValidationError.field("mode", f"mode must be one of {', '.join(Mode.values)}")
    receiver_url = _receiver_url(data)
    return {
        "host": text(data, "host", 255), "mode": mode, "receiver_url": receiver_url,
        "receiver_secret": _receiver_secret(data, receiver_url), **clean_held(data),
        "client_version": text(data, "client_version", 32), "use_counts": _use_counts(data),
        "bundle_formats": _bundle_formats(data), "labels": channels.clean_labels(data.get("labels")),
        "last_error": text(data, "last_error", 2000)[:500],
    }


def _bundle_formats(data: dict) -> list[int]:
    formats = data.get("bundle_formats") or [1]  # a client of the first release reads format 1 only
    if not isinstance(formats, list) or len(formats) > 16 or not all(
            isinstance(f, int) and not isinstance(f, bool) and 1 <= f <= 1000 for f in formats):
        raise ValidationError.field("bundle_formats", "bundle_formats must be a list of up to 16 format versions "
                                                      "(integers from 1 to 1000)")
    return sorted(set(formats))


def clean_held(data: dict) -> dict:
    """The ``sequence`` and ``versions`` an instance reports holding (a heartbeat, or a receiver's answer)."""
    sequence = data.get("sequence")
    if sequence is not None and (not isinstance(sequence, int) or isinstance(sequence, bool)
                                 or not 0 <= sequence <= MAX_SEQUENCE):
        raise ValidationError.field("sequence", f"sequence must be an integer from 0 to {MAX_SEQUENCE}, or null")
    versions = data.get("versions") or {}
    if not isinstance(versions, dict) or not all(isinstance(k, str) and 0 < len(k) <= 64 and isinstance(v, str)
                                                 and len(v) <= 128 for k, v in versions.items()):
        raise ValidationError.field("versions", "versions must map prompt-set slugs (up to 64 characters) to "
                                                "version labels (up to 128)")
    if len(versions) > MAX_VERSIONS:
        raise ValidationError.field("versions", f"versions has {len(versions)} entries; at most {MAX_VERSIONS}")
    return {"sequence": sequence, "versions": versions}


MAX_SEQUENCE = 2**31 - 1  # the column is a PositiveIntegerField (int4 on PostgreSQL)
GONE = timedelta(days=1)  # not heard from for this long: gone (a restarted app registers as a new instance)


def gone_since():
    return timezone.now() - GONE


def stale_after() -> timedelta:
    return timedelta(seconds=settings.ANVIL_LIVE_STALE_SECONDS)


def is_stale(instance: LiveInstance) -> bool:
    return instance.last_seen_at < timezone.now() - stale_after()
