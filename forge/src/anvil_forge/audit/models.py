from django.conf import settings
from django.db import models

from anvil_forge.core.ids import uuid7


class AuditEvent(models.Model):
    """Who did what, when, to which thing. Written by ``audit.services.record`` only."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)  # time-ordered
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    actor_email = models.CharField(max_length=254, blank=True)
    # SET_NULL: deleting an organisation keeps its history, still telling which organisation it was.
    organisation = models.ForeignKey(
        "orgs.Organisation", null=True, on_delete=models.SET_NULL, related_name="audit_events"
    )
    organisation_ref = models.CharField(max_length=36, blank=True, db_index=True)  # its id, as text
    organisation_name = models.CharField(max_length=100, blank=True)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=32)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=255, blank=True)
    summary = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organisation", "-created_at"])]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_email} {self.action} {self.target_repr}"
