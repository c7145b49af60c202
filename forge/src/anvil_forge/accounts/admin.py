from django.contrib import admin

from anvil_forge.core.admin import ReadOnlyAdmin

from .models import ApiKey, User


@admin.register(User)
class UserAdmin(ReadOnlyAdmin):
    list_display = ["email", "display_name", "is_active", "is_staff", "email_verified_at", "created_at"]
    search_fields = ["email", "display_name"]
    exclude = ["password"]


admin.site.register(ApiKey, ReadOnlyAdmin, list_display=["name", "user", "prefix", "scopes", "last_used_at", "revoked_at"],
                    exclude=["key_hash"])
