from django.apps import AppConfig


class DistributionConfig(AppConfig):
    name = "anvil_forge.distribution"
    label = "distribution"
