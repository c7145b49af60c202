"""Writes for organisations, memberships and invitations.

Rules kept here: names are globally unique; a personal organisation cannot be
deleted and its owner cannot be demoted, removed or joined by another owner
(it cannot be transferred); every organisation keeps at least one owner.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from anvil_forge.audit.services import record
from anvil_forge.core.errors import Conflict, NotFound, ValidationError
from anvil_forge.core.slugs import check_slug, make_slug
from anvil_forge.core.tokens import hash_secret, new_secret

from . import policy
from .models import Invitation, Membership, Organisation, Role
from .policy import Action

INVITATION_LIFETIME = timedelta(days=7)


def _unique_name_and_slug(base_name: str) -> tuple[str, str]:
    name, n = base_name, 1
    while Organisation.objects.filter(name__iexact=name).exists():
        n += 1
        name = f"{base_name} ({n})"
    base_slug = make_slug(base_name)
    slug, n = base_slug, 1
    while Organisation.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base_slug[:60]}-{n}"
    return name, slug


def _check_name(name: str, exclude=None) -> str:
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationError.field("name", "name must be 1-100 characters")
    clash = Organisation.objects.filter(name__iexact=name)
    if exclude is not None:
        clash = clash.exclude(pk=exclude.pk)
    if clash.exists():
        raise Conflict(f"an organisation named {name!r} already exists", [{"field": "name", "message": "already taken"}])
    return name


def _check_org_slug(slug: str, exclude=None) -> str:
    check_slug(slug)
    clash = Organisation.objects.filter(slug=slug)
    if exclude is not None:
        clash = clash.exclude(pk=exclude.pk)
    if clash.exists():
        raise Conflict(f"the slug {slug!r} is taken", [{"field": "slug", "message": "already taken"}])
    return slug


def _check_role(role: str) -> str:
    if role not in Role.values:
        raise ValidationError.field("role", f"role {role!r} is not one of {', '.join(Role.values)}")
    return role


@transaction.atomic
def create_personal_organisation(user) -> Organisation:
    name, slug = _unique_name_and_slug(user.display_name or user.email.split("@")[0])
    organisation = Organisation.objects.create(
        name=name, slug=slug, personal=True, personal_for=user, description=f"Personal organisation of {user.email}"
    )
    Membership.objects.create(user=user, organisation=organisation, role=Role.OWNER)
    return organisation


@transaction.atomic
def create_organisation(actor, name: str, slug: str | None = None, description: str = "") -> Organisation:
    if not actor.is_authenticated:
        raise ValidationError("you must be signed in")
    name = _check_name(name)
    slug = _check_org_slug(slug or make_slug(name))
    try:
        with transaction.atomic():
            organisation = Organisation.objects.create(name=name, slug=slug, description=description or "")
    except IntegrityError:
        raise Conflict(f"an organisation named {name!r} or with slug {slug!r} already exists") from None
    Membership.objects.create(user=actor, organisation=organisation, role=Role.OWNER)
    record(actor, organisation, "organisation.create", organisation, {"name": name})
    return organisation


@transaction.atomic
def update_organisation(actor, organisation: Organisation, *, name=None, slug=None, description=None) -> Organisation:
    policy.require(actor, Action.EDIT_ORGANISATION, organisation)
    changes = {}
    if name is not None and name != organisation.name:
        changes["name"] = _check_name(name, exclude=organisation)
    if slug is not None and slug != organisation.slug:
        changes["slug"] = _check_org_slug(slug, exclude=organisation)
    if description is not None and description != organisation.description:
        changes["description"] = description
    if changes:
        for field, value in changes.items():
            setattr(organisation, field, value)
        organisation.save()
        record(actor, organisation, "organisation.update", organisation, {"fields": sorted(changes)})
    return organisation


@transaction.atomic
def delete_organisation(actor, organisation: Organisation) -> None:
    policy.require(actor, Action.EDIT_ORGANISATION, organisation)
    if organisation.personal:
        raise Conflict("a personal organisation cannot be deleted")
    from anvil_forge.prompts.services import ensure_projects_deletable

    ensure_projects_deletable(organisation.projects.all())
    # Recorded in the organisation's own history, which outlives it (AuditEvent.organisation is SET_NULL).
    record(actor, organisation, "organisation.delete", organisation,
           {"name": organisation.name, "id": str(organisation.pk)})
    organisation.delete()


def _membership(organisation, user) -> Membership:
    membership = (
        Membership.objects.select_for_update().filter(organisation=organisation, user=user).select_related("user").first()
    )
    if membership is None:
        raise NotFound("member not found")
    return membership


def _ensure_other_owner(organisation, leaving: Membership) -> None:
    owners = Membership.objects.select_for_update().filter(organisation=organisation, role=Role.OWNER)
    if not owners.exclude(pk=leaving.pk).exists():
        raise Conflict(f"{organisation.name} must keep at least one owner: make someone else owner first")


def _personal_owner(organisation, user) -> bool:
    return organisation.personal and organisation.personal_for_id == user.pk


@dataclass
class InviteResult:
    invitation: Invitation
    joined: Membership | None  # set when the e-mail belonged to a user with a verified address, who joined at once
    token: str | None  # the secret link token, for anyone else (sent by e-mail)


@transaction.atomic
def invite_member(actor, organisation: Organisation, email: str, role: str) -> InviteResult:
    from anvil_forge.accounts.models import User
    from anvil_forge.accounts.services import normalise_email

    policy.require(actor, Action.MANAGE_MEMBERS, organisation)
    email = normalise_email(email)
    _check_role(role)
    if organisation.personal and role == Role.OWNER:
        raise Conflict("a personal organisation has exactly one owner; invite as admin or member")
    if Membership.objects.filter(organisation=organisation, user__email__iexact=email).exists():
        raise Conflict(f"{email} is already a member of {organisation.name}")
    token = new_secret("inv_")
    now = timezone.now()
    invitation = Invitation.objects.create(
        organisation=organisation, email=email, role=role, token_hash=hash_secret(token),
        invited_by=actor, expires_at=now + INVITATION_LIFETIME,
    )
    existing = User.objects.filter(email__iexact=email, is_active=True).first()
    joined = None
    # Only a verified address joins at once: anyone may sign up with someone else's address, and must
    # not be pulled into that person's organisations by it (accounts/verification.py).
    if existing is not None and existing.email_verified_at is not None:
        joined = Membership.objects.create(user=existing, organisation=organisation, role=role)
        invitation.accepted_at, invitation.accepted_by = now, existing
        invitation.save(update_fields=["accepted_at", "accepted_by", "updated_at"])
        record(actor, organisation, "member.add", existing, {"email": email, "role": role})
        token = None
    else:
        link = f"{settings.ANVIL_BASE_URL}/invitations/{token}"
        step = "Sign in and join" if existing is not None else "Set up your account and join"
        transaction.on_commit(lambda: send_mail(
            f"You are invited to {organisation.name} on Anvil",
            f"{actor.email} invited you to join {organisation.name} as {role}.\n\n"
            f"{step}: {link}\n\nThe link is valid for 7 days.",
            None, [email],
        ))
        record(actor, organisation, "member.invite", invitation, {"email": email, "role": role}, target_type="invitation")
    return InviteResult(invitation, joined, token)


@transaction.atomic
def accept_invitation(user, token: str) -> Membership:
    from anvil_forge.accounts.services import mark_email_verified

    invitation = Invitation.objects.select_for_update().filter(token_hash=hash_secret(token or "")).first()
    if invitation is None or invitation.accepted_at is not None or invitation.expires_at < timezone.now():
        raise NotFound("this invitation is not valid any more (used, expired or unknown)")
    if invitation.email.lower() != user.email.lower():
        raise ValidationError(f"this invitation is for {invitation.email}, not {user.email}")
    membership, _ = Membership.objects.get_or_create(
        user=user, organisation=invitation.organisation, defaults={"role": invitation.role}
    )
    invitation.accepted_at, invitation.accepted_by = timezone.now(), user
    invitation.save(update_fields=["accepted_at", "accepted_by", "updated_at"])
    record(user, invitation.organisation, "member.join", user, {"role": membership.role})
    mark_email_verified(user, "invitation")  # the link was e-mailed to this address
    return membership


@transaction.atomic
def change_role(actor, organisation: Organisation, user, role: str) -> Membership:
    policy.require(actor, Action.MANAGE_MEMBERS, organisation)
    _check_role(role)
    membership = _membership(organisation, user)
    if membership.role == role:
        return membership
    if _personal_owner(organisation, user):
        raise Conflict("the owner of a personal organisation cannot be changed")
    if organisation.personal and role == Role.OWNER:
        raise Conflict("a personal organisation has exactly one owner")
    if membership.role == Role.OWNER:
        _ensure_other_owner(organisation, membership)
    old = membership.role
    membership.role = role
    membership.save(update_fields=["role", "updated_at"])
    record(actor, organisation, "member.role", membership.user, {"email": membership.user.email, "from": old, "to": role})
    return membership


@transaction.atomic
def remove_member(actor, organisation: Organisation, user) -> None:
    """Owners remove anyone; any member may remove themselves (leave)."""
    if actor.pk == getattr(user, "pk", None):
        policy.require(actor, Action.VIEW, organisation)
    else:
        policy.require(actor, Action.MANAGE_MEMBERS, organisation)
    membership = _membership(organisation, user)
    if _personal_owner(organisation, user):
        raise Conflict("the owner of a personal organisation cannot be removed")
    if membership.role == Role.OWNER:
        _ensure_other_owner(organisation, membership)
    membership.delete()
    record(actor, organisation, "member.remove", user, {"email": user.email})
