"""Background tasks (Django's task framework, run by ``anvil worker``)."""

from django.tasks import task

from . import fanout


@task()
def deliver(delivery_id: str) -> str | None:
    """Push the current bundle to one LIVE instance (see fanout.send)."""
    return fanout.send(delivery_id)
