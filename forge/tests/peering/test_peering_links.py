"""Connecting a remote project (a local reference, no copy) and disconnecting it."""

import json
import uuid

import pytest

from anvil_forge.audit.models import AuditEvent
from anvil_forge.core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from anvil_forge.peering import queries, services


@pytest.fixture
def forges(settings, monkeypatch):
    monkeypatch.setenv("PEER_TOKEN", "ank_test_token_value")
    settings.ANVIL_KNOWN_FORGES = json.dumps([{"name": "forge-b", "url": "http://127.0.0.1:9",
                                               "token": "env:PEER_TOKEN"}])


def connect(user, org, remote_id=None, forge="forge-b"):
    return services.connect_remote_project(user, org, forge, remote_id or uuid.uuid4(), name="Remote support",
                                           slug="support", description="over there", remote_organisation="Beta")


def test_connect_lists_the_link_and_disconnect_removes_it(world, forges):
    link = connect(world.admin, world.org)
    assert link.forge_name == "forge-b" and link.created_by == world.admin and link.remote_organisation == "Beta"
    assert list(queries.links_for(world.member, world.org)) == [link]
    assert list(queries.links_for(world.member)) == [link]
    assert queries.get_link(world.member, link.pk) == link
    assert queries.links_to(world.member, "forge-b", link.remote_project_id) == [link]
    event = AuditEvent.objects.get(action="project.connect")
    assert event.summary == {"forge": "forge-b", "remote_project_id": str(link.remote_project_id),
                             "name": "Remote support"}
    services.disconnect_remote_project(world.owner, link)
    assert not queries.links_for(world.owner).exists()
    assert AuditEvent.objects.filter(action="project.disconnect").count() == 1


def test_links_are_invisible_outside_the_organisation(world, forges):
    link = connect(world.owner, world.org)
    assert not queries.links_for(world.outsider).exists()
    with pytest.raises(NotFound):
        queries.get_link(world.outsider, link.pk)
    with pytest.raises(NotFound):
        queries.get_link(world.owner, "not-a-uuid")
    assert queries.links_to(world.outsider, "forge-b", link.remote_project_id) == []


def test_connecting_needs_manage_projects(world, forges):
    with pytest.raises(PermissionDenied):
        connect(world.member, world.org)
    with pytest.raises(NotFound):
        connect(world.outsider, world.org)
    link = connect(world.owner, world.org)
    with pytest.raises(PermissionDenied):
        services.disconnect_remote_project(world.member, link)


def test_the_same_remote_project_once_per_organisation(world, forges):
    remote = uuid.uuid4()
    connect(world.owner, world.org, remote)
    with pytest.raises(Conflict, match="already connected"):
        connect(world.admin, world.org, remote)


def test_only_known_forges(world, forges):
    with pytest.raises(ValidationError, match="no known forge is named 'nowhere'"):
        connect(world.owner, world.org, forge="nowhere")
    link = connect(world.owner, world.org, forge="FORGE-B")  # names are matched without case
    assert link.forge_name == "forge-b"
