"""`anvil serve --with-worker`, as `make run` starts it: the worker is restarted if it exits, and never
outlives the server — whether the server is stopped (even with event streams open) or killed."""

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from anvil_forge.distribution.services import create_access_token

from ..receivers import wait_for
from ..servers import environment, free_port

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("own_data_dir")]


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (made by any of its threads)."""
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                found += [int(p) for p in fh.read().split()]
    except FileNotFoundError:
        pass
    return sorted(p for p in found if alive(p))


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


@pytest.fixture
def serve():
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "anvil_forge.cli", "serve", "--port", str(port),
                                "--with-worker"], env=environment(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            return httpx.get(url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    assert wait_for(up, 30), "anvil serve did not start"
    assert wait_for(lambda: len(children(process.pid)) == 1, 10), "no worker beside the server"
    yield process, url
    if process.poll() is None:
        process.kill()
        process.wait()
    for pid in children(process.pid):
        os.kill(pid, signal.SIGKILL)


def test_a_worker_that_exits_is_started_again(serve):
    process, _ = serve
    [worker] = children(process.pid)
    os.kill(worker, signal.SIGKILL)
    assert wait_for(lambda: children(process.pid) not in ([], [worker]), 15), "the worker was not restarted"
    [again] = children(process.pid)
    assert again != worker and alive(again)


def test_stopping_the_server_with_open_streams_stops_it_and_its_worker(serve, world):
    process, url = serve
    [worker] = children(process.pid)
    _, token = create_access_token(world.admin, world.project, "prod")
    with httpx.Client(base_url=url, timeout=10) as http:
        stream = http.send(http.build_request("GET", f"/api/v1/projects/{world.project.pk}/events",
                                              headers={"Authorization": f"Bearer {token}"}), stream=True)
        assert stream.status_code == 200
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)  # an open stream does not hold the server up for ever
        assert time.monotonic() - started < 15
        stream.close()
    assert wait_for(lambda: not alive(worker), 15)


def test_a_killed_server_takes_its_worker_with_it(serve):
    process, _ = serve
    [worker] = children(process.pid)
    process.kill()
    process.wait()
    assert wait_for(lambda: not alive(worker), 15), "the worker outlived its server"
