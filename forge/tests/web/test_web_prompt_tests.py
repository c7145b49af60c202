"""Web UI: prompt test cases — the editor's tests box and live results, Save as test case, Update snapshots,
previewing a case, preview values kept across a save, the set page's status, the lock gate and its setting, the
version page's recorded results (docs/prompt-tests.md, docs/user-guide.md "Test cases")."""

import json
import re

import pytest

from anvil_forge.prompts import services as prompts
from anvil_forge.prompts.models import Project, Prompt

from ..conftest import refresh

SET = "/o/acme/p/support/s/emails/"
EDITOR = SET + "prompts/welcome/"
HX = {"HX-Request": "true"}
ANN = {"name": "greets Ann", "variables": {"name": "Ann"}, "assert": [{"type": "contains", "value": "Ann"}]}


def text(response):
    return response.content.decode()


def draft(template="Hello {{ name }}!", tests=None, **extra):
    """A POST body as the editor form sends it (the prompt `welcome`, one required string `name`)."""
    data = {"name": "Welcome", "slug": "welcome", "saved_slug": "welcome", "kind": "text", "description": "",
            "template": template, "metadata": "{}", "param_row": ["k0"], "p-k0-name": "name", "p-k0-type": "string",
            "p-k0-description": "", "p-k0-default": "", "p-k0-required": "on"}
    if tests is not None:
        data["tests"] = tests if isinstance(tests, str) else json.dumps(tests)
    data.update(extra)
    return data


def box_of(page: str) -> list:
    """The tests the box in a response holds."""
    raw = page.split('name="tests"')[1].split(">", 1)[1].split("</textarea>")[0]
    import html

    value = html.unescape(raw).strip()
    return json.loads(value) if value else []


@pytest.fixture
def member(client, world):
    client.force_login(world.member)
    return client


@pytest.fixture
def with_tests(world):
    return prompts.update_prompt(world.owner, world.prompt, tests=[
        ANN, {"name": "greets Bob", "variables": {"name": "Bob"}, "assert": [{"type": "snapshot"}],
              "snapshot": "Hello Bob!"}])


# --- the editor ------------------------------------------------------------------------------------

def test_editor_shows_the_tests_and_their_results(member, with_tests):
    page = text(member.get(EDITOR))
    assert [case["name"] for case in box_of(page)] == ["greets Ann", "greets Bob"]
    assert "All 2 tests pass" in page
    assert 'data-test-case="greets Ann"' in page and "Save as test case" in page
    assert 'option value="greets Bob"' in page  # the preview's case picker


def test_results_are_live_and_say_why_a_case_fails(member, with_tests):
    tests = refresh(with_tests).tests
    page = text(member.post(SET + "editor/check", draft("Hi {{ name | upcase }}.", tests), headers=HX))
    assert "2 of 2 tests fail" in page
    assert "contains: expected the output to contain 'Ann'" in page or "contains:" in page
    assert "snapshot" in page and "Update snapshot" in page
    assert 'id="tests-check" hx-swap-oob="innerHTML"' in page  # the box's own error slot is refreshed too


def test_invalid_tests_name_the_path_live(member, world):
    bad = [{"name": "x", "assert": [{"type": "max-tokens", "value": "many"}]}]
    page = text(member.post(SET + "editor/check", draft(tests=bad), headers=HX))
    assert "tests[0].assert[0].value" in page and "The tests cannot run" in page
    unreadable = text(member.post(SET + "editor/check", draft(tests='[{"name": }'), headers=HX))
    assert "the tests" in unreadable and "line 1" in unreadable


def test_save_as_test_case_records_the_preview_values_and_a_snapshot(member, world):
    response = member.post(SET + "editor/tests", draft(tests="", op="add", new_case_name="greets Ann",
                                                        new_case_check="snapshot", **{"sample-name": "Ann"}),
                           headers=HX)
    page = text(response)
    assert box_of(page) == [{"name": "greets Ann", "variables": {"name": "Ann"}, "assert": [{"type": "snapshot"}],
                                "snapshot": "Hello Ann!"}]
    assert "data-tests-changed" in page and "added with the preview" in page
    assert refresh(world.prompt).tests == []  # nothing stored before Save


