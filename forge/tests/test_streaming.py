"""Streaming: a client holding GET /projects/{id}/events pulls as soon as a publish is announced.

On PostgreSQL the publish goes through one FORGE process and the client streams from another
(LISTEN/NOTIFY); on SQLite both are the same process (in-process announcements).
"""

import time

import httpx
import pytest
from django.db import connection

from anvil_client.client import Client
from anvil_forge.accounts.services import create_api_key
from anvil_forge.distribution import keys
from anvil_forge.distribution.services import create_access_token
from anvil_forge.prompts import services as prompts

from .servers import start_server, stop

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    keys._load.cache_clear()


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_a_publish_reaches_a_streaming_client_quickly(world, tmp_path):
    prompts.change_status(world.member, world.pset, "review")
    prompts.change_status(world.admin, world.pset, "locked")
    _, token = create_access_token(world.admin, world.project, "prod")
    _, key = create_api_key(world.admin, "publisher", ["read", "write"])
    stream_server, stream_url = start_server()
    servers = [stream_server]
    publish_url = stream_url
    if connection.vendor == "postgresql":
        other, publish_url = start_server()
        servers.append(other)
    client = Client(forge_url=stream_url, project=str(world.project.pk), access_token=token,
                    cache_dir=tmp_path / "client", public_key=keys.public_key(), poll_interval=3600,
                    heartbeat_interval=3600)
    try:
        assert wait_for(lambda: client._streaming), "the client did not open the event stream"
        started = time.monotonic()
        answer = httpx.post(f"{publish_url}/api/v1/prompt_sets/{world.pset.pk}/publish", json={},
                            headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 200, answer.text
        assert wait_for(lambda: client.sequence == 1, timeout=5), client.status()
        assert time.monotonic() - started < 2.0
        assert client.prompt("emails.welcome", name="Ada") == "Hello Ada!"
        # The instance registered itself (heartbeat at start) and is listed with what it holds now.
        client.register()
        listed = httpx.get(f"{publish_url}/api/v1/projects/{world.project.pk}/live_instances",
                           headers={"Authorization": f"Bearer {key}"}).json()["data"]
        assert [(i["instance_id"], i["sequence"], i["versions"]) for i in listed] == [
            (client.instance_id, 1, {"emails": "1.0.0"})]
    finally:
        client.stop()
        logs = [stop(server) for server in servers]
        print("\n".join(logs))  # shown by pytest when the test fails
