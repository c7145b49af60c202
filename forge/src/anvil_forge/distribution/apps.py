from django.apps import AppConfig
from django.db.models.signals import post_save


class DistributionConfig(AppConfig):
    name = "anvil_forge.distribution"
    label = "distribution"

    def ready(self):
        # Every project has its production channel from the start, however it was made (the web, the API,
        # an imported archive); the prompts app need not know about channels.
        post_save.connect(_production_channel, sender="prompts.Project", dispatch_uid="anvil-production-channel")


def _production_channel(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        from .channels import ensure_production

        ensure_production(instance)
