"""`anvil serve` under connection exhaustion: a request head sent slowly (or never) is cut off by the header
timeout, while event streams outlive it; beyond the connection limit requests get 503 and the server answers
again once load drops; running out of file descriptors is logged once per interval, not a traceback per accept.

Each test runs the real server (``anvil serve`` in a subprocess) with small limits.
"""

import asyncio
import errno
import logging
import resource
import select
import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit

import httpx
import pytest

from anvil_forge.distribution.services import create_access_token

from ..receivers import wait_for
from ..servers import environment, free_port, log_file, start_server, stop

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("own_data_dir")]

PARTIAL_HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
FULL_REQUEST = PARTIAL_HEAD + b"\r\n"


def connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=5)


def read_response(sock: socket.socket) -> bytes:
    """One whole response (with a Content-Length) from a kept-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += sock.recv(65536)
    return head


def is_closed(sock: socket.socket) -> bool:
    """Whether the server has closed the connection (without waiting)."""
    sock.setblocking(False)
    try:
        return sock.recv(65536) == b""
    except BlockingIOError:
        return False
    except ConnectionError:
        return True
    finally:
        sock.setblocking(True)


def when_closed(connections: dict, limit: float) -> dict:
    """Waits until the server closes each connection, sending each of those with bytes left to send one more
    byte every 0.2 s (a head dribbled out). ``connections``: name -> (socket, start time, bytes to dribble).
    Returns name -> seconds from its start until it was closed (None: still open after ``limit`` seconds)."""
    closed = {name: None for name in connections}
    sent = {name: 0 for name in connections}
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and None in closed.values():
        open_now = {connections[name][0]: name for name, at in closed.items() if at is None}
        readable, _, _ = select.select(list(open_now), [], [], 0.2)
        for sock in open_now:
            name = open_now[sock]
            _, started, dribble = connections[name]
            if sock in readable and is_closed(sock):
                closed[name] = time.monotonic() - started
            elif sent[name] < len(dribble):
                try:
                    sock.send(dribble[sent[name]:sent[name] + 1])
                    sent[name] += 1
                except (BrokenPipeError, ConnectionResetError):
                    closed[name] = time.monotonic() - started
    return closed


def test_a_request_head_not_complete_within_the_header_timeout_is_closed():
    server, url = start_server(ANVIL_HEADER_TIMEOUT="1")
    try:
        silent = connect(url)  # connects and sends nothing
        silent_at = time.monotonic()
        slow = connect(url)  # a head a byte at a time: the timer is not reset by each byte
        slow.sendall(PARTIAL_HEAD)
        slow_at = time.monotonic()
        kept_alive = connect(url)  # one whole request, then the next head never finished
        kept_alive.sendall(FULL_REQUEST)
        assert read_response(kept_alive).startswith(b"HTTP/1.1 200")
        kept_alive.sendall(PARTIAL_HEAD)
        kept_alive_at = time.monotonic()
        dribble = b"X-Slow: " + b"a" * 100
        closed = when_closed({"silent": (silent, silent_at, b""), "slow": (slow, slow_at, dribble),
                              "kept-alive": (kept_alive, kept_alive_at, dribble)}, limit=4)
        for name, after in closed.items():
            assert after is not None, f"the {name} connection was still open after 4 s (header timeout 1 s)"
            assert 0.8 < after < 3, f"the {name} connection was closed after {after:.1f} s (header timeout 1 s)"
        assert httpx.get(url + "/healthz", timeout=5).status_code == 200  # and the server answers
    finally:
        for sock in (silent, slow, kept_alive):
            sock.close()
        print(stop(server))


def test_an_event_stream_outlives_the_header_timeout(world):
    _, token = create_access_token(world.admin, world.project, "prod")
    server, url = start_server(ANVIL_HEADER_TIMEOUT="0.5", ANVIL_SSE_HEARTBEAT_SECONDS="0.2")
    partial = None
    try:
        with httpx.Client(base_url=url, timeout=5) as http:
            path, headers = f"/api/v1/projects/{world.project.pk}/events", {"Authorization": f"Bearer {token}"}
            with http.stream("GET", path, headers=headers) as stream:
                assert stream.status_code == 200
                partial = connect(url)  # opened beside the stream: cut off by the same server meanwhile
                partial.sendall(PARTIAL_HEAD)
                opened, heartbeats = time.monotonic(), []
                lines = stream.iter_lines()
                assert next(lines).startswith("retry:")
                for line in lines:
                    if line == ": heartbeat":
                        heartbeats.append(time.monotonic() - opened)
                    if time.monotonic() - opened > 1.6:  # three header timeouts and more
                        break
                late = [at for at in heartbeats if at > 1.2]
                assert late, f"no heartbeat after 1.2 s on an open stream (heartbeats at {heartbeats})"
                assert next(lines) is not None  # still open, still delivering
                assert is_closed(partial), "a partial request head outlived the header timeout"
    finally:
        if partial is not None:
            partial.close()
        print(stop(server))


def test_beyond_the_connection_limit_requests_get_503_until_load_drops(world):
    _, token = create_access_token(world.admin, world.project, "prod")
    server, url = start_server(ANVIL_MAX_CONNECTIONS="3", ANVIL_HEADER_TIMEOUT="5")
    streams = []
    log = ""
    try:
        with httpx.Client(base_url=url, timeout=5, limits=httpx.Limits(max_connections=3)) as http:
            path, headers = f"/api/v1/projects/{world.project.pk}/events", {"Authorization": f"Bearer {token}"}
            for _ in range(3):  # the limit, all held by event streams
                stream = http.send(http.build_request("GET", path, headers=headers), stream=True)
                assert stream.status_code == 200
                streams.append(stream)
            answers = [httpx.get(url + "/healthz", timeout=5).status_code for _ in range(20)]
            assert answers == [503] * 20, answers
            streams.pop().close()  # load drops
            assert wait_for(lambda: httpx.get(url + "/healthz", timeout=5).status_code == 200, 5), \
                "the server did not answer again once a connection was free"
            for stream in streams:
                stream.close()
    finally:
        log = stop(server)
        print(log)
    overload_lines = [line for line in log.splitlines() if "connection limit" in line or "concurrency" in line]
    assert len(overload_lines) == 1, f"20 refused requests logged as {overload_lines}"


def test_running_out_of_file_descriptors_is_logged_once_per_interval():
    """With few descriptors and a connection limit set above them, accept() fails; asyncio retries every
    second and used to log a traceback each time."""
    port = free_port()
    stderr = log_file()

    def few_descriptors():
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    server = subprocess.Popen([sys.executable, "-m", "anvil_forge.cli", "serve", "--port", str(port)],
                              env=environment(ANVIL_MAX_CONNECTIONS="100000", ANVIL_HEADER_TIMEOUT="30"),
                              stdout=subprocess.DEVNULL, stderr=stderr, preexec_fn=few_descriptors)
    server.stderr_file = stderr
    url = f"http://127.0.0.1:{port}"
    clients = []

    def healthy():
        try:
            return httpx.get(url + "/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        assert wait_for(healthy, 30), "the FORGE did not start"
        for _ in range(400):  # more than it has descriptors for: the rest wait in the backlog
            clients.append(connect(url))
        time.sleep(2.2)  # accept() fails, is retried a second later, fails again, …
        stderr.seek(0)
        log = stderr.read().decode(errors="replace")
        for sock in clients:
            sock.close()
        clients = []
        assert wait_for(healthy, 10), "the server did not recover once the connections were closed"
    finally:
        for sock in clients:
            sock.close()
        stopping = time.monotonic()
        stop(server)
        stopped_after = time.monotonic() - stopping
        stderr.seek(0)
        whole_log = stderr.read().decode(errors="replace")
    failures = [line for line in log.splitlines() if "Too many open files" in line or "out of system resource" in line]
    assert len(failures) == 1, f"accept failures logged as {len(failures)} lines:\n{log[-3000:]}"
    assert "Traceback" not in whole_log, whole_log[-3000:]  # neither then nor at shutdown
    assert stopped_after < 3, f"the server took {stopped_after:.1f} s to stop"


def test_a_failed_accept_is_reported_and_retried_once_not_once_per_backlog_slot():
    """asyncio went on calling accept() up to `backlog` times after it failed (CPython gh-151615): 2048
    reports and 2048 pending retries per failure. The server's event loop stops the round at the first."""
    from anvil_forge.management.commands._serve_limits import ServerEventLoop

    class OutOfDescriptors:
        accepts = 0

        def accept(self):
            self.accepts += 1
            raise OSError(errno.EMFILE, "Too many open files")

        def fileno(self):
            return 12345  # never registered with the loop

    listening, reports = OutOfDescriptors(), []
    loop = ServerEventLoop()
    loop.set_exception_handler(lambda _, context: reports.append(context))
    try:
        before = len(loop._scheduled)
        loop._accept_connection(lambda: None, listening, None, None, 2048)
        assert listening.accepts == 1 and len(reports) == 1
        assert reports[0]["message"] == "socket.accept() out of system resource"
        assert len(loop._scheduled) - before == 1  # one retry, a second later
        closed = socket.socket()
        closed.close()
        loop._start_serving(lambda: None, closed)  # a retry after its server closed: nothing to do
    finally:
        loop.close()


