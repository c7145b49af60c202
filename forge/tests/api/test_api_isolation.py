"""The isolation matrix over every API operation.

For each operation, against the test world's organisation:

* owner / admin / member: allowed → its success status; not allowed by the role matrix → 403;
* outsider and site admin (not members) → 404, as if it did not exist;
* no credentials → 401;
* a read-only key on a write → 403 (GETs and renders need only ``read``).

Each role runs in a savepoint that is rolled back, so every role meets the
same world. The last test checks that this table covers every operation of
the OpenAPI document, so a new endpoint cannot be added without its row.
"""

from types import SimpleNamespace

import pytest
from django.db import transaction

from anvil_forge.prompts import services as prompts

from ..api_support import Api, fresh_rate_limits, key_for  # noqa: F401

ALL = {"owner", "admin", "member"}
MANAGERS = {"owner", "admin"}
OWNER = {"owner"}
MEMBER_ROLES = ["owner", "admin", "member"]
NON_MEMBERS = ["outsider", "site_admin"]


def in_review(w):
    prompts.change_status(w.owner, w.pset, "review")


def locked(w):
    in_review(w)
    prompts.change_status(w.owner, w.pset, "locked")


def op(method, path, allowed, success, body=None, setup=None, read_only=None):
    return SimpleNamespace(method=method, path=path, allowed=allowed, success=success, body=body or (lambda w: None),
                           setup=setup, read_only=method == "GET" if read_only is None else read_only)


