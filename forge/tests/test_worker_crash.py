"""The task worker killed (-9) in the middle of a fan-out: after a restart every delivery completes,
and no LIVE instance applies the bundle twice."""

import os
import signal
import threading
import time

import pytest

from anvil_client.client import Client
from anvil_client.receiver import Receiver, make_server
from anvil_forge.distribution import keys
from anvil_forge.distribution.models import Delivery, DeliveryState
from anvil_forge.distribution.services import create_access_token, publish
from anvil_forge.distribution.instances import register
from anvil_forge.distribution.services import authenticate_access_token
from anvil_forge.prompts import services as prompts

from .servers import start_worker

pytestmark = pytest.mark.django_db(transaction=True)
INSTANCES = 12


class CountingReceiver(Receiver):
    """A real receiver that is slow (so the kill lands mid-fan-out) and counts what it applied."""

    def __init__(self, client):
        super().__init__(client)
        self.applied = 0
        self.requests = 0

    def handle(self, authorization, body):
        self.requests += 1
        time.sleep(3.0)
        status, answer = super().handle(authorization, body)
        if answer.get("applied"):
            self.applied += 1
        return status, answer


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    keys._load.cache_clear()


def wait_for(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_worker_killed_mid_fanout_finishes_after_restart_without_duplicates(world, tmp_path):
    prompts.change_status(world.member, world.pset, "review")
    prompts.change_status(world.admin, world.pset, "locked")
    _, secret = create_access_token(world.admin, world.project, "prod")
    token = authenticate_access_token(secret)
    receivers, servers = [], []
    for n in range(INSTANCES):
        client = Client(forge_url="http://127.0.0.1:9", project=str(world.project.pk), access_token=secret,
                        cache_dir=tmp_path / f"c{n}", public_key=keys.public_key(), background=False)
        receiver = CountingReceiver(client)
        server = make_server(receiver, "127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        client.receiver_url = f"http://127.0.0.1:{server.server_address[1]}/anvil/receive"
        client.receiver_secret = receiver.secret
        register(token, client.describe())
        receivers.append(receiver)
        servers.append(server)
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
        for server in servers:
            server.shutdown()
            server.server_close()
    assert [r.applied for r in receivers] == [1] * INSTANCES
    assert sum(r.requests for r in receivers) > INSTANCES  # pushes in flight at the kill were sent again
    assert all(r.client.sequence == 1 for r in receivers)