def test_the_overload_filter_lets_one_line_of_each_kind_through_per_interval():
    """asyncio's own report of a failed accept() (as its selector loop makes it), rate-limited by the filter
    `anvil serve` installs: one line without traceback, the next one an interval later counting those left out."""
    from anvil_forge.management.commands._serve_limits import OverloadLogFilter

    now = [1000.0]
    overload = OverloadLogFilter(interval=10, clock=lambda: now[0])
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    asyncio_logger, uvicorn_logger = logging.getLogger("asyncio"), logging.getLogger("uvicorn.error")
    for logger in (asyncio_logger, uvicorn_logger):
        logger.addFilter(overload)
        logger.addHandler(handler)
    loop = asyncio.new_event_loop()
    try:
        def accept_failed():
            try:
                raise OSError(errno.EMFILE, "Too many open files")
            except OSError as exc:
                loop.call_exception_handler({"message": "socket.accept() out of system resource", "exception": exc})

        for _ in range(50):
            accept_failed()
            uvicorn_logger.warning("Exceeded concurrency limit.")
        uvicorn_logger.info("an ordinary line")
        now[0] += 10
        accept_failed()
    finally:
        loop.close()
        for logger in (asyncio_logger, uvicorn_logger):
            logger.removeFilter(overload)
            logger.removeHandler(handler)
    lines = [logging.Formatter("%(name)s %(message)s").format(record) for record in records]
    assert len(lines) == 4, lines
    accept_first, limit, ordinary, accept_later = lines
    assert accept_first.startswith("asyncio Overload: cannot accept new connections: [Errno 24] Too many open files")
    assert limit.startswith("uvicorn.error Overload: the connection limit is reached")
    assert ordinary == "uvicorn.error an ordinary line"
    assert "[49 more like this in the last 10 s not logged]" in accept_later
    assert not any("\n" in line or "Traceback" in line for line in lines)
