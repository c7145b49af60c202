from django.apps import AppConfig


class AnvilForgeConfig(AppConfig):
    name = "anvil_forge"
    label = "anvil_forge"
    verbose_name = "Anvil"
