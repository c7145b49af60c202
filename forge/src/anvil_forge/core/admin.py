from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """Django's admin site is a window, not a back door: every write goes through the services."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
