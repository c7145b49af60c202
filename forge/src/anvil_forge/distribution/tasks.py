"""Background tasks (Django's task framework, run by ``anvil worker``)."""

from django.tasks import task

from . import fanout


@task()
def deliver_publication(publication_id: str) -> int:
    """Push a new publication's bundle to every pending LIVE instance at once (see fanout.send_publication)."""
    return fanout.send_publication(publication_id)


@task()
def deliver(delivery_id: str) -> str | None:
    """Push the current bundle to one LIVE instance: a retry or a recovered delivery (see fanout.send)."""
    return fanout.send(delivery_id)
