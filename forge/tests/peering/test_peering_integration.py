"""Peering between real FORGEs: ``anvil serve`` subprocesses on loopback with their own data directories and
SQLite databases, started once for this module.

* FORGE B has the demo data (acme/support: "emails" LOCKED with 4 versions, "chat" LIVE with 2) and API keys;
* FORGE C is empty but for one user;
* the test process is FORGE A (its own test database), with ANVIL_KNOWN_FORGES pointing at B.
"""

import json
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import httpx
import pytest

from anvil_forge.orgs.services import create_organisation
from anvil_forge.peering import archive, queries, remote, services
from anvil_forge.peering.known_forges import get_forge

from ..peering_servers import Forge, create_user_code, key_code

@pytest.fixture(scope="module")
def peers(tmp_path_factory):
    b = Forge("forge-b", tmp_path_factory.mktemp("forge-b"))
    c = Forge("forge-c", tmp_path_factory.mktemp("forge-c"))
    b_code = "\n".join(["call_command('demo', verbosity=0)", key_code("admin@anvil.local", ["read"], "b_admin"),
                        create_user_code("stranger@b.test", ["read"], "b_stranger")])
    c_code = create_user_code("ops@c.test", ["read", "write"], "c_ops")
    with ThreadPoolExecutor(2) as pool:  # one process each to migrate and fill, then the servers
        keys = {}
        for found in pool.map(lambda job: job[0].prepare(job[1]), ((b, b_code), (c, c_code))):
            keys.update(found)
        list(pool.map(lambda forge: forge.start(), (b, c)))
    try:
        yield SimpleNamespace(b=b, c=c, keys=keys)
    finally:
        b.stop()
        c.stop()


@pytest.fixture
def forge_a(peers, settings, monkeypatch):
    """This test process as FORGE A, knowing B (token from the environment) and C."""
    monkeypatch.setenv("ANVIL_TEST_B_TOKEN", peers.keys["b_admin"])
    monkeypatch.setenv("ANVIL_TEST_C_TOKEN", peers.keys["c_ops"])
    settings.ANVIL_FORGE_NAME = "forge-a"
    settings.ANVIL_KNOWN_FORGES = json.dumps([
        {"name": "forge-b", "url": peers.b.url, "token": "env:ANVIL_TEST_B_TOKEN"},
        {"name": "forge-c", "url": peers.c.url + "/", "token": "env:ANVIL_TEST_C_TOKEN"},
    ])
    return SimpleNamespace(b=get_forge("forge-b"), c=get_forge("forge-c"))


def _support(forge):
    acme = next(o for o in remote.organisations(forge).data if o.slug == "acme")
    return acme, next(p for p in remote.projects(forge, acme.id).data if p.slug == "support")


# --- browsing ----------------------------------------------------------------------------------------

def test_browse_b_through_the_remote_client(peers, forge_a):
    info = remote.info(forge_a.b)
    assert info.name == "forge-b" and info.user_email == "admin@anvil.local" and info.archive_format_version == 3
    public = httpx.get(f"{peers.b.url}/api/v1/forge/public_key").json()
    assert info.public_key == public["public_key"]

    organisations = remote.organisations(forge_a.b)
    assert not organisations.meta.has_more
    acme = next(o for o in organisations.data if o.slug == "acme")
    assert acme.project_count == 1 and acme.role == "owner"

    [support] = remote.projects(forge_a.b, acme.id).data
    assert (support.slug, support.organisation.slug) == ("support", "acme")
    assert (support.prompt_set_count, support.prompt_count, support.version_count) == (4, 7, 8)

    detail = remote.project(forge_a.b, support.id)
    sets = {s.slug: s for s in detail.prompt_sets}
    assert sets["emails"].status == "locked" and sets["emails"].latest_version == "1.2.0"
    assert [v.label for v in sets["emails"].versions] == ["1.2.0", "1.2.0-beta.1", "1.1.0", "1.0.0"]
    assert sets["chat"].status == "live" and sets["chat"].version_count == 2
    welcome = next(p for p in sets["emails"].prompts if p.slug == "welcome")
    assert welcome.template.startswith("Write a warm, short welcome e-mail")


def test_b_shows_a_key_only_what_its_user_may_see(peers, forge_a):
    stranger = peers.keys["b_stranger"]
    organisations = peers.b.get("/forge/organisations", stranger).json()["data"]
    assert [o["slug"] for o in organisations] == ["stranger"]
    acme, support = _support(forge_a.b)
    for path in (f"/forge/organisations/{acme.id}/projects", f"/forge/projects/{support.id}",
                 f"/projects/{support.id}/export"):
        response = peers.b.get(path, stranger)
        assert response.status_code == 404 and response.json()["error"]["type"] == "not_found_error"
    assert peers.b.get("/forge/organisations", "ank_not_a_key").status_code == 401


