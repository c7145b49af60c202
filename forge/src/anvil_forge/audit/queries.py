from anvil_forge.orgs import policy
from anvil_forge.orgs.policy import Action

from .models import AuditEvent


def events_for_organisation(user, organisation):
    """Audit events of one organisation, newest first (any member may read them)."""
    policy.require(user, Action.VIEW, organisation)
    return AuditEvent.objects.filter(organisation=organisation).select_related("actor")


def recent_events_for_user(user, limit: int = 20):
    """Recent activity across every organisation the user belongs to (the dashboard)."""
    return (
        AuditEvent.objects.filter(organisation__memberships__user=user)
        .select_related("organisation", "actor")
        .order_by("-created_at", "-id")[:limit]
    )
