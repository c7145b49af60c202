from django.contrib import admin

from anvil_forge.core.admin import ReadOnlyAdmin

from .models import AuditEvent

admin.site.register(AuditEvent, ReadOnlyAdmin,
                    list_display=["created_at", "actor_email", "organisation", "action", "target_repr"],
                    list_filter=["action"])