def test_a_bad_token_is_an_unauthorised_error(peers, settings):
    settings.ANVIL_KNOWN_FORGES = json.dumps([{"name": "forge-b", "url": peers.b.url, "token": "ank_wrong"}])
    with pytest.raises(remote.Unauthorised, match="refused the API key configured for it"):
        remote.info(get_forge("forge-b"))


# --- the Forges pages (this process as FORGE A, Django's test client) -----------------------------------

def text(response):
    return response.content.decode()


def test_browse_b_through_the_forges_pages(client, world, peers, forge_a):
    client.force_login(world.member)
    pages = []
    index = client.get("/forges")
    pages.append(index)
    assert "forge-b" in text(index) and "forge-c" in text(index) and peers.b.url in text(index)
    status = client.get("/forges/forge-b/status", headers={"HX-Request": "true"})
    pages.append(status)
    assert "✓ reachable" in text(status) and "as admin@anvil.local" in text(status)

    organisations = client.get("/forges/forge-b/")
    pages.append(organisations)
    acme, support = _support(forge_a.b)
    assert "Acme" in text(organisations) and f"/forges/forge-b/o/{acme.id}/" in text(organisations)

    projects = client.get(f"/forges/forge-b/o/{acme.id}/")
    pages.append(projects)
    assert "Support" in text(projects) and f"/forges/forge-b/p/{support.id}/" in text(projects)
    assert "<dt>versions</dt><dd>8</dd>" in text(projects)

    project = client.get(f"/forges/forge-b/p/{support.id}/")
    pages.append(project)
    body = text(project)
    assert "Emails" in body and "LOCKED" in body and "1.2.0" in body and "read-only" in body
    # a member of acme here: connect / import only into their own (personal) organisation
    assert '<option value="member"' in body and '<option value="acme"' not in body

    prompt_set = client.get(f"/forges/forge-b/p/{support.id}/s/emails/")
    pages.append(prompt_set)
    assert "1.2.0-beta.1" in text(prompt_set) and "Churn save prompt" in text(prompt_set)
    assert "emails.welcome" in text(prompt_set)

    prompt = client.get(f"/forges/forge-b/p/{support.id}/s/emails/prompts/welcome/")
    pages.append(prompt)
    assert "Write a warm, short welcome e-mail to {{ name }}" in text(prompt)
    assert "trial_days" in text(prompt)
    assert client.get(f"/forges/forge-b/p/{support.id}/s/nothing/").status_code == 404

    for response in pages:
        assert response.status_code == 200
        for token in peers.keys.values():
            assert token not in text(response)


def test_connect_and_import_through_the_forges_pages(client, world, peers, forge_a):
    _, support = _support(forge_a.b)
    client.force_login(world.owner)
    response = client.post(f"/forges/forge-b/p/{support.id}/connect", {"organisation": "acme"}, follow=True)
    assert response.redirect_chain[-1][0] == "/o/acme/"
    listing = text(response)
    assert "Connected Support from forge-b" in listing and "read-only" in listing and "⇄" in listing
    assert f"/forges/forge-b/p/{support.id}/" in listing  # opening it browses B live
    assert "Connected to" in text(client.get(f"/forges/forge-b/p/{support.id}/"))

    create_organisation(world.owner, "Imports", "imports")
    response = client.post(f"/forges/forge-b/p/{support.id}/import", {"organisation": "imports"}, follow=True)
    assert response.redirect_chain[-1][0] == "/o/imports/p/support/"
    assert "Imported" in text(response) and "Emails" in text(response) and "LOCKED" in text(response)
    again = client.post(f"/forges/forge-b/p/{support.id}/import", {"organisation": "imports"}, follow=True)
    assert "Nothing new to import" in text(again)
    downloaded = json.loads(client.get("/o/imports/p/support/export").content)
    theirs = peers.b.get(f"/projects/{support.id}/export", peers.keys["b_admin"]).json()
    assert downloaded["checksum"] == theirs["checksum"]


# --- moving projects -------------------------------------------------------------------------------------

