"""The peering endpoints: browsing (/forge/…), export and import, and who may see or do what."""

import io
import json

import pytest
from django.test import Client

from anvil_forge.distribution import keys
from anvil_forge.orgs.services import create_organisation
from anvil_forge.peering import archive
from anvil_forge.prompts import services as prompts
from anvil_forge.prompts.models import Project, Version

from ..api_support import BASE, Api, as_role, assert_error, fresh_rate_limits, key_for  # noqa: F401
from ..peering_support import rich, tampered, target_org  # noqa: F401


pytestmark = pytest.mark.usefixtures("own_data_dir")


# --- browsing -------------------------------------------------------------------------------------------

def test_info_names_the_forge_its_version_and_public_key(as_role, settings):
    settings.ANVIL_FORGE_NAME = "forge-a"
    body = as_role("member").get("/forge/info").json()
    assert body["name"] == "forge-a" and body["version"] and body["api_version"] == "1"
    assert body["public_key"] == keys.public_key() and body["public_key"].startswith("ed25519:")
    assert body["archive_format_version"] == 3 and body["user_email"] == "member@example.com"
    settings.ANVIL_FORGE_NAME = ""
    settings.ANVIL_BASE_URL = "https://anvil.example.com"
    assert as_role("member").get("/forge/info").json()["name"] == "anvil.example.com"


def test_browsing_needs_an_api_key(world):
    for path in ("/forge/info", "/forge/organisations", f"/forge/organisations/{world.org.pk}/projects",
                 f"/forge/projects/{world.project.pk}", f"/projects/{world.project.pk}/export"):
        assert_error(Api().get(path), 401, "authentication_error")
        assert_error(Api("ank_wrong").get(path), 401, "authentication_error")


def test_organisations_with_counts_and_last_updated(rich, as_role):
    other = create_organisation(rich.member, "Zeta", "zeta")
    prompts.create_project(rich.member, other, "One", "one")
    page = as_role("member").get("/forge/organisations").json()
    assert page["meta"] == {"next_cursor": None, "has_more": False}
    rows = {row["slug"]: row for row in page["data"]}
    assert set(rows) == {"acme", "zeta", "member"}  # the member's own organisations only
    assert rows["acme"]["project_count"] == 1 and rows["zeta"]["project_count"] == 1
    assert rows["member"]["project_count"] == 0 and rows["member"]["personal"] is True
    assert rows["acme"]["role"] == "member" and rows["zeta"]["role"] == "owner"
    newest = max(v.created_at for v in Version.objects.filter(prompt_set__project=rich.project))
    assert rows["acme"]["last_updated_at"] >= newest.isoformat().replace("+00:00", "Z")[:19]
    outsider_slugs = [r["slug"] for r in as_role("outsider").get("/forge/organisations").json()["data"]]
    assert outsider_slugs == ["outsider"]


def test_organisation_pages(world, as_role):
    for i in range(3):
        create_organisation(world.owner, f"Org {i}", f"org-{i}")
    api = as_role("owner")
    first = api.get("/forge/organisations", {"limit": 2}).json()
    assert first["meta"]["has_more"] and len(first["data"]) == 2
    second = api.get("/forge/organisations", {"limit": 2, "cursor": first["meta"]["next_cursor"]}).json()
    names = [o["name"] for o in first["data"] + second["data"]]
    assert names == sorted(names) and len(set(names)) == 4


def test_projects_of_an_organisation(rich, as_role):
    page = as_role("member").get(f"/forge/organisations/{rich.org.pk}/projects").json()
    [row] = page["data"]
    assert row["slug"] == "support" and row["organisation"] == {"id": str(rich.org.pk), "name": "Acme",
                                                                 "slug": "acme"}
    assert (row["prompt_set_count"], row["prompt_count"], row["version_count"]) == (4, 5, 6)
    assert row["last_updated_at"] >= row["updated_at"]


