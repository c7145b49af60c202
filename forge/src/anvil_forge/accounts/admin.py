from django.contrib import admin

from anvil_forge.core.admin import ReadOnlyAdmin

from .models import User


@admin.register(User)
class UserAdmin(ReadOnlyAdmin):
    list_display = ["email", "display_name", "is_active", "is_staff", "created_at"]
    search_fields = ["email", "display_name"]
    exclude = ["password"]
