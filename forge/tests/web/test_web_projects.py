"""Web UI: projects list, create, edit, delete (confirmation naming what goes); roles and outsiders."""

import pytest

from anvil_forge.prompts import services as prompts
from anvil_forge.prompts.models import Project


def text(response):
    return response.content.decode()


@pytest.mark.parametrize("role", ["owner", "admin", "member"])
def test_project_pages_render(client, world, role):
    client.force_login(world.users[role])
    listing = client.get("/o/acme/")
    assert listing.status_code == 200 and "Support" in text(listing)
    assert ("+ New project" in text(listing)) == (role != "member")
    page = client.get("/o/acme/p/support/")
    assert page.status_code == 200 and "Emails" in text(page)
    assert "Access tokens" in text(page) and "LIVE instances" in text(page)
    assert client.get("/projects/").status_code == 302


def test_create_edit_delete_as_admin(client, world):
    client.force_login(world.admin)
    response = client.post("/o/acme/new-project", {"name": "Sales Bot", "slug": "", "description": "x"}, follow=True)
    assert "Project Sales Bot created" in text(response)
    assert response.redirect_chain[-1][0] == "/o/acme/p/sales-bot/"
    response = client.post("/o/acme/new-project", {"name": "Sales Bot", "slug": "other"})
    assert "already used" in text(response)
    response = client.post("/o/acme/p/sales-bot/edit", {"name": "Sales", "slug": "sales", "description": ""}, follow=True)
    assert response.redirect_chain[-1][0] == "/o/acme/p/sales/"
    response = client.post("/o/acme/p/sales/edit", {"name": "Sales", "slug": "Not OK"})
    assert response.status_code == 200 and "is not valid" in text(response)
    page = client.get("/o/acme/p/support/delete")
    assert "1 prompt set" in text(page) and "1 prompt" in text(page) and "1 version" in text(page)
    response = client.post("/o/acme/p/sales/delete", {"confirm": "nope"})
    assert "Type exactly sales" in text(response)
    response = client.post("/o/acme/p/sales/delete", {"confirm": "sales"}, follow=True)
    assert "Project Sales and everything in it were deleted" in text(response)
    assert not Project.objects.filter(slug="sales").exists()


def test_member_is_refused_with_a_message(client, world):
    client.force_login(world.member)
    response = client.post("/o/acme/new-project", {"name": "Nope"})
    assert response.status_code == 200 and "may not create, edit or delete projects" in text(response)
    response = client.post("/o/acme/p/support/edit", {"name": "Renamed", "slug": "support"})
    assert response.status_code == 200 and "may not" in text(response)
    response = client.post("/o/acme/p/support/delete", {"confirm": "support"})
    assert response.status_code == 200 and "may not" in text(response)
    assert Project.objects.filter(slug="support", name="Support").exists()


def test_locked_sets_block_project_deletion(client, world):
    prompts.change_status(world.owner, world.pset, "review")
    client.force_login(world.owner)
    response = client.post("/o/acme/p/support/delete", {"confirm": "support"})
    assert response.status_code == 200 and "unlock them first" in text(response)
