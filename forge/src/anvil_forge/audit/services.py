"""Recording audit events. Called inside the transaction of the change it records."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .models import AuditEvent

if TYPE_CHECKING:  # annotations only: accounts.models is not imported by other apps at run time
    from anvil_forge.accounts.models import User


def record(actor: User | None, organisation, action: str, target=None, summary: dict | None = None, *,
           target_type: str = ""):
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        actor_email=getattr(actor, "email", "") or "",
        organisation=organisation,
        organisation_ref=str(organisation.pk) if organisation is not None else "",
        organisation_name=organisation.name[:100] if organisation is not None else "",
        action=action,
        target_type=target_type or (type(target).__name__.lower() if target is not None else ""),
        target_id=str(getattr(target, "pk", "") or ""),
        target_repr=str(target)[:255] if target is not None else "",
        summary=summary or {},
    )
