from django.contrib import admin

from anvil_forge.core.admin import ReadOnlyAdmin

from .models import Project, Prompt, PromptSet, Version

admin.site.register(Project, ReadOnlyAdmin, list_display=["name", "organisation", "slug"])
admin.site.register(PromptSet, ReadOnlyAdmin, list_display=["name", "project", "status"])
admin.site.register(Prompt, ReadOnlyAdmin, list_display=["name", "prompt_set", "slug"])
admin.site.register(Version, ReadOnlyAdmin, list_display=["prompt_set", "label", "sequence", "created_at"])