def test_import_directly_from_the_remote(world, peers, forge_a):
    _, support = _support(forge_a.b)
    data = remote.export(forge_a.b, support.id)
    target = create_organisation(world.owner, "Imports", "imports")
    result = services.import_archive(world.owner, target, data, via="forge forge-b")
    assert result.project_created and sorted(result.prompt_sets_created) == ["chat", "common", "emails", "support"]
    assert len(result.versions_added) == 8
    project = result.project
    assert dict(project.prompt_sets.values_list("slug", "status")) == {"emails": "locked", "chat": "live",
                                                                       "common": "locked", "support": "locked"}
    mine = queries.export_archive(world.owner, project)
    theirs = peers.b.get(f"/projects/{support.id}/export", peers.keys["b_admin"]).json()
    assert mine["content"] == theirs["content"] and mine["checksum"] == theirs["checksum"]
    again = services.import_archive(world.owner, target, remote.export(forge_a.b, support.id))
    assert not again.changed


def test_export_import_export_between_two_servers(peers, forge_a):
    _, support = _support(forge_a.b)
    exported = peers.b.get(f"/projects/{support.id}/export", peers.keys["b_admin"]).json()
    c_token = peers.keys["c_ops"]
    [c_org] = peers.c.get("/organisations", c_token).json()["data"]

    tampered = json.loads(json.dumps(exported))
    tampered["content"]["prompt_sets"][0]["versions"][0]["changelog"] = "rewritten history"
    refused = peers.c.post("/projects/import", c_token, json={"organisation": c_org["id"], "archive": tampered})
    assert refused.status_code == 422 and "checksum does not match" in refused.json()["error"]["message"]

    created = peers.c.post("/projects/import", c_token, json={"organisation": c_org["id"], "archive": exported})
    assert created.status_code == 201, created.text
    project_id = created.json()["project"]["id"]
    again = peers.c.post("/projects/import", c_token,
                         files={"archive": ("support.json", archive.dumps(exported).encode(), "application/json")},
                         data={"organisation": c_org["id"]})
    assert again.status_code == 200 and again.json()["changed"] is False

    re_exported = peers.c.get(f"/projects/{project_id}/export", c_token).json()
    assert re_exported["content"] == exported["content"]
    assert re_exported["checksum"] == exported["checksum"]
    assert re_exported["source"]["forge"] == "forge-c" and exported["source"]["forge"] == "forge-b"


def test_connect_a_remote_project(world, peers, forge_a):
    _, support = _support(forge_a.b)
    detail = remote.project(forge_a.b, support.id)
    link = services.connect_remote_project(world.owner, world.org, "forge-b", detail.id, name=detail.name,
                                           slug=detail.slug, remote_organisation=detail.organisation.name)
    assert [(l.name, l.forge_name, l.remote_organisation) for l in queries.links_for(world.member, world.org)] == [
        ("Support", "forge-b", "Acme")]
    assert remote.project(forge_a.b, link.remote_project_id).name == "Support"  # opening it browses live


# --- failures ----------------------------------------------------------------------------------------------

def test_a_remote_stopped_mid_browse_is_a_clear_error(client, world, peers, settings, monkeypatch):
    d = Forge("forge-d", peers.b.data_dir)  # a second server on B's data, stopped half-way
    d.log = peers.b.data_dir / "forge-d.log"
    d.start()
    try:
        monkeypatch.setenv("ANVIL_TEST_B_TOKEN", peers.keys["b_admin"])
        settings.ANVIL_KNOWN_FORGES = json.dumps([{"name": "forge-d", "url": d.url,
                                                   "token": "env:ANVIL_TEST_B_TOKEN"}])
        forge = get_forge("forge-d")
        acme = next(o for o in remote.organisations(forge).data if o.slug == "acme")
        client.force_login(world.member)
        first = client.get("/forges/forge-d/")
        assert first.status_code == 200 and f"/forges/forge-d/o/{acme.id}/" in text(first)
    finally:
        d.stop()
    with pytest.raises(remote.Unreachable) as caught:
        remote.projects(forge, acme.id)
    assert f"cannot reach forge-d at {d.url}: connection refused" in caught.value.message
    page = client.get(f"/forges/forge-d/o/{acme.id}/?name=Acme")  # the next click, after the remote went away
    assert page.status_code == 200
    assert "forge-d could not answer" in text(page) and "connection refused" in text(page)
    status = client.get("/forges/forge-d/status", headers={"HX-Request": "true"})
    assert status.status_code == 200 and "✗ unreachable" in text(status)


def test_tokens_never_reach_the_logs(peers, forge_a, caplog):
    with pytest.raises(remote.RemoteNotFound):
        remote.project(forge_a.b, "00000000-0000-0000-0000-000000000000")
    remote.info(forge_a.c)
    for token in peers.keys.values():
        assert token not in caplog.text
        for log in (peers.b.log, peers.c.log):
            assert token not in log.read_text()
