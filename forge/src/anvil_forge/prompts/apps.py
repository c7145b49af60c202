from django.apps import AppConfig


class PromptsConfig(AppConfig):
    name = "anvil_forge.prompts"
    label = "prompts"

    def ready(self):
        from anvil_forge.orgs import services as org_services

        from .services import ensure_organisation_deletable

        # An organisation with prompt sets in review or LOCKED cannot be deleted (orgs knows nothing of prompts).
        if ensure_organisation_deletable not in org_services.DELETION_CHECKS:
            org_services.DELETION_CHECKS.append(ensure_organisation_deletable)
