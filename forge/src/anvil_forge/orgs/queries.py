from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import OuterRef, Subquery

from anvil_forge.core.errors import NotFound

from . import policy
from .models import Invitation, Membership, Organisation
from .policy import Action


def organisations_for(user):
    """The organisations the user is a member of, by name."""
    if not getattr(user, "is_authenticated", False):
        return Organisation.objects.none()
    return Organisation.objects.filter(memberships__user=user).order_by("name")


def get_organisation(user, ref) -> Organisation:
    """By id or slug; an organisation the user is not in is reported as not found."""
    lookup = {"slug": ref} if isinstance(ref, str) and not _is_uuid(ref) else {"pk": ref}
    organisation = organisations_for(user).filter(**lookup).first()
    if organisation is None:
        raise NotFound("organisation not found")
    return organisation


def organisations_with_role(user):
    """:func:`organisations_for`, each annotated with ``role``: the user's role in it."""
    role = Membership.objects.filter(organisation=OuterRef("pk"), user=user).values("role")[:1]
    return organisations_for(user).annotate(role=Subquery(role))


def members(user, organisation):
    policy.require(user, Action.VIEW, organisation)
    return Membership.objects.filter(organisation=organisation).select_related("user").order_by("user__email")


def pending_invitations(user, organisation):
    policy.require(user, Action.VIEW, organisation)
    return Invitation.objects.filter(organisation=organisation, accepted_at__isnull=True)


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def organisations_overview(user):
    """The user's organisations with their role and member/project counts, personal first, then by name."""
    from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
    from django.db.models.functions import Coalesce

    from anvil_forge.prompts.models import Project

    def count(qs):
        counted = qs.order_by().values("organisation").annotate(n=Count("pk")).values("n")
        return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))

    role = Membership.objects.filter(organisation=OuterRef("pk"), user=user).values("role")[:1]
    return (
        Organisation.objects.filter(pk__in=organisations_for(user).values("pk"))
        .annotate(
            my_role=Subquery(role),
            member_count=count(Membership.objects.filter(organisation=OuterRef("pk"))),
            project_count=count(Project.objects.filter(organisation=OuterRef("pk"))),
        )
        .order_by("-personal", "name")
    )


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

    from anvil_forge.core.tokens import hash_secret

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
    from anvil_forge.accounts.models import User

    return User.objects.filter(email__iexact=invitation.email, is_active=True).exists()
