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
