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
from anvil_forge.distribution import queries as dist_queries
from anvil_forge.distribution.services import create_access_token
from anvil_forge.prompts import services as prompts

from ..receivers import wait_for
from ..servers import start_server, stop

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("own_data_dir")]


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
                    cache_dir=tmp_path / "client", public_key=dist_queries.public_key(), poll_interval=3600,
                    heartbeat_interval=3600)
    try:
        assert wait_for(lambda: client._streaming, 10), "the client did not open the event stream"
        answer = httpx.post(f"{publish_url}/api/v1/prompt_sets/{world.pset.pk}/publish", json={},
                            headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 200, answer.text
        # It polls once an hour, so only the stream can have brought it (how fast: `make bench`).
        assert wait_for(lambda: client.sequence == 1, timeout=5), client.status()
        assert client.prompt("emails.welcome", name="Ada") == "Hello Ada!"
        # The instance reported what it serves as soon as it applied it (its heartbeat is an hour away).
        def listed():
            return [(i["instance_id"], i["sequence"], i["versions"]) for i in httpx.get(
                f"{publish_url}/api/v1/projects/{world.project.pk}/live_instances",
                headers={"Authorization": f"Bearer {key}"}).json()["data"]]

        assert wait_for(lambda: listed() == [(client.instance_id, 1, {"emails": "1.0.0"})], timeout=5), listed()
    finally:
        client.stop()
        logs = [stop(server) for server in servers]
        print("\n".join(logs))  # shown by pytest when the test fails


def open_database_connections(server) -> int:
    """How many database connections the server process holds: PostgreSQL's own count of the test
    database's other sessions, or, on SQLite, the server's open handles on the database file."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND pid <> pg_backend_pid()")
            return cursor.fetchone()[0]
    import os

    name = os.path.realpath(connection.settings_dict["NAME"])
    fds = f"/proc/{server.pid}/fd"
    return sum(1 for fd in os.listdir(fds) if _target(f"{fds}/{fd}") == name)


def _target(path: str) -> str | None:
    import os

    try:
        return os.readlink(path)
    except OSError:
        return None


def test_open_streams_hold_no_database_connection(world):
    """A stream lasts for hours: it must not keep a database connection (PostgreSQL allows ~100 in all)."""
    _, token = create_access_token(world.admin, world.project, "prod")
    server, url = start_server()
    streams = 30
    try:
        before = open_database_connections(server)
        with httpx.Client(base_url=url, timeout=10, limits=httpx.Limits(max_connections=streams)) as http:
            opened = []
            for _ in range(streams):
                response = http.send(http.build_request("GET", f"/api/v1/projects/{world.project.pk}/events",
                                                        headers={"Authorization": f"Bearer {token}"}), stream=True)
                assert response.status_code == 200
                assert next(response.iter_lines()).startswith("retry:")  # the stream is open and answering
                opened.append(response)
            held = open_database_connections(server)
            for response in opened:
                response.close()
        assert held - before < 3, f"{held - before} database connections held by {streams} open streams"
    finally:
        print(stop(server))


def test_revoking_the_token_ends_its_open_streams(world):
    from anvil_forge.distribution.models import AccessToken
    from anvil_forge.distribution.services import revoke_access_token

    _, token = create_access_token(world.admin, world.project, "prod")
    server, url = start_server(ANVIL_SSE_HEARTBEAT_SECONDS="0.3")
    try:
        with httpx.Client(base_url=url, timeout=10) as http:
            path, headers = f"/api/v1/projects/{world.project.pk}/events", {"Authorization": f"Bearer {token}"}
            with http.stream("GET", path, headers=headers) as stream:
                lines = stream.iter_lines()
                assert next(lines).startswith("retry:")
                assert ": heartbeat" in [next(lines) for _ in range(6)]  # open, with heartbeats
                revoke_access_token(world.admin, AccessToken.objects.get(label="prod"))
                started = time.monotonic()
                for line in lines:  # ends when the server closes the stream
                    assert time.monotonic() - started < 5, "the stream stayed open after its token was revoked"
                    assert not line.startswith("event:")
            assert http.get(path, headers=headers).status_code == 401
    finally:
        print(stop(server))


def test_a_release_made_in_another_process_reaches_the_streams(world, tmp_path):
    """`anvil publish` in a shell is another process than the server holding the streams: on PostgreSQL the
    announcement goes by NOTIFY, on SQLite by a row the server's poller reads."""
    from anvil_forge.distribution.services import publish

    prompts.change_status(world.member, world.pset, "review")
    prompts.change_status(world.admin, world.pset, "locked")
    _, token = create_access_token(world.admin, world.project, "prod")
    server, url = start_server()
    client = Client(forge_url=url, project=str(world.project.pk), access_token=token, cache_dir=tmp_path / "c",
                    public_key=dist_queries.public_key(), poll_interval=3600, heartbeat_interval=3600)
    try:
        assert wait_for(lambda: client._streaming, 10), "the client did not open the event stream"
        publish(world.admin, world.pset)  # here, in the test's process, as the command line would
        assert wait_for(lambda: client.sequence == 1, timeout=5), client.status()
    finally:
        client.stop()
        print(stop(server))
