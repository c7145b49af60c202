from django.contrib import admin

from anvil_forge.core.admin import ReadOnlyAdmin

from .models import Invitation, Membership, Organisation

admin.site.register(Organisation, ReadOnlyAdmin, list_display=["name", "slug", "personal", "created_at"])
admin.site.register(Membership, ReadOnlyAdmin, list_display=["organisation", "user", "role"])
admin.site.register(Invitation, ReadOnlyAdmin, list_display=["organisation", "email", "role", "accepted_at"],
                    exclude=["token_hash"])
