"""Helpers for the API tests: a small JSON client, keys per role, and a limit no test reaches.

Test modules import what they use (``from .api_support import ...``); pytest
picks the fixtures up from the importing module.
"""

import json

import pytest
from django.test import Client

from anvil_forge.accounts.services import create_api_key

BASE = "/api/v1"


@pytest.fixture(autouse=True)
def fresh_rate_limits(settings):
    """A limit no test reaches by accident (counters start at zero: conftest.fresh_api_counts)."""
    settings.ANVIL_API_RATE_LIMIT = "100000/minute"


class Api:
    """``api.get("/projects")`` → Django test response; ``.json()`` for the body."""

    def __init__(self, token: str | None = None, client: Client | None = None, **headers):
        self.client = client or Client()
        self.headers = dict(headers)
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def _url(self, path: str) -> str:
        return path if path.startswith(BASE) else BASE + path

    def get(self, path, params=None, **headers):
        return self.client.get(self._url(path), params or {}, headers={**self.headers, **headers})

    def _send(self, method, path, body, headers):
        data = body if isinstance(body, (str, bytes)) else json.dumps(body if body is not None else {})
        return getattr(self.client, method)(self._url(path), data=data, content_type="application/json",
                                            headers={**self.headers, **headers})

    def post(self, path, body=None, **headers):
        return self._send("post", path, body, headers)

    def patch(self, path, body=None, **headers):
        return self._send("patch", path, body, headers)

    def put(self, path, body=None, **headers):
        return self._send("put", path, body, headers)

    def delete(self, path, **headers):
        return self.client.delete(self._url(path), headers={**self.headers, **headers})

    def request(self, method, path, body=None, **headers):
        if method == "GET":
            return self.get(path, body, **headers)
        if method == "DELETE":
            return self.delete(path, **headers)
        return self._send(method.lower(), path, body, headers)


def key_for(user, scopes=("read", "write"), name="tests") -> str:
    return create_api_key(user, name, list(scopes))[1]


@pytest.fixture
def as_role(world):
    """``as_role("member")`` → an :class:`Api` with a read+write key of that world user; cached per role."""
    made = {}

    def make(role: str, scopes=("read", "write")) -> Api:
        if (role, scopes) not in made:
            made[role, scopes] = Api(key_for(world.users[role], scopes, name=f"{role} key"))
        return made[role, scopes]

    return make


def assert_error(response, status: int, type_: str, field: str | None = None):
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert error["type"] == type_, error
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], list)
    for detail in error["details"]:
        assert isinstance(detail["field"], str) and isinstance(detail["message"], str)
    if field is not None:
        assert field in [d["field"] for d in error["details"]], error
    return error