def test_project_detail_with_sets_versions_published_version_and_prompts(rich, as_role):
    from anvil_forge.distribution.models import PublishedVersion

    chat = rich.project.prompt_sets.get(slug="chat")
    PublishedVersion.objects.create(project=rich.project, prompt_set=chat, version=chat.versions.get(label="0.2.0"),
                                    channel=rich.project.channels.get(name="production"))
    body = as_role("member").get(f"/forge/projects/{rich.project.pk}").json()
    assert body["name"] == "Support" and body["organisation"]["slug"] == "acme"
    assert (body["prompt_set_count"], body["prompt_count"], body["version_count"]) == (4, 5, 6)
    sets = {s["slug"]: s for s in body["prompt_sets"]}
    assert [s["name"] for s in body["prompt_sets"]] == ["Chat", "Drafts", "Emails", "FAQ"]
    assert sets["chat"]["status"] == "locked" and sets["chat"]["version_count"] == 4
    assert sets["chat"]["latest_version"] == "0.3.0" and sets["chat"]["published_version"] == "0.2.0"
    assert [v["label"] for v in sets["chat"]["versions"]] == ["0.3.0", "0.2.0", "0.2.0-beta.1", "0.1.0"]
    assert sets["emails"]["published_version"] is None
    system = {p["slug"]: p for p in sets["chat"]["prompts"]}["system"]
    assert system["flat_id"] == "chat.system" and system["template"].startswith("You are {{ name }}")
    assert system["parameters"][1]["name"] == "product"


def test_outsiders_get_404_for_everything_inside(rich, as_role):
    outsider = as_role("outsider")
    assert_error(outsider.get(f"/forge/organisations/{rich.org.pk}/projects"), 404, "not_found_error")
    assert_error(outsider.get(f"/forge/projects/{rich.project.pk}"), 404, "not_found_error")
    assert_error(outsider.get(f"/projects/{rich.project.pk}/export"), 404, "not_found_error")
    assert_error(outsider.get("/forge/projects/not-a-uuid"), 422, "validation_error")


def test_project_detail_has_an_etag(rich, as_role):
    api = as_role("member")
    first = api.get(f"/forge/projects/{rich.project.pk}")
    assert api.get(f"/forge/projects/{rich.project.pk}", **{"If-None-Match": first["ETag"]}).status_code == 304


# --- export -------------------------------------------------------------------------------------------

def test_export_returns_the_archive_as_the_body(rich, as_role):
    response = as_role("member", ("read",)).get(f"/projects/{rich.project.pk}/export")
    assert response.status_code == 200 and response["Content-Type"].startswith("application/json")
    data = response.json()
    assert archive.validate(data) and data["content"]["project"]["slug"] == "support"


# --- import -------------------------------------------------------------------------------------------

def _export(api, project):
    return api.get(f"/projects/{project.pk}/export").json()


def test_import_json_creates_then_changes_nothing(rich, target_org, as_role):
    api = as_role("owner")
    data = _export(api, rich.project)
    created = api.post("/projects/import", {"organisation": str(target_org.pk), "archive": data})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["created"] and body["changed"] and body["project"]["slug"] == "support"
    assert body["project"]["organisation_id"] == str(target_org.pk)
    assert sorted(body["prompt_sets_created"]) == ["chat", "drafts", "emails", "faq"]
    assert len(body["versions_added"]) == 6 and "Imported" in body["message"]
    again = api.post("/projects/import", {"organisation": "target", "archive": data})  # a slug works too
    assert again.status_code == 200 and again.json()["changed"] is False and again.json()["versions_kept"] == 6
    project = Project.objects.get(organisation=target_org, slug="support")
    assert _export(api, project)["checksum"] == data["checksum"]


def test_import_multipart_upload(rich, target_org, as_role):
    api = as_role("owner")
    text = archive.dumps(_export(api, rich.project)).encode()
    upload = io.BytesIO(text)
    upload.name = "support.anvil.json"
    response = api.client.post(f"{BASE}/projects/import", {"organisation": str(target_org.pk), "archive": upload},
                               headers=api.headers)
    assert response.status_code == 201, response.content
    assert response.json()["project"]["slug"] == "support"


