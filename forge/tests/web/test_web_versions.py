"""Web UI: create versions, the version page, compare (side by side, unified, working copy), roll back, delete."""

from anvil_forge.prompts import services as prompts
from anvil_forge.prompts.models import Version

from ..conftest import refresh

SET = "/o/acme/p/support/s/emails/"


def text(response):
    return response.content.decode()


def test_create_version(client, world):
    client.force_login(world.member)
    page = text(client.get(SET + "new-version"))
    assert 'value="1.0.1"' in page and "Nothing changed since 1.0.0" in page
    prompts.update_prompt(world.owner, world.prompt, template="Hi {{ name }}!")
    page = text(client.get(SET + "new-version"))
    assert "~ welcome" in page
    response = client.post(SET + "new-version", {"label": "1.1.0", "changelog": "warmer"}, follow=True)
    assert "Version 1.1.0 created (#2)" in text(response)
    response = client.post(SET + "new-version", {"label": "1.0.5"})
    assert response.status_code == 200 and "higher precedence" in text(response)
    response = client.post(SET + "new-version", {"label": "v2"})
    assert "label" in response.context["form"].errors


def test_version_page_is_a_read_only_snapshot(client, world):
    prompts.update_prompt(world.owner, world.prompt, template="Changed {{ name }}")
    client.force_login(world.member)
    page = text(client.get(SET + "v/1.0.0/"))
    assert "Hello {{ name }}!" in page and "Changed" not in page
    assert "read-only snapshot" in page and "Roll back to 1.0.0" in page
    assert "Delete…" not in page  # members do not delete versions
    assert client.get(SET + "v/9.9.9/").status_code == 404


def test_compare_two_versions_and_the_working_copy(client, world):
    prompts.update_prompt(world.owner, world.prompt, template="Hello {{ name }}!\nSecond line")
    prompts.create_version(world.owner, world.pset, "1.1.0")
    prompts.update_prompt(world.owner, world.prompt, template="Howdy {{ name }}!\nSecond line")
    client.force_login(world.member)
    page = text(client.get(SET + "compare?from=1.0.0&to=1.1.0"))
    assert "diff-table split" in page and "ln-add" in page and "Second line" in page
    assert "~1 changed" in page
    page = text(client.get(SET + "compare?from=1.1.0&to=working&view=unified"))
    assert "diff-table unified" in page and "working copy" in page
    assert "<mark>Howdy</mark>" in page and "<mark>Hello</mark>" in page
    page = text(client.get(SET + "compare"))  # defaults: the two newest versions
    assert "1.0.0" in page and "1.1.0" in page
    response = client.get(SET + "compare?from=1.0.0&to=7.7.7")
    assert response.status_code == 200 and "has no version &#x27;7.7.7&#x27;" in text(response)


def test_compare_shows_changed_test_cases(client, world):
    prompts.update_prompt(world.owner, world.prompt, tests=[{"name": "greets Ann", "variables": {"name": "Ann"},
                                                             "assert": [{"type": "contains", "value": "Ann"}]}])
    prompts.create_version(world.owner, world.pset, "1.1.0")
    client.force_login(world.member)
    page = text(client.get(SET + "compare?from=1.0.0&to=1.1.0"))
    assert "Test cases" in page and "greets Ann" in page and "~1 changed" in page


def test_compare_without_versions(client, world):
    prompts.create_prompt_set(world.owner, world.project, "Chat", "chat")
    client.force_login(world.member)
    page = text(client.get("/o/acme/p/support/s/chat/compare"))
    assert "no versions yet" in page


def test_rollback(client, world):
    prompts.update_prompt(world.owner, world.prompt, template="Other {{ name }}")
    prompts.create_version(world.owner, world.pset, "1.1.0")
    client.force_login(world.member)
    response = client.post(SET + "rollback", {"to": "1.0.0", "label": "1.2.0", "changelog": ""}, follow=True)
    assert "Version 1.2.0 created with the content of 1.0.0" in text(response)
    assert Version.objects.get(label="1.2.0").snapshot["prompts"]["welcome"]["template"] == "Hello {{ name }}!"
    assert refresh(world.prompt).template == "Other {{ name }}"  # the working copy is untouched
    response = client.post(SET + "rollback", {"to": "1.0.0", "label": "1.0.1"}, follow=True)
    assert response.status_code == 200 and "higher precedence" in text(response)
    response = client.post(SET + "rollback", {"to": "0.0.9", "label": "3.0.0"}, follow=True)
    assert response.status_code == 404  # the version to roll back to does not exist: its page cannot be shown


def test_delete_version(client, world):
    prompts.create_version(world.owner, world.pset, "1.1.0")
    client.force_login(world.member)
    response = client.post(SET + "v/1.1.0/delete", follow=True)
    assert "may not delete prompt sets and versions" in text(response)
    client.force_login(world.admin)
    assert client.get(SET + "v/1.1.0/delete").status_code == 200
    response = client.post(SET + "v/1.1.0/delete", follow=True)
    assert "Version 1.1.0 deleted" in text(response)
