"""Reads for users' own things: API keys."""

from __future__ import annotations

from .models import ApiKey


def api_keys_for(user, *, include_revoked: bool = False):
    """The user's API keys, newest first (only active ones unless ``include_revoked``)."""
    if not getattr(user, "is_authenticated", False):
        return ApiKey.objects.none()
    qs = ApiKey.objects.filter(user=user)
    if not include_revoked:
        qs = qs.filter(revoked_at__isnull=True)
    return qs.order_by("-created_at", "-id")