def test_import_multipart_errors(world, as_role):
    api = as_role("owner")
    missing = api.client.post(f"{BASE}/projects/import", {"organisation": str(world.org.pk)}, headers=api.headers)
    assert_error(missing, 422, "validation_error", "archive")
    junk = io.BytesIO(b"not json")
    junk.name = "x.json"
    response = api.client.post(f"{BASE}/projects/import", {"organisation": str(world.org.pk), "archive": junk},
                               headers=api.headers)
    assert "not valid JSON" in assert_error(response, 422, "validation_error", "archive")["message"]


def test_a_tampered_archive_is_refused_by_the_api(rich, target_org, as_role):
    api = as_role("owner")
    data = tampered(_export(api, rich.project), lambda a: a["content"]["project"].update(name="Hijacked"))
    error = assert_error(api.post("/projects/import", {"organisation": str(target_org.pk), "archive": data}),
                         422, "validation_error", "archive.checksum")
    assert "checksum does not match" in error["message"]
    assert not Project.objects.filter(organisation=target_org).exists()


def test_a_conflicting_label_is_a_409_naming_it(rich, target_org, as_role):
    api = as_role("owner")
    api.post("/projects/import", {"organisation": str(target_org.pk), "archive": _export(api, rich.project)})
    target_emails = Project.objects.get(organisation=target_org).prompt_sets.get(slug="emails")
    prompts.update_prompt(rich.owner, target_emails.prompts.get(), template="Yo {{ name }}")
    prompts.create_version(rich.owner, target_emails, "2.0.0")
    prompts.create_version(rich.owner, rich.pset, "2.0.0")
    response = api.post("/projects/import", {"organisation": str(target_org.pk),
                                             "archive": _export(api, rich.project)})
    error = assert_error(response, 409, "conflict_error", "prompt_sets[emails].versions[2.0.0]")
    assert "version 2.0.0" in error["message"]


def test_import_rights_and_bad_requests(rich, as_role):
    data = _export(as_role("owner"), rich.project)
    body = {"organisation": str(rich.org.pk), "archive": data}
    assert_error(as_role("member").post("/projects/import", body), 403, "authorization_error")
    assert_error(as_role("outsider").post("/projects/import", body), 404, "not_found_error")
    assert_error(as_role("admin", ("read",)).post("/projects/import", body), 403, "authorization_error")
    owner = as_role("owner")
    assert_error(owner.post("/projects/import", "{broken"), 400, "validation_error")
    assert_error(owner.post("/projects/import", {"archive": data}), 422, "validation_error", "organisation")
    assert_error(owner.post("/projects/import", {"organisation": str(rich.org.pk), "archive": [1]}), 422,
                 "validation_error", "archive")
    assert_error(owner.post("/projects/import", {"organisation": str(rich.org.pk), "archive": {"format": "x"}}),
                 422, "validation_error", "archive.format")
    assert_error(owner.post("/projects/import", "<x/>", CONTENT_TYPE="application/xml"), 422, "validation_error")


def test_import_with_a_session_needs_csrf(rich, target_org):
    client = Client(enforce_csrf_checks=True)
    client.force_login(rich.owner)
    data = json.loads(archive.dumps(Api(key_for(rich.owner)).get(f"/projects/{rich.project.pk}/export").json()))
    response = client.post(f"{BASE}/projects/import", json.dumps({"organisation": str(target_org.pk),
                                                                  "archive": data}),
                           content_type="application/json")
    assert_error(response, 403, "authorization_error")


def test_the_openapi_document_lists_the_peering_operations(world):
    document = Api().get("/openapi.json").json()
    paths = document["paths"]
    for path in ("/api/v1/forge/info", "/api/v1/forge/organisations", "/api/v1/forge/organisations/{id}/projects",
                 "/api/v1/forge/projects/{id}", "/api/v1/projects/{id}/export", "/api/v1/projects/import"):
        assert path in paths, path
    body = paths["/api/v1/projects/import"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "multipart/form-data"}