# (operation id in the OpenAPI document) -> row
MATRIX = {
    "get_organisation": op("GET", lambda w: f"/organisations/{w.org.pk}", ALL, 200),
    "update_organisation": op("PATCH", lambda w: f"/organisations/{w.org.pk}", OWNER, 200,
                              lambda w: {"description": "new"}),
    "delete_organisation": op("DELETE", lambda w: f"/organisations/{w.org.pk}", OWNER, 204),
    "list_members": op("GET", lambda w: f"/organisations/{w.org.pk}/members", ALL, 200),
    "invite_member": op("POST", lambda w: f"/organisations/{w.org.pk}/members", OWNER, 201,
                        lambda w: {"email": "new@example.com", "role": "member"}),
    "change_member_role": op("PATCH", lambda w: f"/organisations/{w.org.pk}/members/{w.other.pk}", OWNER, 200,
                             lambda w: {"role": "admin"}),
    "remove_member": op("DELETE", lambda w: f"/organisations/{w.org.pk}/members/{w.other.pk}", OWNER, 204),
    "list_audit_events": op("GET", lambda w: f"/organisations/{w.org.pk}/audit", ALL, 200),
    "list_projects": op("GET", lambda w: f"/projects?organisation={w.org.pk}", ALL, 200),
    "create_project": op("POST", lambda w: "/projects", MANAGERS, 201,
                         lambda w: {"organisation": str(w.org.pk), "name": "Billing"}),
    "get_project": op("GET", lambda w: f"/projects/{w.project.pk}", ALL, 200),
    "update_project": op("PATCH", lambda w: f"/projects/{w.project.pk}", MANAGERS, 200,
                         lambda w: {"description": "d"}),
    "delete_project": op("DELETE", lambda w: f"/projects/{w.project.pk}", MANAGERS, 204),
    "list_prompt_sets": op("GET", lambda w: f"/projects/{w.project.pk}/prompt_sets", ALL, 200),
    "create_prompt_set": op("POST", lambda w: f"/projects/{w.project.pk}/prompt_sets", ALL, 201,
                            lambda w: {"name": "Chat"}),
    "get_prompt_set": op("GET", lambda w: f"/prompt_sets/{w.pset.pk}", ALL, 200),
    "update_prompt_set": op("PATCH", lambda w: f"/prompt_sets/{w.pset.pk}", ALL, 200, lambda w: {"description": "d"}),
    "delete_prompt_set": op("DELETE", lambda w: f"/prompt_sets/{w.pset.pk}", MANAGERS, 204),
    "change_status": op("POST", lambda w: f"/prompt_sets/{w.pset.pk}/status", ALL, 200,
                        lambda w: {"status": "review"}),
    "change_status (approve)": op("POST", lambda w: f"/prompt_sets/{w.pset.pk}/status", MANAGERS, 200,
                                  lambda w: {"status": "locked"}, setup=in_review),
    "change_status (reject)": op("POST", lambda w: f"/prompt_sets/{w.pset.pk}/status", MANAGERS, 200,
                                 lambda w: {"status": "live"}, setup=in_review),
    "change_status (unlock)": op("POST", lambda w: f"/prompt_sets/{w.pset.pk}/status", MANAGERS, 200,
                                 lambda w: {"status": "live"}, setup=locked),
    "list_prompts": op("GET", lambda w: f"/prompt_sets/{w.pset.pk}/prompts", ALL, 200),
    "create_prompt": op("POST", lambda w: f"/prompt_sets/{w.pset.pk}/prompts", ALL, 201,
                        lambda w: {"name": "Bye", "template": "Bye"}),
    "get_prompt": op("GET", lambda w: f"/prompts/{w.prompt.pk}", ALL, 200),
    "update_prompt": op("PATCH", lambda w: f"/prompts/{w.prompt.pk}", ALL, 200,
                        lambda w: {"template": "Hi {{ name }}"}),
    "delete_prompt": op("DELETE", lambda w: f"/prompts/{w.prompt.pk}", ALL, 204),
    "render_prompt": op("POST", lambda w: f"/prompts/{w.prompt.pk}/render", ALL, 200,
                        lambda w: {"variables": {"name": "Ada"}}, read_only=True),
    "render_address": op("POST", lambda w: "/render", ALL, 200,
                         lambda w: {"address": "acme/support/emails@1.0.0/welcome", "variables": {"name": "Ada"}},
                         read_only=True),
    "list_versions": op("GET", lambda w: f"/prompt_sets/{w.pset.pk}/versions", ALL, 200),
    "create_version": op("POST", lambda w: f"/prompt_sets/{w.pset.pk}/versions", ALL, 201,
                         lambda w: {"label": "1.1.0"}),
    "get_version_by_label": op("GET", lambda w: f"/prompt_sets/{w.pset.pk}/versions/1.0.0", ALL, 200),
    "get_version": op("GET", lambda w: f"/versions/{w.version.pk}", ALL, 200),
    "diff": op("GET", lambda w: f"/prompt_sets/{w.pset.pk}/diff?from=1.0.0", ALL, 200),
    "rollback": op("POST", lambda w: f"/prompt_sets/{w.pset.pk}/rollback", ALL, 201,
                   lambda w: {"to": "1.0.0", "label": "1.1.0"}),
    "approve_version": op("POST", lambda w: f"/prompt_sets/{w.pset.pk}/versions/1.0.0/approve", MANAGERS, 200),
    "run_tests": op("POST", lambda w: f"/prompts/{w.prompt.pk}/run_tests", ALL, 200, read_only=True),
    "update_test_snapshots": op("POST", lambda w: f"/prompts/{w.prompt.pk}/test_snapshots", ALL, 200,
                                lambda w: {}),
    "list_sources": op("GET", lambda w: f"/projects/{w.project.pk}/sources", ALL, 200),
    "get_source": op("GET", lambda w: f"/projects/{w.project.pk}/sources/emails", ALL, 200),
    "put_source": op("PUT", lambda w: f"/projects/{w.project.pk}/sources/emails", ALL, 200,
                     lambda w: {"slug": "emails", "name": "Emails", "prompts": [
                         {"slug": "welcome", "name": "Welcome", "template": "Hi {{ name }}",
                          "parameters": [{"name": "name"}]}]}),
}