def test_save_as_test_case_other_checks_and_refusals(member, world):
    tests = [ANN]
    renders = text(member.post(SET + "editor/tests", draft(tests=tests, op="add", new_case_name="",
                                                            new_case_check="renders", **{"sample-name": "Zoe"}),
                               headers=HX))
    assert box_of(renders)[1] == {"name": "case 2", "variables": {"name": "Zoe"}, "assert": []}
    taken = member.post(SET + "editor/tests", draft(tests=tests, op="add", new_case_name="greets Ann",
                                                     **{"sample-name": "Ann"}), headers=HX)
    assert taken["HX-Reswap"] == "none" and "exists already" in text(taken)
    broken = member.post(SET + "editor/tests", draft(tests="[", op="add", new_case_name="n"), headers=HX)
    assert broken["HX-Reswap"] == "none" and "fix the tests first" in text(broken)


def test_update_snapshots_rerecords_from_the_draft(member, with_tests):
    tests = refresh(with_tests).tests
    page = text(member.post(SET + "editor/tests", draft("Hi {{ name | upcase }}.", tests, op="snapshots"), headers=HX))
    assert box_of(page)[1]["snapshot"] == "Hi BOB."
    assert "“greets Bob” updated" in page
    same = text(member.post(SET + "editor/tests", draft(tests=tests, op="snapshots"), headers=HX))
    assert "already matches" in same


def test_choosing_a_case_fills_the_preview(member, with_tests):
    tests = refresh(with_tests).tests
    page = text(member.post(SET + "editor/use-case", draft(tests=tests, case="greets Bob", **{"sample-name": "x"}),
                            headers=HX))
    assert re.search(r'name="sample-name"[^>]*>Bob</textarea>', page)
    assert "Hello Bob!" in page  # the preview, out of band
    assert '<option value="greets Bob" selected>' in page


def test_saving_stores_the_tests_and_places_errors_under_the_box(member, world):
    response = member.post(EDITOR, draft(tests=[ANN]))
    assert response.status_code == 302
    assert refresh(world.prompt).tests == [ANN]
    bad = [{"name": "x", "assert": [{"type": "nope"}]}]
    page = text(member.post(EDITOR, draft(tests=bad)))
    assert "tests[0].assert[0].type" in page.split('id="tests-check"')[1].split("</div>")[0]
    assert refresh(world.prompt).tests == [ANN]


def test_a_form_without_the_tests_box_keeps_them(member, with_tests):
    before = refresh(with_tests).tests
    assert member.post(EDITOR, draft("Hello {{ name }}!!")).status_code == 302
    assert refresh(with_tests).tests == before


def test_preview_values_survive_a_save(member, world):
    assert member.post(EDITOR, draft(tests=[], **{"sample-name": "Ann"})).status_code == 302
    page = text(member.get(EDITOR))
    assert re.search(r'name="sample-name"[^>]*>Ann</textarea>', page)
    assert "Hello Ann!" in page
    member.post(SET + "editor/preview", draft(**{"sample-name": "Bea"}), headers=HX)  # the latest typed is kept
    assert re.search(r'name="sample-name"[^>]*>Bea</textarea>', text(member.get(EDITOR)))


# --- the set page, the gate, the version page -----------------------------------------------------------

def test_set_page_shows_each_prompts_test_status(member, world, with_tests):
    prompts.create_prompt(world.owner, world.pset, "Bye", "bye", "Bye {{ name }}", [{"name": "name", "type": "string"}])
    page = text(member.get(SET))
    assert "✓ 2/2 passed" in page and "no tests" in page
    prompts.update_prompt(world.owner, refresh(with_tests), template="Hi {{ name | upcase }}")
    page = text(member.get(SET))
    cell = page.split('data-tests-for="welcome"')[1].split("</td>")[0]
    assert "0/2 passed" in cell and "greets Ann" in cell and "greets Bob" in cell and 'class="bad' in cell
    assert "2 failing" in page and "cannot be approved and locked while 2 tests fail" in page


