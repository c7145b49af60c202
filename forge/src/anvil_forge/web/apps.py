from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "anvil_forge.web"
    label = "web"
    verbose_name = "Web UI"
