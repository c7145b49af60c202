"""Web UI: a prompt set's model defaults and dependencies (settings form, live check), the dependencies panel
of the set page, a version's locks, and diffs of chat messages, configuration and locks."""

import re

import pytest

from anvil_forge.prompts import services as prompts
from anvil_forge.prompts.models import PromptSet

from ..conftest import refresh

PROJECT = "/o/acme/p/support/"
SET = PROJECT + "s/emails/"
HX = {"HX-Request": "true"}


def text(response):
    return response.content.decode()


def slot(page: str, slot_id: str) -> str:
    match = re.search(rf'<div id="{re.escape(slot_id)}"[^>]*>(.*?)</div>', page, re.S)
    assert match, f"no #{slot_id}"
    return match.group(1)


def settings(**extra):
    data = {"name": "Emails", "slug": "emails", "description": "", "metadata": "{}", "dep_row": []}
    data.update(extra)
    return data


@pytest.fixture
def common(world):
    """A set `common` with versions 1.0.0; `emails` depends on ^1.0 and its version 1.1.0 locks common@1.0.0;
    then common gets 1.1.0 and 2.0.0."""
    common = prompts.create_prompt_set(world.owner, world.project, "Common", "common")
    prompts.create_prompt(world.owner, common, "Tone", "tone", "Be kind.")
    prompts.create_version(world.owner, common, "1.0.0")
    prompts.update_prompt_set(world.owner, world.pset, dependencies={"common": "^1.0"})
    prompts.update_prompt(world.owner, world.prompt, template="Hello {{ name }}! {% render 'common.tone' %}")
    prompts.create_version(world.owner, world.pset, "1.1.0")
    prompts.create_version(world.owner, common, "1.1.0")
    prompts.create_version(world.owner, common, "2.0.0")
    return common


@pytest.fixture
def member(client, world):
    client.force_login(world.member)
    return client


def test_the_dependencies_panel(member, common):
    page = text(member.get(SET))
    panel = page.split('id="deps-h"')[1].split("</section>")[0]
    row = panel.split("<tbody>")[1]
    assert 'href="/o/acme/p/support/s/common/"' in row and "^1.0" in row
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    resolved, locked, newer, outside = cells[1], cells[2], cells[3], cells[4]
    assert "/s/common/v/1.1.0/" in resolved and "a new version locks this" in resolved
    assert ">1.0.0<" in locked and "1.1.0 locks" in panel  # what the latest version of emails locks
    assert ">1.1.0<" in newer and "2.0.0" not in newer
    assert ">2.0.0<" in outside and "change the specifier" in outside


def test_a_set_without_dependencies_says_how_to_add_them(member):
    page = text(member.get(SET))
    assert "No dependencies." in page and f'href="{SET}edit#dependencies"' in page


def test_a_dependency_without_a_matching_version(member, world):
    prompts.create_prompt_set(world.owner, world.project, "Common", "common")
    prompts.update_prompt_set(world.owner, world.pset, dependencies={"common": "^1.0"})
    assert "no version matches: common has no versions yet" in text(member.get(SET))


def test_the_version_page_shows_its_locks(member, common):
    page = text(member.get(SET + "v/1.1.0/"))
    locks = page.split('id="locks-h"')[1].split("</ul>")[0]
    assert 'href="/o/acme/p/support/s/common/v/1.0.0/"' in locks and "common@1.0.0" in locks and "^1.0" in locks
    assert 'id="locks-h"' not in text(member.get(SET + "v/1.0.0/"))  # made before the dependency


def test_settings_save_defaults_and_dependencies(member, world, common):
    page = text(member.get(SET + "edit"))
    assert 'name="d-r0-set"' in page and '<option value="common" selected>' in page and 'value="^1.0"' in page
    assert '<option value="emails"' not in page  # a set does not depend on itself
    body = settings(**{"dep_row": ["a"], "d-a-set": "common", "d-a-spec": "~1.1", "cfg-model": "gpt-4o",
                       "cfg-temperature": "0.4", "cfg-extra": '{"frequency_penalty": 0.5}'})
    response = member.post(SET + "edit", body, follow=True)
    assert "Prompt set saved" in text(response)
    saved = refresh(world.pset)
    assert saved.dependencies == {"common": "~1.1"}
    assert saved.config == {"model": "gpt-4o", "temperature": 0.4, "frequency_penalty": 0.5}
    assert "model defaults" in text(response) and "gpt-4o" in text(response)
    no_rows = settings(**{"cfg-model": "gpt-4o", "cfg-temperature": "0.4", "cfg-extra": '{"frequency_penalty": 0.5}'})
    refused = member.post(SET + "edit", no_rows)  # welcome still renders common.tone
    assert refused.status_code == 200 and "no dependency on" in text(refused)
    assert refresh(world.pset).dependencies == {"common": "~1.1"}
    prompts.update_prompt(world.owner, world.prompt, template="Hello {{ name }}!")
    member.post(SET + "edit", no_rows)
    assert refresh(world.pset).dependencies == {}  # every row removed: no dependency


