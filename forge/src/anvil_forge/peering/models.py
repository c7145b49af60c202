from django.conf import settings
from django.db import models

from anvil_forge.core.models import Timestamped


class RemoteProjectLink(Timestamped):
    """A project of a known forge, connected to a local organisation: a reference, not a copy.

    It is listed among the organisation's projects (read-only, with the source forge's name);
    opening it browses the remote project live. ``name``, ``slug`` and ``remote_organisation``
    are a cache of what the remote said when the link was made, for the list.
    """

    organisation = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="remote_links")
    forge_name = models.CharField(max_length=64)
    remote_project_id = models.UUIDField()
    name = models.CharField(max_length=100)
    slug = models.CharField(max_length=64)
    description = models.TextField(blank=True)
    remote_organisation = models.CharField(max_length=100, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "forge_name", "remote_project_id"],
                                    name="remote_link_unique"),
        ]

    def __str__(self):
        return f"{self.name} ({self.forge_name})"
