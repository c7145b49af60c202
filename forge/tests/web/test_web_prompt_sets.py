"""Web UI: the prompt set page, status actions by role, publish disabled, create/edit/delete, LOCKED refusals."""

import pytest

from anvil_forge.prompts import services as prompts
from anvil_forge.prompts.models import PromptSet

from ..conftest import refresh

SET = "/o/acme/p/support/s/emails/"


def text(response):
    return response.content.decode()


@pytest.mark.parametrize("role", ["owner", "admin", "member"])
def test_set_page_renders(client, world, role):
    client.force_login(world.users[role])
    page = text(client.get(SET))
    assert "Welcome" in page and "emails.welcome" in page and "1.0.0" in page
    assert "Submit for review" in page
    assert "Only LOCKED prompt sets can be published" in page
    assert 'aria-describedby="publish-reason"' in page and "disabled" in page


def test_member_sees_no_approve_button(client, world):
    prompts.change_status(world.member, world.pset, "review")
    client.force_login(world.member)
    page = text(client.get(SET))
    assert "Approve and lock" not in page and "Reject" not in page
    assert "Only owners and admins can approve or reject it" in page
    client.force_login(world.admin)
    page = text(client.get(SET))
    assert "Approve and lock" in page and "Reject" in page


def test_review_approve_unlock(client, world):
    client.force_login(world.member)
    response = client.post(SET + "status", {"to": "review"}, follow=True)
    assert "submitted for review" in text(response)
    response = client.post(SET + "status", {"to": "locked"}, follow=True)
    assert response.status_code == 200 and "may not approve" in text(response)
    assert refresh(world.pset).status == "review"
    client.force_login(world.admin)
    response = client.post(SET + "status", {"to": "locked"}, follow=True)
    assert "LOCKED now" in text(response)
    assert 'action="' + SET + 'publish"' in text(response)  # an admin may publish a LOCKED set
    response = client.post(SET + "status", {"to": "review"}, follow=True)
    assert "cannot go to REVIEW" in text(response)
    response = client.post(SET + "status", {"to": "bogus"}, follow=True)
    assert response.status_code == 200 and "is not one of" in text(response)
    response = client.post(SET + "status", {"to": "live"}, follow=True)
    assert "unlocked" in text(response)


def test_edits_are_refused_while_locked(client, world):
    prompts.change_status(world.owner, world.pset, "review")
    prompts.change_status(world.owner, world.pset, "locked")
    client.force_login(world.member)
    response = client.post(SET + "edit", {"name": "Renamed", "slug": "emails", "metadata": "{}"})
    assert response.status_code == 200 and "is LOCKED: its content cannot change" in text(response)
    assert refresh(world.pset).name == "Emails"
    page = text(client.get(SET))
    assert "+ New prompt" not in page and "Only owners and admins can unlock it" in page


def test_create_edit_delete_set(client, world):
    client.force_login(world.member)
    response = client.post("/o/acme/p/support/new-set",
                           {"name": "Chat", "slug": "", "description": "", "metadata": '{"model": "m"}'}, follow=True)
    assert "Prompt set Chat created" in text(response)
    assert PromptSet.objects.get(slug="chat").metadata == {"model": "m"}
    response = client.post("/o/acme/p/support/s/chat/edit", {"name": "Chat", "slug": "chat", "metadata": "[1]"})
    assert "must be a JSON object" in text(response)
    response = client.post("/o/acme/p/support/s/chat/edit", {"name": "Chat", "slug": "chat", "metadata": "{oops"})
    assert response.status_code == 200 and "JSON" in text(response)
    response = client.post("/o/acme/p/support/s/chat/delete", {"confirm": "chat"})
    assert "may not delete prompt sets" in text(response)
    client.force_login(world.admin)
    response = client.post("/o/acme/p/support/s/chat/delete", {"confirm": "chat"}, follow=True)
    assert "Prompt set Chat deleted" in text(response)


def test_add_missing_from_the_set_page(client, world):
    prompts.update_prompt(world.owner, world.prompt, template="Hi {{ name }} from {{ company }}")
    client.force_login(world.member)
    page = text(client.get(SET))
    assert "undeclared" in page and "company" in page
    response = client.post(SET + "prompts/welcome/add-missing", follow=True)
    assert "Declared company in Welcome" in text(response)
    assert [p["name"] for p in refresh(world.prompt).parameters] == ["name", "company"]
