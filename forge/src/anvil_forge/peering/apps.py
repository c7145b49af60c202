from django.apps import AppConfig


class PeeringConfig(AppConfig):
    name = "anvil_forge.peering"
    label = "peering"
    verbose_name = "Peering"

    def ready(self):
        from . import checks  # noqa: F401  (registers the known-forges configuration check)
