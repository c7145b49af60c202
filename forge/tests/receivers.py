"""Real LIVE clients with receivers on loopback that count what reaches them (for the worker tests)."""

import threading
import time

from anvil_client.client import Client
from anvil_client.receiver import Receiver, make_server
from anvil_forge.distribution import keys
from anvil_forge.distribution.services import register_instance as register


class CountingReceiver(Receiver):
    """A real receiver that counts the pushes it got and applied; ``delay`` makes every answer slow."""

    def __init__(self, client, delay: float = 0.0):
        super().__init__(client)
        self.delay = delay
        self.applied = 0
        self.requests = 0
        self._lock = threading.Lock()

    def handle(self, authorization, body):
        with self._lock:
            self.requests += 1
        time.sleep(self.delay)
        status, answer = super().handle(authorization, body)
        if answer.get("applied"):
            with self._lock:
                self.applied += 1
        return status, answer


def start_receivers(project, secret: str, token, count: int, cache_root, delay: float = 0.0):
    """Start ``count`` registered LIVE clients with counting receivers; returns (receivers, servers)."""
    receivers, servers = [], []
    for n in range(count):
        client = Client(forge_url="http://127.0.0.1:9", project=str(project.pk), access_token=secret,
                        cache_dir=cache_root / f"c{n}", public_key=keys.public_key(), background=False)
        receiver = CountingReceiver(client, delay)
        server = make_server(receiver, "127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        client.receiver_url = f"http://127.0.0.1:{server.server_address[1]}/anvil/receive"
        client.receiver_secret = receiver.secret
        register(token, client.describe())
        receivers.append(receiver)
        servers.append(server)
    return receivers, servers


def stop_receivers(servers) -> None:
    # All at once: each shutdown waits for its serve_forever's next poll (up to half a second).
    from concurrent.futures import ThreadPoolExecutor

    def stop(server):
        server.shutdown()
        server.server_close()

    with ThreadPoolExecutor(max_workers=min(64, len(servers) or 1)) as pool:
        list(pool.map(stop, servers))


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()
