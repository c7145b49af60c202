"""Fixtures shared by the client's test files."""

import pytest

from .helpers import forge_url, start_forge


@pytest.fixture
def tiny_forge():
    """A stand-in FORGE on loopback: ``tiny_forge(answer)`` serves ``answer(request) -> status`` (or
    ``(status, body)``) for every request (the request handler, with ``command``, ``headers`` and the read
    ``body``) and returns its URL."""
    servers = []

    def start(answer) -> str:
        servers.append(start_forge(answer))
        return forge_url(servers[-1])

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
