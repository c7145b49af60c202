"""The task worker killed (-9) in the middle of a fan-out: after a restart every delivery completes,
and no LIVE instance applies the bundle twice."""

import os
import signal

import pytest

from anvil_forge.distribution.models import Delivery, DeliveryState
from anvil_forge.distribution.services import authenticate_access_token, create_access_token, publish
from anvil_forge.prompts import services as prompts

from ..receivers import start_receivers, stop_receivers, wait_for
from ..servers import start_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("own_data_dir")]
INSTANCES = 12


def test_worker_killed_mid_fanout_finishes_after_restart_without_duplicates(world, tmp_path):
    prompts.change_status(world.member, world.pset, "review")
    prompts.change_status(world.admin, world.pset, "locked")
    _, secret = create_access_token(world.admin, world.project, "prod")
    token = authenticate_access_token(secret)
    # Slow receivers (three seconds an answer), so the kill lands while pushes are in flight.
    receivers, servers = start_receivers(world.project, secret, token, INSTANCES, tmp_path, delay=3.0)
    env = {"ANVIL_DELIVERY_CLAIM_SECONDS": "5", "ANVIL_DELIVERY_BACKOFF_SECONDS": "0.5"}
    worker = start_worker(**env)
    try:
        publish(world.admin, world.pset)
        done = lambda: Delivery.objects.filter(state=DeliveryState.DELIVERED).count()  # noqa: E731
        # Kill the worker while its pushes are in flight (receivers take three seconds to answer).
        assert wait_for(lambda: any(r.requests for r in receivers), 60), "the worker pushed nothing"
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        assert done() < INSTANCES, "the fan-out finished before the kill"
        worker = start_worker(**env)
        assert wait_for(lambda: done() == INSTANCES, 90), list(Delivery.objects.values_list("state", "last_error"))
    finally:
        worker.kill()
        worker.wait()
        stop_receivers(servers)
    assert [r.applied for r in receivers] == [1] * INSTANCES
    assert sum(r.requests for r in receivers) > INSTANCES  # pushes in flight at the kill were sent again
    assert all(r.client.sequence == 1 for r in receivers)


def test_the_worker_carries_on_after_a_database_error(monkeypatch):
    """A database restart must not end `anvil worker`: its loop starts again."""
    from io import StringIO

    from django.db import OperationalError

    from anvil_forge.distribution import services
    from anvil_forge.management.commands.worker import Command

    command = Command(stderr=StringIO())
    command.RETRY_SECONDS = 0
    runs = []

    def poll():
        runs.append(1)
        if len(runs) < 3:
            raise OperationalError("server closed the connection unexpectedly")
        command.stopping = True  # a stop signal: the loop ends after this poll
        return 0

    monkeypatch.setattr(services, "push_due_deliveries", poll)
    assert command._serve(interval=0.05) == "stopped"
    assert len(runs) == 3
    assert command.stderr.getvalue().count("The database failed (OperationalError: server closed") == 2
