"""The Forges pages without a live remote: configuration problems, unreachable forges, links in the project
list, export download and upload import. (Browsing a live remote: test_peering_integration.py.)"""

import io
import json
import socket

import pytest

from anvil_forge.audit.models import AuditEvent
from anvil_forge.peering import archive, services
from anvil_forge.peering.models import RemoteProjectLink
from anvil_forge.prompts.models import Project

from ..peering_support import target_org  # noqa: F401  (fixture)

TOKEN = "ank_WebPagesNeverShowThis_42424242"


def text(response):
    return response.content.decode()


@pytest.fixture
def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def forges(settings, monkeypatch, closed_port):
    """Two known forges, both down (nothing listens on their port)."""
    monkeypatch.setenv("WEB_TEST_TOKEN", TOKEN)
    settings.ANVIL_PEER_CONNECT_TIMEOUT = 1
    settings.ANVIL_KNOWN_FORGES = json.dumps([
        {"name": "forge-b", "url": f"http://127.0.0.1:{closed_port}", "token": "env:WEB_TEST_TOKEN"},
        {"name": "Lab 2", "url": f"http://127.0.0.1:{closed_port}/", "token": TOKEN},
    ])


def test_the_forges_page_lists_known_forges_without_their_tokens(client, world, forges, closed_port):
    client.force_login(world.member)
    page = client.get("/forges")
    assert page.status_code == 200
    body = text(page)
    assert "forge-b" in body and "Lab 2" in body and f"http://127.0.0.1:{closed_port}" in body
    assert "env:WEB_TEST_TOKEN" in body and "in the configuration" in body  # where the token comes from…
    assert TOKEN not in body  # …never the token
    assert 'hx-get="/forges/forge-b/status"' in body and 'hx-get="/forges/Lab%202/status"' in body


