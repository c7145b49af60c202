"""Writes for organisations, memberships and invitations.

Rules kept here: names are globally unique; a personal organisation cannot be
deleted and its owner cannot be demoted, removed or joined by another owner
(it cannot be transferred); every organisation keeps at least one owner.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from anvil_forge.accounts import queries as account_queries
from anvil_forge.accounts import services as account_services
from anvil_forge.audit.services import record
from anvil_forge.core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from anvil_forge.core.slugs import check_slug, make_slug
from anvil_forge.core.tokens import hash_secret, new_secret

from . import policy
from .models import Invitation, Membership, Organisation, Role
from .policy import Action
from .queries import invitation_for_token

if TYPE_CHECKING:  # annotations only: accounts.models is not imported by other apps at run time
    from anvil_forge.accounts.models import User

INVITATION_LIFETIME = timedelta(days=7)
# What apps built on organisations refuse an organisation's deletion for: each raises Conflict to refuse.
# Registered by those apps when Django starts (prompts/apps.py), so orgs depends on none of them.
DELETION_CHECKS: list = []


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
# --- users: every user has a personal organisation ---------------------------------------------------

@transaction.atomic
def create_user(email: str, password: str | None = None, *, display_name: str = "", site_admin: bool = False,
                email_verified: bool = False):
    """Create a user with a personal organisation. ``password=None`` makes a magic-link-only account.
    ``email_verified`` is for callers who vouch for the address (the operator's commands); a sign-up
    proves it later through a link sent to it (``accounts.services.send_confirmation_link``)."""
    user = account_services.create_account(email, password, display_name=display_name, site_admin=site_admin,
                                           email_verified=email_verified)
    organisation = create_personal_organisation(user)
    record(user, organisation, "user.signup", user, {"site_admin": site_admin})
    return user


@transaction.atomic
def sign_up(email: str, password: str | None, *, display_name: str = "", invitation_token: str | None = None,
            client_address: str | None = None):
    """Self-service sign-up. With ``ANVIL_SIGNUP=invitation`` only the address a pending invitation was
    sent to may sign up, through that invitation's link (``invitation_token``). The new account starts
    unconfirmed and is e-mailed a confirmation link once the transaction commits; not when it comes from an
    invitation, whose acceptance confirms the address. With ``client_address`` (a request from outside) it
    counts against the e-mail throttle first: each sign-up sends an e-mail (Throttled)."""
    if client_address is not None:
        account_services.take_mail_allowance(email, client_address)
    if account_services.signup_mode() == "invitation":
        refusal = ("sign-up on this FORGE is by invitation only: ask an owner of an organisation to invite "
                   "your address, then use the link in the invitation")
        if not invitation_token:
            raise PermissionDenied(refusal)
        try:
            invitation = invitation_for_token(invitation_token)
        except NotFound:
            raise PermissionDenied(refusal) from None
        if invitation.email.lower() != account_services.normalise_email(email):
            raise ValidationError.field("email", f"this invitation is for {invitation.email}: sign up with that address")
    user = create_user(email, password, display_name=display_name)
    if not invitation_token:
        account_services.send_confirmation_link(user)
    return user


def create_personal_organisation(user) -> Organisation:
    name, slug = _unique_name_and_slug(user.display_name or user.email.split("@")[0])
    organisation = Organisation.objects.create(
        name=name, slug=slug, personal=True, personal_for=user, description=f"Personal organisation of {user.email}"
    )
    Membership.objects.create(user=user, organisation=organisation, role=Role.OWNER)
    return organisation


@transaction.atomic
def create_organisation(actor: User, name: str, slug: str | None = None, description: str = "") -> Organisation:
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
def update_organisation(actor: User, organisation: Organisation, *, name=None, slug=None,
                        description=None) -> Organisation:
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
def delete_organisation(actor: User, organisation: Organisation) -> None:
    policy.require(actor, Action.EDIT_ORGANISATION, organisation)
    if organisation.personal:
        raise Conflict("a personal organisation cannot be deleted")
    for check in DELETION_CHECKS:  # e.g. prompts: no frozen prompt set may go with it
        check(organisation)
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
def invite_member(actor: User, organisation: Organisation, email: str, role: str) -> InviteResult:
    policy.require(actor, Action.MANAGE_MEMBERS, organisation)
    email = account_services.normalise_email(email)
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
    existing = account_queries.active_user_by_email(email)
    joined = None
    # Only a verified address joins at once: anyone may sign up with someone else's address, and must
    # not be pulled into that person's organisations by it (accounts/verification.py).
    if existing is not None and existing.email_verified_at is not None:
        joined = Membership.objects.create(user=existing, organisation=organisation, role=role)
        invitation.accepted_at, invitation.accepted_by = now, existing
        invitation.save(update_fields=["accepted_at", "accepted_by", "updated_at"])
        record(actor, organisation, "member.add", existing, {"email": email, "role": role})
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
    return InviteResult(invitation, joined, token if joined is None else None)  # no link for who joined


@transaction.atomic
def accept_invitation(user, token: str) -> Membership:
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
    account_services.mark_email_verified(user, "invitation")  # the link was e-mailed to this address
    return membership


@transaction.atomic
def change_role(actor: User, organisation: Organisation, user, role: str) -> Membership:
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
def remove_member(actor: User, organisation: Organisation, user) -> None:
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
