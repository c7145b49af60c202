"""Access tokens, publishing, the current bundle and the FORGE's public key over the API."""

import gzip
import json

import pytest

from anvil_client import bundle as bundle_format
from anvil_forge.prompts import services as prompts

from ..api_support import Api, as_role, assert_error, fresh_rate_limits  # noqa: F401


pytestmark = pytest.mark.usefixtures("own_data_dir")


def test_access_tokens_lifecycle(world, as_role):
    admin = as_role("admin")
    path = f"/projects/{world.project.pk}/access_tokens"
    created = admin.post(path, {"label": "production"})
    assert created.status_code == 201
    body = created.json()
    assert body["token"].startswith("ant_") and body["label"] == "production" and body["revoked_at"] is None
    listed = admin.get(path).json()["data"]
    assert [t["id"] for t in listed] == [body["id"]] and "token" not in listed[0]
    assert admin.delete(f"{path}/{body['id']}").status_code == 204
    assert admin.get(path).json()["data"][0]["revoked_at"] is not None
    assert_error(admin.delete(f"{path}/00000000-0000-0000-0000-000000000000"), 404, "not_found_error")
    assert_error(as_role("member").post(path, {"label": "x"}), 403, "authorization_error")
    assert_error(as_role("outsider").get(path), 404, "not_found_error")
    assert_error(admin.post(path, {"label": ""}), 422, "validation_error", "label")


def test_publish(locked, as_role):
    admin = as_role("admin")
    result = admin.post(f"/prompt_sets/{locked.pset.pk}/publish", {})
    assert result.status_code == 200
    assert result.json() | {"version_id": None} == {
        "project_id": str(locked.project.pk), "prompt_set_id": str(locked.pset.pk), "version": "1.0.0",
        "version_id": None, "channel": "production", "sequence": 1, "changed": True, "request": None}
    assert admin.post(f"/prompt_sets/{locked.pset.pk}/publish", {"version": "1.0.0"}).json()["changed"] is False
    assert_error(admin.post(f"/prompt_sets/{locked.pset.pk}/publish", {"version": "3.0.0"}), 404,
                 "not_found_error", "version")
    assert_error(as_role("member").post(f"/prompt_sets/{locked.pset.pk}/publish", {}), 403, "authorization_error")
    prompts.change_status(locked.owner, locked.pset, "live")
    assert_error(admin.post(f"/prompt_sets/{locked.pset.pk}/publish", {}), 409, "conflict_error")


def test_current_bundle_with_etag_and_gzip(locked, as_role):
    token = as_role("admin").post(f"/projects/{locked.project.pk}/access_tokens", {"label": "p"}).json()["token"]
    as_role("admin").post(f"/prompt_sets/{locked.pset.pk}/publish", {})
    client = Api(token)
    path = f"/projects/{locked.project.pk}/current_bundle"
    response = client.get(path)
    assert response.status_code == 200
    data = json.loads(response.content)
    public = Api().get("/forge/public_key").json()["public_key"]
    verified = bundle_format.verify(data, public, project_id=str(locked.project.pk))
    assert verified.versions == {"emails": "1.0.0"} and verified.prompts["emails.welcome"]["template"]
    etag = response["ETag"]
    assert etag == '"' + data["checksum"].removeprefix("sha256:") + '"'
    not_modified = client.get(path, **{"If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.content == b""
    zipped = client.get(path, **{"Accept-Encoding": "gzip"})
    assert zipped["Content-Encoding"] == "gzip" and json.loads(gzip.decompress(zipped.content)) == data
    # The same If-None-Match rule as every other ETag'd GET (RFC 9110): weak tags compare weakly, * matches.
    for header in (f"W/{etag}", "*", f'"other", {etag}'):
        assert client.get(path, **{"If-None-Match": header}).status_code == 304, header
    assert client.get(path, **{"If-None-Match": '"other"'}).status_code == 200


def test_current_bundle_needs_a_token_of_that_project(locked, as_role, make_user):
    from anvil_forge.orgs.services import create_organisation

    other_org = create_organisation(locked.owner, "Other")
    other = prompts.create_project(locked.owner, other_org, "Other")
    foreign = as_role("owner").post(f"/projects/{other.pk}/access_tokens", {"label": "x"}).json()["token"]
    path = f"/projects/{locked.project.pk}/current_bundle"
    assert_error(Api().get(path), 401, "authentication_error")
    assert_error(Api("ant_nope").get(path), 401, "authentication_error")
    assert_error(Api(foreign).get(path), 404, "not_found_error")
    key = as_role("owner").headers["Authorization"].split()[1]
    assert_error(Api(key).get(path), 401, "authentication_error")  # an API key is not an access token