def test_status_of_an_unreachable_forge_is_a_message(client, world, forges):
    client.force_login(world.member)
    response = client.get("/forges/forge-b/status", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "✗ unreachable" in text(response) and "connection refused" in text(response)
    assert TOKEN not in text(response)


@pytest.mark.parametrize("path", [
    "/forges/forge-b/",
    "/forges/forge-b/o/7c9e6679-7425-40de-944b-e07fc1f90ae7/",
    "/forges/forge-b/p/7c9e6679-7425-40de-944b-e07fc1f90ae7/",
    "/forges/forge-b/p/7c9e6679-7425-40de-944b-e07fc1f90ae7/s/emails/",
    "/forges/forge-b/p/7c9e6679-7425-40de-944b-e07fc1f90ae7/s/emails/prompts/welcome/",
])
def test_browsing_an_unreachable_forge_shows_a_message_not_a_500(client, world, forges, path):
    client.force_login(world.member)
    response = client.get(path)
    assert response.status_code == 200
    assert "forge-b could not answer" in text(response) and "cannot reach forge-b" in text(response)
    assert TOKEN not in text(response)


def test_connect_and_import_from_an_unreachable_forge_say_why(client, world, forges):
    client.force_login(world.owner)
    base = "/forges/forge-b/p/7c9e6679-7425-40de-944b-e07fc1f90ae7/"
    response = client.post(base + "connect", {"organisation": "acme"}, follow=True)
    assert "Not connected: cannot reach forge-b" in text(response)
    response = client.post(base + "import", {"organisation": "acme"}, follow=True)
    assert "Nothing was imported: cannot reach forge-b" in text(response)
    assert not RemoteProjectLink.objects.exists() and Project.objects.count() == 1


def test_unknown_forges_are_404(client, world, forges):
    client.force_login(world.member)
    assert client.get("/forges/nowhere/").status_code == 404
    assert client.get("/forges/nowhere/status").status_code == 404


def test_a_broken_configuration_is_shown_on_the_forges_page(client, world, settings):
    settings.ANVIL_KNOWN_FORGES = '[{"name": "b", "url": "http://x", "token": "env:SURELY_NOT_SET_VAR"}]'
    client.force_login(world.member)
    response = client.get("/forges")
    assert response.status_code == 200
    assert "configuration is broken" in text(response) and "SURELY_NOT_SET_VAR" in text(response)
    assert client.get("/forges/b/").status_code == 404


def test_no_forges_configured(client, world, settings):
    settings.ANVIL_KNOWN_FORGES = ""
    client.force_login(world.member)
    assert "This FORGE knows no other FORGE" in text(client.get("/forges"))


def test_the_forges_pages_need_a_sign_in(client, forges):
    assert client.get("/forges").status_code == 302
    assert client.get("/forges/forge-b/").status_code == 302


# --- connected projects in the project list ----------------------------------------------------------------

def test_connected_projects_are_listed_with_marker_badge_and_forge(client, world, forges):
    link = services.connect_remote_project(world.owner, world.org, "forge-b", "7c9e6679-7425-40de-944b-e07fc1f90ae7",
                                           name="Remote Support", slug="support", remote_organisation="Beta")
    client.force_login(world.member)
    body = text(client.get("/o/acme/"))
    assert "Remote Support" in body and "read-only" in body and "forge-b" in body and "⇄" in body
    assert f"/forges/forge-b/p/{link.remote_project_id}/" in body
    assert "Disconnect" not in body  # members cannot
    client.force_login(world.owner)
    assert "Disconnect" in text(client.get("/o/acme/"))
    assert "Remote Support" in text(client.get("/forges"))  # also on the Forges page


def test_disconnect(client, world, forges):
    link = services.connect_remote_project(world.owner, world.org, "forge-b", "7c9e6679-7425-40de-944b-e07fc1f90ae7",
                                           name="Remote Support", slug="support")
    client.force_login(world.member)
    response = client.post(f"/links/{link.pk}/disconnect", follow=True)
    assert "may not" in text(response) and RemoteProjectLink.objects.exists()
    client.force_login(world.outsider)
    assert client.post(f"/links/{link.pk}/disconnect").status_code == 404
    client.force_login(world.admin)
    response = client.post(f"/links/{link.pk}/disconnect", follow=True)
    assert "Disconnected Remote Support (forge-b)" in text(response)
    assert response.redirect_chain[-1][0] == "/o/acme/"
    assert not RemoteProjectLink.objects.exists()
    assert client.get(f"/links/{link.pk}/disconnect").status_code == 405


# --- export download and upload import -----------------------------------------------------------------------

def test_export_download(client, world):
    client.force_login(world.member)
    page = client.get("/o/acme/p/support/")
    assert "Download archive" in text(page) and "/o/acme/p/support/export" in text(page)
    response = client.get("/o/acme/p/support/export")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="acme-support.anvil.json"'
    data = json.loads(response.content)
    assert archive.validate(data)["content"]["project"]["slug"] == "support"
    client.force_login(world.outsider)
    assert client.get("/o/acme/p/support/export").status_code == 404


def _upload(client, data: bytes, organisation: str, name="support.anvil.json"):
    upload = io.BytesIO(data)
    upload.name = name
    return client.post("/import", {"organisation": organisation, "archive": upload}, follow=True)


def test_upload_import(client, world, target_org):
    client.force_login(world.owner)
    exported = client.get("/o/acme/p/support/export").content
    form = client.get("/import?organisation=target")
    assert form.status_code == 200 and 'value="target" selected' in text(form)
    response = _upload(client, exported, "target")
    assert response.redirect_chain[-1][0] == "/o/target/p/support/"
    assert "Imported &#x27;Support&#x27; (target/support)" in text(response)
    assert AuditEvent.objects.get(action="project.import").summary["via"] == "upload"
    again = _upload(client, exported, "target")
    assert "Nothing new to import" in text(again)
    assert "project.import" in text(client.get("/o/target/audit"))
    client.post("/orgs/switch", {"organisation": "target"})
    assert "imported project" in text(client.get("/"))  # the dashboard's recent activity


def test_upload_import_refusals_are_shown_on_the_form(client, world, target_org):
    client.force_login(world.owner)
    exported = json.loads(client.get("/o/acme/p/support/export").content)
    exported["content"]["project"]["name"] = "Changed"
    response = _upload(client, json.dumps(exported).encode(), "target")
    assert response.status_code == 200 and "checksum does not match" in text(response)
    response = _upload(client, b"\x89PNG not json", "target")
    assert "not UTF-8" in text(response) or "not valid JSON" in text(response)
    assert not Project.objects.filter(organisation=target_org).exists()


def test_upload_import_needs_a_managed_organisation(client, world):
    client.force_login(world.member)
    exported = client.get("/o/acme/p/support/export").content
    response = _upload(client, exported, "acme")
    assert "Select a valid choice" in text(response)  # acme is not offered to a member
    page = text(client.get("/import"))
    assert '<option value="member"' in page and '<option value="acme"' not in page  # only their own one
