from anvil_forge.orgs import policy
from anvil_forge.orgs.policy import Action

from .models import AccessToken, LiveInstance, Publication, PublishedVersion


def access_tokens(user, project):
    policy.require(user, Action.VIEW, project.organisation, "project")
    return AccessToken.objects.filter(project=project).order_by("-created_at")


def published_versions(user, project):
    policy.require(user, Action.VIEW, project.organisation, "project")
    return PublishedVersion.objects.filter(project=project).select_related("prompt_set", "version")


def publications(user, project):
    policy.require(user, Action.VIEW, project.organisation, "project")
    return Publication.objects.filter(project=project).select_related("prompt_set", "version", "published_by")


def published_version_of(prompt_set):
    row = PublishedVersion.objects.filter(prompt_set=prompt_set).select_related("version").first()
    return row.version if row else None


def get_delivery(user, pk):
    from anvil_forge.core.errors import NotFound

    from .models import Delivery

    delivery = Delivery.objects.filter(pk=pk).select_related("publication__project__organisation", "instance").first()
    if delivery is None or not policy.can(user, Action.VIEW, delivery.publication.project.organisation):
        raise NotFound("delivery not found")
    return delivery


def instance_registered(token, instance_id: str) -> bool:
    """Whether ``token`` registered the LIVE instance ``instance_id`` (the API counts requests per instance
    only for those, so a caller cannot make up fresh counts)."""
    return LiveInstance.objects.filter(project_id=token.project_id, instance_id=instance_id,
                                       access_token=token).exists()