# Operations on the caller's own things (no organisation to be outside of): everyone with a key may.
OWN = {
    "list_organisations": op("GET", lambda w: "/organisations", ALL, 200),
    "create_organisation": op("POST", lambda w: "/organisations", ALL, 201, lambda w: {"name": "Mine"}),
    "list_api_keys": op("GET", lambda w: "/api_keys", ALL, 200),
    "create_api_key": op("POST", lambda w: "/api_keys", ALL, 201, lambda w: {"name": "k", "scopes": ["read"]}),
    "revoke_api_key": op("DELETE", lambda w: f"/api_keys/{w.spare_keys[w.role].pk}", ALL, 204),
}


@pytest.fixture
def keyed(world):
    """The world with a read+write and a read-only key per user, and a spare key per user to revoke."""
    from anvil_forge.accounts.models import ApiKey
    from anvil_forge.core.tokens import hash_secret

    world.keys = {role: key_for(user) for role, user in world.users.items()}
    world.read_keys = {role: key_for(user, ["read"]) for role, user in world.users.items()}
    world.spare_keys = {role: ApiKey.objects.get(key_hash=hash_secret(key_for(user, name="spare")))
                        for role, user in world.users.items()}
    return world


def call(row, world, token, role):
    world.role = role
    if row.setup:
        row.setup(world)
    return Api(token).request(row.method, row.path(world), row.body(world))


def attempt(row, world, token, role):
    """Run one request in a savepoint and roll it back, so the next attempt meets the same world."""
    sid = transaction.savepoint_create()
    try:
        return call(row, world, token, role)
    finally:
        transaction.savepoint_rollback(sid)


def expect(response, status, type_=None, where=""):
    assert response.status_code == status, (where, response.status_code, response.content[:300])
    if type_:
        assert response.json()["error"]["type"] == type_, where


@pytest.mark.parametrize("name", list(MATRIX))
def test_organisation_operations(keyed, name):
    row, w = MATRIX[name], keyed
    for role in MEMBER_ROLES:
        response = attempt(row, w, w.keys[role], role)
        if role in row.allowed:
            expect(response, row.success, where=f"{name} as {role}")
        else:
            expect(response, 403, "authorization_error", f"{name} as {role}")
    for role in NON_MEMBERS:
        expect(attempt(row, w, w.keys[role], role), 404, "not_found_error", f"{name} as {role}")
    expect(attempt(row, w, None, "owner"), 401, "authentication_error", f"{name} without credentials")
    read_only = attempt(row, w, w.read_keys["owner"], "owner")
    if row.read_only:
        expect(read_only, row.success, where=f"{name} with a read-only key")
    else:
        expect(read_only, 403, "authorization_error", f"{name} with a read-only key")


@pytest.mark.parametrize("name", list(OWN))
def test_operations_on_the_callers_own_things(keyed, name):
    row, w = OWN[name], keyed
    for role in [*MEMBER_ROLES, *NON_MEMBERS]:
        expect(attempt(row, w, w.keys[role], role), row.success, where=f"{name} as {role}")
    expect(attempt(row, w, None, "owner"), 401, "authentication_error", f"{name} without credentials")
    read_only = attempt(row, w, w.read_keys["owner"], "owner")
    expect(read_only, row.success if row.read_only else 403, where=f"{name} with a read-only key")


def test_lists_never_show_another_organisations_things(keyed):
    w = keyed
    outsider = Api(w.keys["outsider"])
    assert str(w.org.pk) not in outsider.get("/organisations").content.decode()
    assert str(w.project.pk) not in outsider.get("/projects").content.decode()
    assert [k["name"] for k in outsider.get("/api_keys").json()["data"]] == ["tests", "tests", "spare"]
    assert Api(w.keys["owner"]).delete(f"/api_keys/{w.spare_keys['member'].pk}").status_code == 404


def test_the_matrix_covers_every_operation():
    """Every operation of api.md's resource table (the routers below) has a row here."""
    from anvil_forge.api import api_keys, organisations, projects, prompt_sets, prompts, sources, versions

    defined = {operation.view_func.__name__
               for module in (organisations, projects, prompt_sets, prompts, versions, sources, api_keys)
               for path_view in module.router.path_operations.values() for operation in path_view.operations}
    covered = {name.split(" ")[0] for name in [*MATRIX, *OWN]}
    assert defined == covered
