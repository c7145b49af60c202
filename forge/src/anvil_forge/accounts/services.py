"""Writes for users. Sign-up gives every user a personal organisation."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate, password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from anvil_forge.audit.services import record
from anvil_forge.core.errors import Conflict, NotFound, ValidationError
from anvil_forge.core.tokens import hash_secret, new_secret

from . import magic_links, verification
from .throttle import Throttled as Throttled  # raised by the throttled writes below; adapters catch it
from .throttle import login_throttle, mail_throttle
from .models import ApiKey, Scope, User

API_KEY_PREFIX = "ank_"
# last_used_at is written at most this often per key, so using a key is not a write per request.
API_KEY_TOUCH_INTERVAL = timedelta(minutes=1)
API_KEY_MAX_LIFETIME = timedelta(days=3660)  # ten years: a longer expiry is a typo, not a plan


def normalise_email(email: str) -> str:
    email = (email or "").strip().lower()
    try:
        if len(email) > 254:  # the column's size (RFC 5321 allows no longer address)
            raise DjangoValidationError("too long")
        validate_email(email)
    except DjangoValidationError:
        raise ValidationError.field("email", f"{email!r} is not a valid e-mail address") from None
    return email


def check_password(password: str, user: User | None = None) -> None:
    try:
        password_validation.validate_password(password, user)
    except DjangoValidationError as exc:
        raise ValidationError("password is not acceptable", [{"field": "password", "message": m} for m in exc.messages]) from None


def create_account(email: str, password: str | None = None, *, display_name: str = "", site_admin: bool = False,
                   email_verified: bool = False) -> User:
    """The user row only, inside the caller's transaction: ``orgs.services.create_user`` makes a user with
    their personal organisation, which every user has. ``password=None`` makes a magic-link-only account.
    ``email_verified`` is for callers who vouch for the address (the operator's commands)."""
    email = normalise_email(email)
    if User.objects.filter(email__iexact=email).exists():
        raise Conflict(f"a user with e-mail {email} already exists", [{"field": "email", "message": "already registered"}])
    user = User(email=email, display_name=display_name.strip(), is_staff=site_admin, is_superuser=site_admin,
                email_verified_at=timezone.now() if email_verified else None)
    if password is None:
        user.set_unusable_password()
    else:
        check_password(password, user)
        user.set_password(password)
    user.save()
    return user


def signup_mode() -> str:
    return settings.ANVIL_SIGNUP


def send_confirmation_link(user: User) -> bool:
    """E-mail ``user`` a link that confirms their address (once the transaction commits)."""
    transaction.on_commit(lambda: verification.send_link(user))
    return True


@transaction.atomic
def mark_email_verified(user: User, how: str) -> bool:
    """Record that ``user`` proved they read their e-mail address (``how``: the kind of link they used).
    Returns whether this changed anything (a verified address stays verified)."""
    changed = User.objects.filter(pk=user.pk, email_verified_at__isnull=True).update(email_verified_at=timezone.now())
    user.refresh_from_db(fields=["email_verified_at"])
    if changed:
        record(user, getattr(user, "personal_organisation", None), "user.verify_email", user, {"by": how})
    return bool(changed)


@transaction.atomic
def set_password(actor: User, user: User, password: str, *, revoke_api_keys: bool = False) -> int:
    """Change the actor's own password; with ``revoke_api_keys``, every active key of theirs is revoked too
    (a changed password often means a leaked one). Returns how many keys were revoked."""
    if actor.pk != user.pk:
        raise ValidationError("you can only change your own password")
    check_password(password, user)
    user.set_password(password)
    user.save(update_fields=["password", "updated_at"])
    revoked = _revoke_all_api_keys(user) if revoke_api_keys else 0
    record(actor, None, "user.password_changed", user, {"api_keys_revoked": revoked})
    return revoked


def _revoke_all_api_keys(user: User) -> int:
    now = timezone.now()
    keys = list(ApiKey.objects.select_for_update().filter(user=user, revoked_at__isnull=True))
    for key in keys:
        key.revoked_at = now
        key.save(update_fields=["revoked_at", "updated_at"])
        record(user, None, "api_key.revoke", key, {"name": key.name, "prefix": key.prefix, "why": "password changed"},
               target_type="api_key")
    return len(keys)


@transaction.atomic
def update_profile(actor: User, *, display_name: str) -> User:
    actor.display_name = display_name.strip()[:150]
    actor.save(update_fields=["display_name", "updated_at"])
    return actor


# --- API keys ---------------------------------------------------------------------

def _check_scopes(scopes) -> list[str]:
    if isinstance(scopes, str):
        scopes = [s for s in (part.strip() for part in scopes.split(",")) if s]
    if not isinstance(scopes, (list, tuple, set)) or not scopes:
        raise ValidationError.field("scopes", f"give at least one scope: {', '.join(Scope.values)}")
    unknown = [s for s in scopes if s not in Scope.values]
    if unknown:
        raise ValidationError.field("scopes", f"unknown scope {unknown[0]!r}: use {', '.join(Scope.values)}")
    return [s for s in Scope.values if s in scopes]  # canonical order, no duplicates


def _check_key_name(name) -> str:
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name or len(name) > 100:
        raise ValidationError.field("name", "name must be 1-100 characters")
    return name


@transaction.atomic
def _check_expiry(expires_at):
    if expires_at is None:
        return None
    now = timezone.now()
    if timezone.is_naive(expires_at):
        raise ValidationError.field("expires_at", "give the expiry with a time zone (e.g. 2027-01-31T00:00:00Z)")
    if expires_at <= now:
        raise ValidationError.field("expires_at", "the expiry must be in the future")
    if expires_at > now + API_KEY_MAX_LIFETIME:
        raise ValidationError.field("expires_at", f"the expiry must be within {API_KEY_MAX_LIFETIME.days} days "
                                                  f"(or none, for a key that does not expire)")
    return expires_at


def create_api_key(actor: User, name: str, scopes, expires_at=None) -> tuple[ApiKey, str]:
    """A new key for the actor, optionally expiring at ``expires_at``. Returns the key and its secret, which
    is never stored nor shown again."""
    if not getattr(actor, "is_authenticated", False) or not actor.is_active:
        raise ValidationError("you must be signed in")
    name = _check_key_name(name)
    scopes = _check_scopes(scopes)
    expires_at = _check_expiry(expires_at)
    secret = new_secret(API_KEY_PREFIX)
    key = ApiKey.objects.create(user=actor, name=name, scopes=scopes, key_hash=hash_secret(secret),
                                prefix=secret[:12], expires_at=expires_at)
    record(actor, None, "api_key.create", key,
           {"name": name, "scopes": scopes, "prefix": key.prefix,
            "expires_at": expires_at.isoformat() if expires_at else None}, target_type="api_key")
    return key, secret


@transaction.atomic
def revoke_api_key(actor: User, key_id) -> ApiKey:
    """Revoke one of the actor's own keys (someone else's, or an already revoked one, is not found)."""
    from .queries import api_keys_for

    try:
        key = api_keys_for(actor).select_for_update().filter(pk=key_id).first()
    except (ValueError, TypeError, DjangoValidationError):
        key = None
    if key is None:
        raise NotFound("API key not found")
    key.revoked_at = timezone.now()
    key.save(update_fields=["revoked_at", "updated_at"])
    record(actor, None, "api_key.revoke", key, {"name": key.name, "prefix": key.prefix}, target_type="api_key")
    return key


def authenticate_api_key(secret: str) -> ApiKey | None:
    """The active key with this secret (its user active too), or None. Records the use, throttled."""
    if not isinstance(secret, str) or not secret.startswith(API_KEY_PREFIX) or len(secret) > 200:
        return None
    key = (ApiKey.objects.select_related("user")
           .filter(key_hash=hash_secret(secret), revoked_at__isnull=True, user__is_active=True).first())
    now = timezone.now()
    if key is None or (key.expires_at is not None and key.expires_at <= now):
        return None
    if key.last_used_at is None or now - key.last_used_at >= API_KEY_TOUCH_INTERVAL:
        stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - API_KEY_TOUCH_INTERVAL)
        # Conditional, so concurrent requests write once; updated_at is left alone (use is not an edit).
        ApiKey.objects.filter(stale, pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


# --- sign-ins (audited; organisation-less events, read by site admins and on the user's account page) ---

def record_sign_in(user: User, method: str, address: str) -> None:
    """A user signed in (``method``: password, sign-in link, sign-up)."""
    record(user, None, "user.sign_in", user, {"method": method, "address": address})


def record_failed_sign_in(email: str, address: str, *, locked: bool) -> None:
    """A wrong e-mail or password. Bounded by the throttle (each failure is counted before it is checked),
    so a flood of guesses cannot flood the log. ``locked``: this failure used up the address's last try."""
    email = (email or "").strip().lower()[:254]
    user = User.objects.filter(email=email).first()
    record(None, None, "user.sign_in_failed", user, {"email": email, "address": address, "locked": locked},
           target_type="user")


# --- signing in, and the links that prove a mailbox (throttled here, so every adapter gets the same rules) --

def sign_in(email: str, password: str, *, client_address: str, request=None) -> User:
    """Check a password sign-in under the throttle; returns the user or raises Throttled / ValidationError.
    Failures are audited (``user.sign_in_failed``); the caller records the sign-in (:func:`record_sign_in`)."""
    throttle = login_throttle()
    throttle.take(email, client_address)
    user = authenticate(request, username=(email or "").strip().lower(), password=password or "")
    if user is None:
        record_failed_sign_in(email, client_address, locked=throttle.remaining(email) == 0)
        raise ValidationError("E-mail address or password is not right.",
                              [{"field": "password", "message": "e-mail address or password is not right"}])
    throttle.forgive(email, client_address)
    return user


def take_mail_allowance(email: str, client_address: str) -> None:
    """Count one e-mail asked for (sign-up, sign-in link, confirmation, password reset); Throttled when
    this address or network has asked for too many lately."""
    mail_throttle().take(email, client_address)


def send_sign_in_link(email: str, client_address: str) -> int:
    """E-mail a sign-in link if an active account has this address (the caller's answer must not say
    whether it has). Throttled first. Returns the link's lifetime in minutes."""
    take_mail_allowance(email, client_address)
    magic_links.send_link(email)
    return magic_links.lifetime_minutes()


def send_confirmation(user: User, client_address: str) -> bool:
    """E-mail ``user`` a link confirming their address now (throttled); False when it is confirmed already."""
    take_mail_allowance(user.email, client_address)
    return verification.send_link(user)


@transaction.atomic
def use_sign_in_link(user: User) -> User:
    """The user opened a sign-in link and signs in: the link reached their mailbox, which confirms it."""
    mark_email_verified(user, "sign-in link")
    return user


@transaction.atomic
def confirm_email(uidb64: str, token: str) -> User | None:
    """Confirm an address with the link sent to it; None when the link is not valid (used, expired, forged)."""
    user = verification.user_for_link(uidb64, token)
    if user is not None:
        mark_email_verified(user, "verification link")
    return user


@transaction.atomic
def reset_password(user: User, password: str) -> None:
    """Set the password from a reset link: validated and audited, and the link proved the mailbox."""
    set_password(user, user, password)
    mark_email_verified(user, "password reset")