def test_settings_errors_are_shown_next_to_the_row_or_field(member, world, common):
    response = member.post(SET + "edit", settings(**{"cfg-top_p": "2"}))
    assert response.status_code == 200 and "top_p must be" in slot(text(response), "cfg-top_p-check")
    body = settings(**{"dep_row": ["a", "b"], "d-a-set": "common", "d-a-spec": "^^1", "d-b-set": ""})
    page = text(member.post(SET + "edit", body))
    assert "^^1" in slot(page, "d-a-check") and slot(page, "deps-check").strip() == ""
    response = member.post(SET + "edit", settings(**{"dep_row": ["a"], "d-a-set": "ghost", "d-a-spec": "^1"}))
    page = text(response)
    assert "project has no prompt set &#x27;ghost&#x27;" in slot(page, "d-a-check")
    assert '<option value="ghost" selected>ghost</option>' in page
    twice = settings(**{"dep_row": ["a", "b"], "d-a-set": "common", "d-a-spec": "^1", "d-b-set": "common",
                        "d-b-spec": "^2"})
    assert "common is listed twice" in slot(text(member.post(SET + "edit", twice)), "d-b-check")
    assert refresh(world.pset).dependencies == {"common": "^1.0"}


def test_the_set_defaults_are_checked_as_they_are_typed(member):
    page = text(member.post(PROJECT + "settings-check", {"cfg-temperature": "9", "cfg-seed": "1.5"}, headers=HX))
    assert "temperature must be a number between 0 and 2, got 9" in slot(page, "cfg-temperature-check")
    assert "seed" in slot(page, "cfg-seed-check") and slot(page, "cfg-model-check").strip() == ""
    assert page.count('hx-swap-oob="innerHTML"') == 7


def test_a_new_set_with_defaults_and_a_dependency_row_added_in_place(member, world, common):
    row = text(member.get(PROJECT + "dependency-row?exclude=emails", headers=HX))
    assert 'name="dep_row"' in row and '<option value="common">' in row and '<option value="emails">' not in row
    body = {"name": "Replies", "slug": "", "description": "", "metadata": "{}", "dep_row": ["x"], "d-x-set": "common",
            "d-x-spec": "^1", "cfg-max_tokens": "256"}
    assert "Prompt set Replies created" in text(member.post(PROJECT + "new-set", body, follow=True))
    created = PromptSet.objects.get(slug="replies")
    assert created.dependencies == {"common": "^1"} and created.config == {"max_tokens": 256}


def test_diff_shows_message_changes(member, world):
    prompts.create_prompt(world.owner, world.pset, "Reply", "reply", kind="chat",
                          messages=[{"role": "system", "content": "You are terse.\nAnswer in English."},
                                    {"role": "user", "content": "{{ q }}"}],
                          parameters=[{"name": "q"}], config={"temperature": 0.2})
    prompts.create_version(world.owner, world.pset, "1.1.0")
    prompt = prompts.update_prompt(world.owner, world.pset.prompts.get(slug="reply"),
                                   messages=[{"role": "system", "content": "You are kind.\nAnswer in English."},
                                             {"placeholder": "history"}, {"role": "user", "content": "{{ q }}"}],
                                   config={"temperature": 0.7, "model": "gpt-4o"})
    assert prompt.messages[1] == {"placeholder": "history"}
    for view in ("split", "unified"):
        page = text(member.get(SET + f"compare?from=1.1.0&to=working&view={view}"))
        article = page.split('id="d-reply"')[1].split("</article>")[0]
        assert "~ messages[0] system · changed" in article
        assert "<mark>terse</mark>" in article and "<mark>kind</mark>" in article
        assert "+ messages[1] placeholder history · added" in article
        assert "= messages[2] user (was messages[1]) · unchanged" in article
        config = article.split("<h4>Model configuration</h4>")[1]
        assert "+ model: <ins>&quot;gpt-4o&quot;</ins>" in config and "~ temperature: <del>0.2</del> → <ins>0.7</ins>" in config


def test_diff_shows_lock_and_dependency_changes(member, world, common):
    prompts.update_prompt_set(world.owner, world.pset, dependencies={"common": "^2.0"}, config={"seed": 7})
    page = text(member.get(SET + "compare?from=1.1.0&to=working"))
    assert "set: config, dependencies, locks changed" in page
    dset = page.split('id="d-set"')[1].split("</article>")[0]
    assert "~ common: <del>&quot;^1.0&quot;</del> → <ins>&quot;^2.0&quot;</ins>" in dset
    assert "~ common: <del>&quot;1.0.0&quot;</del> → <ins>&quot;2.0.0&quot;</ins>" in dset
    assert "+ seed: <ins>7</ins>" in dset
    assert "~ set locks" in text(member.get(SET + "new-version"))


@pytest.mark.parametrize("extra", [
    {"dep_row": ["a", "../b", ""], "d-a-set": "emails", "d-a-spec": "^1"},
    {"dep_row": ["a"], "d-a-set": "common", "d-a-spec": ""},
    {"cfg-extra": "[" * 3000, "cfg-temperature": "warm", "cfg-stop": '"unterminated'},
    {"cfg-extra": '{"temperature": 1}', "cfg-temperature": "0.5", "cfg-model": "null"},
])
def test_bad_settings_never_give_a_500(member, world, common, extra):
    for url in (SET + "edit", PROJECT + "new-set", PROJECT + "settings-check"):
        response = member.post(url, settings(**extra), headers=HX if "check" in url else {})
        assert response.status_code == 200, (url, extra)
    assert refresh(world.pset).dependencies == {"common": "^1.0"}
