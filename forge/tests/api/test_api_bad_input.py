"""Bad input gets a 4xx naming the problem, never a 500, at every write endpoint of the OpenAPI document:
an oversized body, JSON nested too deeply, a lone surrogate in any string or key, NaN, and unparsable URLs.
Nothing is stored by a refused request."""

import json
import uuid

import pytest

from anvil_forge.api import api
from anvil_forge.api.peering import IMPORT_MAX_BYTES
from anvil_forge.distribution.services import create_access_token
from anvil_forge.prompts.models import Prompt, PromptSet, Version

from ..api_support import Api, fresh_rate_limits, key_for  # noqa: F401

SECRET = "s" * 32
SURROGATE = "\\ud800"  # as it arrives on the wire: valid JSON, not valid text


def _bodies(world, archive):
    """A body each write operation would accept, keyed by (METHOD, path template)."""
    return {
        ("POST", "/projects/import"): {"organisation": "acme", "archive": archive},
        ("POST", "/organisations"): {"name": "Beta", "slug": "beta", "description": "d"},
        ("PATCH", "/organisations/{id}"): {"name": "Acme 2", "description": "d"},
        ("POST", "/organisations/{id}/members"): {"email": "newcomer@example.com", "role": "member"},
        ("PATCH", "/organisations/{id}/members/{user_id}"): {"role": "admin"},
        ("POST", "/projects"): {"organisation": str(world.org.pk), "name": "Other", "description": "d"},
        ("PATCH", "/projects/{id}"): {"description": "d"},
        ("POST", "/projects/{id}/prompt_sets"): {"name": "More", "metadata": {"team": "x", "tags": ["a"]}},
        ("PATCH", "/prompt_sets/{id}"): {"description": "d", "metadata": {"team": "y"}},
        ("POST", "/prompt_sets/{id}/status"): {"status": "review"},
        ("POST", "/prompt_sets/{id}/prompts"): {
            "name": "Second", "template": "Hi {{ who }}", "description": "d",
            "parameters": [{"name": "who", "type": "string", "description": "d", "default": "x"}],
            "metadata": {"k": "v"}},
        ("PATCH", "/prompts/{id}"): {"template": "Hello {{ name }}!", "description": "d"},
        ("POST", "/prompts/{id}/render"): {"variables": {"name": "Ann"}},
        ("POST", "/render"): {"address": "acme/support/emails@1.0.0/welcome", "variables": {"name": "Ann"}},
        ("POST", "/prompt_sets/{id}/versions"): {"label": "1.1.0", "changelog": "c"},
        ("POST", "/prompt_sets/{id}/rollback"): {"to": "1.0.0", "label": "1.1.0", "changelog": "c"},
        ("POST", "/api_keys"): {"name": "k", "scopes": ["read"]},
        ("POST", "/projects/{id}/access_tokens"): {"label": "t"},
        ("POST", "/prompt_sets/{id}/publish"): {"version": "1.0.0", "channel": "production",
                                               "rollout": {"percentage": 10, "labels": {"region": "eu"},
                                                           "instance_ids": ["pod-1"]}},
        ("POST", "/projects/{id}/channels"): {"name": "staging", "description": "d"},
        ("PATCH", "/projects/{id}/channels/{name}"): {"description": "d"},
        ("PUT", "/projects/{id}/channels/definitions"): {
            "format": "anvil-channels", "format_version": 1, "project": "support",
            "channels": [{"name": "canary", "description": "d"}]},
        ("POST", "/projects/{id}/channels/{name}/promote"): {"source": "staging",
                                                             "rollout": {"labels": {"region": "eu"}}},
        ("POST", "/projects/{id}/channels/{name}/rollout"): {"labels": {"region": "eu"}, "instance_ids": ["a"]},
        ("PUT", "/projects/{id}/sources/{slug}"): {
            "slug": "emails", "name": "Emails", "prompts": [
                {"slug": "welcome", "name": "Welcome", "template": "Hello {{ name }}!",
                 "parameters": [{"name": "name", "type": "string"}],
                 "tests": [{"name": "greets", "variables": {"name": "Ann"},
                            "assert": [{"type": "contains", "value": "Ann"}]}]}]},
        ("POST", "/prompts/{id}/test_snapshots"): {"names": ["greets"]},
        ("POST", "/projects/{id}/live_instances"): {
            "instance_id": "pod-1", "host": "h", "mode": "accepting",
            "receiver_url": "http://127.0.0.1:8080/anvil/receive", "receiver_secret": SECRET,
            "versions": {"emails": "1.0.0"}, "use_counts": {"emails.welcome": 3}, "client_version": "1.0",
            "channel": "production", "labels": {"region": "eu"}, "last_error": "e"},
    }


