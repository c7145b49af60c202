"""Reads for users and their own things (API keys, sign-ins)."""

from __future__ import annotations

from . import magic_links
from .models import ApiKey, User
from .models import Scope as Scope  # handed out: adapters list the scopes


def api_keys_for(user, *, include_revoked: bool = False):
    """The user's API keys, newest first (only active ones unless ``include_revoked``)."""
    if not getattr(user, "is_authenticated", False):
        return ApiKey.objects.none()
    qs = ApiKey.objects.filter(user=user)
    if not include_revoked:
        qs = qs.filter(revoked_at__isnull=True)
    return qs.order_by("-created_at", "-id")


def active_user_by_email(email: str):
    """The active user with this e-mail address (any case), or None."""
    return User.objects.filter(email__iexact=(email or "").strip(), is_active=True).first()


def user_by_email(email: str):
    """The user with this e-mail address (any case, active or not), or None."""
    return User.objects.filter(email__iexact=(email or "").strip()).first()


def user_for_sign_in_link(uidb64: str, token: str):
    """The user a sign-in link signs in, or None when it is unknown, used, expired or tampered with."""
    return magic_links.user_for_link(uidb64, token)


def sign_in_link_minutes() -> int:
    return magic_links.lifetime_minutes()
