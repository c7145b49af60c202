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


def recorded_since(action: str, actor, target_id: str, since) -> bool:
    """Whether ``actor`` has an event ``action`` on ``target_id`` since ``since`` (to record some reads once)."""
    return AuditEvent.objects.filter(action=action, actor=actor if getattr(actor, "pk", None) else None,
                                     target_id=target_id, created_at__gte=since).exists()


def sign_ins_for(user, limit: int = 10):
    """The user's recent sign-ins and failed sign-ins, newest first (their account page)."""
    return AuditEvent.objects.filter(action__in=("user.sign_in", "user.sign_in_failed"), target_type="user",
                                     target_id=str(user.pk)).order_by("-created_at", "-id")[:limit]
