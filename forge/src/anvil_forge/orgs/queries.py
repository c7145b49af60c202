from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Count, OuterRef, Subquery

from anvil_forge.accounts import queries as account_queries
from anvil_forge.core.counts import count_of
from anvil_forge.core.errors import NotFound
from anvil_forge.core.tokens import hash_secret

from . import policy
from .models import Invitation, Membership, Organisation, Role  # Organisation, Role: handed out to adapters too
from .policy import Action



def organisations_for(user):
    """The organisations the user is a member of, by name."""
    if not getattr(user, "is_authenticated", False):
        return Organisation.objects.none()
    return Organisation.objects.filter(memberships__user=user).order_by("name")


def get_organisation(user, ref) -> Organisation:
    """By id or slug; an organisation the user is not in is reported as not found."""
    organisation = organisations_for(user).filter(**_by_ref(ref)).first()
    if organisation is None:
        raise NotFound("organisation not found")
    return organisation


def organisations_with_role(user):
    """:func:`organisations_for`, each annotated with ``role``: the user's role in it."""
    return organisations_for(user).annotate(role=role_subquery(user))


def members(user, organisation):
    policy.require(user, Action.VIEW, organisation)
    return Membership.objects.filter(organisation=organisation).select_related("user").order_by("user__email")


def pending_invitations(user, organisation):
    """Invitations not accepted yet: for those who manage members (owners); nobody else sees them."""
    policy.require(user, Action.VIEW, organisation)
    if not policy.can(user, Action.MANAGE_MEMBERS, organisation):
        return Invitation.objects.none()
    return Invitation.objects.filter(organisation=organisation, accepted_at__isnull=True)


def _by_ref(ref) -> dict:
    """An organisation reference is its id (a UUID, or UUID text) or its slug."""
    return {"slug": ref} if isinstance(ref, str) and not _is_uuid(ref) else {"pk": ref}


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def organisations_overview(user):
    """The user's organisations with their role and member/project counts, personal first, then by name."""
    return (
        Organisation.objects.filter(pk__in=organisations_for(user).values("pk"))
        .annotate(my_role=role_subquery(user),
                  member_count=count_of(Membership.objects.all(), "organisation"),
                  project_count=Count("projects", distinct=True))  # the reverse relation: orgs imports no prompts
        .order_by("-personal", "name")
    )


def role_subquery(user):
    """The user's role in the outer organisation row, for annotating organisation querysets."""
    return Subquery(Membership.objects.filter(organisation=OuterRef("pk"), user=user).values("role")[:1])


def member(user, organisation, user_id) -> Membership:
    """One membership of an organisation the user belongs to, by the member's user id."""
    try:
        membership = members(user, organisation).filter(user_id=user_id).first()
    except (ValueError, TypeError, DjangoValidationError):
        membership = None
    if membership is None:
        raise NotFound("member not found")
    return membership


def invitation_for_token(token: str) -> Invitation:
    """A pending invitation by its secret link token (anyone holding the link may see whom it invites)."""
    from django.utils import timezone


    invitation = (
        Invitation.objects.filter(token_hash=hash_secret(token or ""))
        .select_related("organisation", "invited_by")
        .first()
    )
    if invitation is None or invitation.accepted_at is not None or invitation.expires_at < timezone.now():
        raise NotFound("this invitation is not valid any more (used, expired or unknown)")
    return invitation


def invitee_has_account(invitation: Invitation) -> bool:
    """Whether the invited address already has an account (the invitation page offers sign-in, not sign-up)."""
    return account_queries.active_user_by_email(invitation.email) is not None


def owner_of(organisation):
    """An active owner of the organisation (the longest-standing), or None."""
    membership = (Membership.objects.filter(organisation=organisation, role=Role.OWNER, user__is_active=True)
                  .select_related("user").order_by("created_at").first())
    return membership.user if membership else None


def organisation_by_ref(ref):
    """Any organisation by id or slug, for the operator's commands (no user to limit it); None if none."""
    return Organisation.objects.filter(**_by_ref(ref)).first()


def all_organisations():
    """Every organisation, for the operator's commands."""
    return Organisation.objects.order_by("name")


def manageable_organisations(user) -> list:
    """The user's organisations where they may create projects (owners and admins): where a project can be
    imported or connected."""
    return [o for o in organisations_with_role(user) if policy.allows(o.role, Action.MANAGE_PROJECTS)]


def users_who_may(action, organisation) -> list:
    """The organisation's active members whose role allows ``action`` (e.g. whom to ask for an approval)."""
    roles = [role for role in Role.values if policy.allows(role, action)]
    return [m.user for m in Membership.objects.filter(organisation=organisation, role__in=roles,
                                                      user__is_active=True).select_related("user")
            .order_by("user__email")]
