"""Writes for users. Sign-up gives every user a personal organisation."""

from __future__ import annotations

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction

from anvil_forge.audit.services import record
from anvil_forge.core.errors import Conflict, ValidationError

from .models import User


def normalise_email(email: str) -> str:
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except DjangoValidationError:
        raise ValidationError.field("email", f"{email!r} is not a valid e-mail address") from None
    return email


def check_password(password: str, user: User | None = None) -> None:
    try:
        password_validation.validate_password(password, user)
    except DjangoValidationError as exc:
        raise ValidationError("password is not acceptable", [{"field": "password", "message": m} for m in exc.messages]) from None


@transaction.atomic
def create_user(email: str, password: str | None = None, *, display_name: str = "", site_admin: bool = False) -> User:
    """Create a user with a personal organisation. ``password=None`` makes a magic-link-only account."""
    from anvil_forge.orgs.services import create_personal_organisation

    email = normalise_email(email)
    if User.objects.filter(email__iexact=email).exists():
        raise Conflict(f"a user with e-mail {email} already exists", [{"field": "email", "message": "already registered"}])
    user = User(email=email, display_name=display_name.strip(), is_staff=site_admin, is_superuser=site_admin)
    if password is None:
        user.set_unusable_password()
    else:
        check_password(password, user)
        user.set_password(password)
    user.save()
    organisation = create_personal_organisation(user)
    record(user, organisation, "user.signup", user, {"site_admin": site_admin})
    return user


@transaction.atomic
def set_password(actor: User, user: User, password: str) -> None:
    if actor.pk != user.pk:
        raise ValidationError("you can only change your own password")
    check_password(password, user)
    user.set_password(password)
    user.save(update_fields=["password", "updated_at"])
    record(actor, None, "user.password_changed", user)


@transaction.atomic
def update_profile(actor: User, *, display_name: str) -> User:
    actor.display_name = display_name.strip()[:150]
    actor.save(update_fields=["display_name", "updated_at"])
    return actor
