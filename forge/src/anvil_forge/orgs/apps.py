from django.apps import AppConfig


class OrgsConfig(AppConfig):
    name = "anvil_forge.orgs"
    label = "orgs"
    verbose_name = "Organisations"