def _write_operations():
    schema = api.get_openapi_schema()
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            if method in ("post", "put", "patch") and operation.get("requestBody"):
                yield method.upper(), path.removeprefix("/api/v1")


def _url(world, template: str) -> str:
    first = template.strip("/").split("/")[0]
    ids = {"organisations": world.org.pk, "projects": world.project.pk, "prompt_sets": world.pset.pk,
           "prompts": world.prompt.pk}
    return (template.replace("{id}", str(ids.get(first, uuid.uuid4())))
            .replace("{user_id}", str(world.member.pk)).replace("{label}", "1.0.0").replace("{slug}", "emails")
            .replace("{name}", "production"))


def _leaves(value, path=()):
    """Every string in a body (values and keys), as (path, is_key)."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield path + (key,), True
            yield from _leaves(child, path + (key,))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _leaves(child, path + (i,))
    elif isinstance(value, str):
        yield path, False


def _with_surrogate(body, path, is_key) -> str:
    """``body`` as JSON text with a lone surrogate in the string (or key) at ``path``."""
    marker = "\x01MARK\x01"
    copy = json.loads(json.dumps(body))
    parent = copy
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if is_key:
        parent[last + marker] = parent.pop(last)
    else:
        parent[last] = parent[last] + marker
    return json.dumps(copy).replace(json.dumps(marker)[1:-1], SURROGATE)


def _field(leaf) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in leaf).lstrip(".")


@pytest.fixture
def clients(world):
    _, token = create_access_token(world.owner, world.project, "prod")
    owner = Api(key_for(world.owner))
    archive = owner.get(f"/projects/{world.project.pk}/export").json()
    return {"key": owner, "token": Api(token)}, _bodies(world, archive)


def _api_for(clients, path):
    return clients["token"] if path.endswith("/live_instances") else clients["key"]


def _stored(world):
    return (PromptSet.objects.count(), Prompt.objects.count(), Version.objects.count(),
            sorted(Prompt.objects.values_list("template", flat=True)))


def test_every_write_operation_has_a_body_here(clients):
    _, bodies = clients
    assert set(_write_operations()) == set(bodies)  # a new write endpoint: add its body above


def test_a_lone_surrogate_anywhere_is_refused_with_400_naming_where(world, clients):
    apis, bodies = clients
    before = _stored(world)
    tried = 0
    for method, path in _write_operations():
        body = bodies[method, path]
        for leaf, is_key in _leaves(body):
            if path == "/projects/import" and leaf[:1] == ("archive",) and len(leaf) > 4:
                continue  # a sample of the archive is enough: it is all one parse
            answer = _api_for(apis, path).request(method, _url(world, path), _with_surrogate(body, leaf, is_key))
            assert answer.status_code == 400, (method, path, leaf, answer.status_code, answer.content[:300])
            error = answer.json()["error"]
            assert "surrogate" in error["message"], error
            if not is_key:
                assert error["details"][0]["field"] == _field(leaf), error
            tried += 1
    assert tried > 50 and _stored(world) == before


def test_an_oversized_body_is_413_everywhere(world, clients, settings):
    apis, _ = clients
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
    big = json.dumps({"name": "x" * 2_700_000})
    for method, path in _write_operations():
        body = json.dumps({"name": "x" * (IMPORT_MAX_BYTES + 10)}) if path == "/projects/import" else big
        answer = _api_for(apis, path).request(method, _url(world, path), body)
        assert answer.status_code == 413, (method, path, answer.status_code, answer.content[:300])
        assert "larger than" in answer.json()["error"]["message"]


@pytest.mark.parametrize("text, problem", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"a":' * 70 + "1" + "}" * 70, "nested too deeply"),
    ('{"name": NaN}', "not valid JSON"),
    ('{"name": "x"', "not valid JSON"),
])
def test_unparsable_bodies_are_400_everywhere(world, clients, text, problem):
    apis, _ = clients
    for method, path in _write_operations():
        answer = _api_for(apis, path).request(method, _url(world, path), text)
        assert answer.status_code == 400, (method, path, answer.status_code, answer.content[:300])
        assert problem in answer.json()["error"]["message"], answer.json()


@pytest.mark.parametrize("url", ["http://[::1", "http://[::1]:99999/", "http://exa mple.com/", "http://xn--/",
                                 "ftp://example.com/", "http://user:pw@example.com/", "http://:80/"])
def test_unusable_receiver_urls_are_422(world, clients, url):
    apis, bodies = clients
    body = dict(bodies["POST", "/projects/{id}/live_instances"], receiver_url=url)
    answer = apis["token"].post(_url(world, "/projects/{id}/live_instances"), body)
    assert answer.status_code == 422, (url, answer.content[:300])
    assert answer.json()["error"]["details"][0]["field"] == "receiver_url"