def test_lock_is_refused_while_a_test_fails_naming_it(client, world, with_tests):
    prompts.update_prompt(world.owner, refresh(with_tests), template="Hi {{ name | upcase }}")
    prompts.change_status(world.owner, world.pset, "review")
    client.force_login(world.admin)
    page = text(client.post(SET + "status", {"to": "locked"}, follow=True))
    assert refresh(world.pset).status == "review"
    assert "cannot be locked while tests fail" in page  # the refusal, as a message
    refused = page.split("data-lock-refused")[1].split("</section>")[0]
    assert "Not locked: 2 tests fail" in refused and "greets Ann" in refused and f'href="{EDITOR}"' in refused
    assert "data-lock-refused" not in text(client.get(SET))  # shown once
    project = world.project
    prompts.update_project(world.owner, project, tests_gate=False)
    client.post(SET + "status", {"to": "locked"})
    assert refresh(world.pset).status == "locked"


def test_gate_toggle_in_project_settings_for_owners_and_admins(client, world):
    edit = "/o/acme/p/support/edit"
    client.force_login(world.admin)
    page = text(client.get(edit))
    assert 'name="tests_gate"' in page and "checked" in page.split('name="tests_gate"')[1].split(">")[0]
    client.post(edit, {"name": "Support", "slug": "support", "description": ""})  # unchecked: off
    assert Project.objects.get(pk=world.project.pk).tests_gate is False
    assert "Test gate <strong>off</strong>" in text(client.get("/o/acme/p/support/"))
    client.force_login(world.member)
    page = text(client.post(edit, {"name": "Support", "slug": "support", "description": "", "tests_gate": "on"},
                            follow=True))
    assert Project.objects.get(pk=world.project.pk).tests_gate is False
    assert "owners and admins" in page.lower() or "not allowed" in page.lower() or "permission" in page.lower()


def test_version_page_shows_the_recorded_results(member, world, with_tests):
    prompts.update_prompt(world.owner, refresh(with_tests), template="Hi {{ name | upcase }}")
    prompts.create_version(world.owner, world.pset, "1.1.0", "")
    page = text(member.get(SET + "v/1.1.0/"))
    panel = page.split("data-version-tests")[1].split("</section>")[0]
    assert "0/2 passed" in panel and "greets Bob" in panel and "snapshot" in panel
    assert "No test results were recorded" in text(member.get(SET + "v/1.0.0/"))
    assert Prompt.objects.get(pk=world.prompt.pk).tests  # the working copy keeps them


def test_chat_prompt_cases_snapshot_the_conversation(member, world):
    chat = {"name": "Reply", "slug": "", "kind": "chat", "description": "", "metadata": "{}", "param_row": [],
            "msg_row": ["a", "b"], "m-a-type": "message", "m-a-role": "system", "m-a-content": "Be brief.",
            "m-b-type": "message", "m-b-role": "user", "m-b-content": "{{ q }}", "tests": "",
            "op": "add", "new_case_name": "asks", "sample-q": "Why?"}
    page = text(member.post(SET + "editor/tests", chat, headers=HX))  # a new prompt: nothing saved yet
    assert box_of(page)[0]["snapshot"] == "system: Be brief.\n\nuser: Why?"
    targeted = [{"name": "last", "variables": {"q": "Why?"}, "assert": [{"type": "equals", "target": -1,
                                                                         "value": "Why?"}]}]
    live = text(member.post(SET + "editor/check", dict(chat, tests=json.dumps(targeted)), headers=HX))
    assert "The test passes" in live


def test_new_prompt_page_and_read_only_editor(member, world, with_tests):
    assert "No test cases yet" in text(member.get(SET + "new-prompt"))
    prompts.change_status(world.owner, world.pset, "review")
    page = text(member.get(EDITOR))
    assert re.search(r'<textarea name="tests"[^>]*readonly', page)
    assert "Save as test case" not in page and "Update snapshots" not in page
    assert 'data-test-case="greets Ann"' in page and "Preview<" in page  # results and previews still work
