"""pull, diff and push (anvil_client.workspace) against an in-memory FORGE with the sources API's rules,
and the REST client's errors (anvil_client.forge_api)."""

import json

import httpx
import pytest

from anvil_client import project_files
from anvil_client.forge_api import ForgeAPI, ForgeError
from anvil_client.workspace import FilesError, Workspace, resolve_settings

from .fake_forge import KEY, PROJECT, READ_KEY, FakeForge, document, prompt

URL = "https://forge.test"


@pytest.fixture
def forge():
    fake = FakeForge()
    fake.add(document("support", prompt("reply"), prompt("bye", "Bye {{ name }}")))
    fake.add(document("legal", prompt("terms", "Terms")), status="locked")
    return fake


def workspace(forge, root, key=KEY, lines=None):
    api = ForgeAPI(URL, key, transport=forge.transport())
    return Workspace(root, api, PROJECT, progress=lines.append if lines is not None else None)


def edit(root, path, old, new):
    file = root / path
    text = file.read_text()
    assert old in text
    file.write_text(text.replace(old, new))


def state(root):
    return json.loads((root / ".anvil" / "sync.json").read_text())


# --- pull ------------------------------------------------------------------------------------------


def test_pull_into_an_empty_folder_writes_settings_sets_and_their_etags(forge, tmp_path):
    lines = []
    result = workspace(forge, tmp_path, lines=lines).pull()
    assert result.pulled == ["legal", "support"]
    assert lines == ["[1/2] legal: 1 prompt", "[2/2] support: 2 prompts"]
    files = project_files.read_project(tmp_path)
    assert files.settings == project_files.Settings(URL, PROJECT) and not files.errors
    assert files.documents["support"] == forge.doc("support")
    assert (tmp_path / "support" / "reply.prompt.yaml").read_text().startswith("name: Reply\n")
    saved = state(tmp_path)
    assert saved["project"] == PROJECT
    assert saved["sets"]["support"] == {"etag": project_files.etag(forge.doc("support"))}
    assert (tmp_path / ".anvil" / ".gitignore").read_text() == "*\n"


def test_pull_names_sets_gone_from_the_forge_and_removes_them_only_with_prune(forge, tmp_path):
    workspace(forge, tmp_path).pull()
    del forge.sets["legal"]
    result = workspace(forge, tmp_path).pull()
    assert result.gone == ["legal"] and result.pruned == []
    assert (tmp_path / "legal" / "set.yaml").is_file()
    result = workspace(forge, tmp_path).pull(prune=True)
    assert result.pruned == ["legal"] and not (tmp_path / "legal").exists()
    assert "legal" not in state(tmp_path)["sets"]


def test_pull_keeps_files_with_changes_never_pushed_unless_forced(forge, tmp_path):
    workspace(forge, tmp_path).pull()
    edit(tmp_path, "support/reply.prompt.yaml", "Hello", "Hi")
    forge.edit("support", "reply", template="Howdy {{ name }}!")
    result = workspace(forge, tmp_path).pull()
    assert "support" in result.kept and "support" not in result.pulled
    assert "Hi {{ name }}" in (tmp_path / "support" / "reply.prompt.yaml").read_text()
    result = workspace(forge, tmp_path).pull(force=True)
    assert "support" in result.pulled
    assert "Howdy" in (tmp_path / "support" / "reply.prompt.yaml").read_text()


def test_pull_of_named_sets_and_an_unknown_one(forge, tmp_path):
    assert workspace(forge, tmp_path).pull(["support"]).pulled == ["support"]
    assert not (tmp_path / "legal").exists()
    with pytest.raises(ForgeError, match="no prompt set 'nope'"):
        workspace(forge, tmp_path).pull(["nope"])


def test_a_version_pulled_is_not_pushed_over_the_working_copy_unless_restoring(forge, tmp_path):
    old = document("support", prompt("reply", "Old {{ name }}"))
    forge.sets["support"]["versions"]["1.0.0"] = old
    result = workspace(forge, tmp_path).pull(["support"], version="1.0.0")
    assert result.pulled == ["support"]
    assert project_files.read_project(tmp_path).documents["support"] == old
    assert state(tmp_path)["sets"]["support"] == {"etag": project_files.etag(forge.doc("support")),
                                                   "version": "1.0.0"}
    plan = workspace(forge, tmp_path).plan()
    assert plan.sets[0].action == "version" and "version 1.0.0" in plan.sets[0].reason
    assert workspace(forge, tmp_path).apply(plan) == [] and forge.puts() == []
    ws = workspace(forge, tmp_path)
    outcomes = ws.apply(ws.plan(restore=True))
    assert [o.applied for o in outcomes] == [True] and forge.doc("support") == old
    assert state(tmp_path)["sets"]["support"] == {"etag": project_files.etag(old)}


def test_pull_version_needs_the_sets(forge, tmp_path):
    with pytest.raises(Exception, match="needs the set"):
        workspace(forge, tmp_path).pull(version="1.0.0")


# --- diff ------------------------------------------------------------------------------------------


def test_diff_is_empty_when_the_files_hold_the_forges_content(forge, tmp_path):
    workspace(forge, tmp_path).pull()
    (tmp_path / "support" / "set.yaml").write_text("# a comment changes no content\nname: 'Support'\n")
    assert [d.text for d in workspace(forge, tmp_path).diff()] == ["", ""]


def test_diff_shows_an_edit_as_a_unified_diff_from_the_forge_to_the_files(forge, tmp_path):
    workspace(forge, tmp_path).pull()
    edit(tmp_path, "support/reply.prompt.yaml", "Hello", "Hi")
    (diff,) = [d for d in workspace(forge, tmp_path).diff(["support"])]
    assert diff.text.splitlines()[:2] == ["--- forge/support/reply.prompt.yaml",
                                          "+++ local/support/reply.prompt.yaml"]
    assert "-template: Hello {{ name }}!" in diff.text.splitlines()
    assert "+template: Hi {{ name }}!" in diff.text.splitlines()
    assert "bye.prompt.yaml" not in diff.text


def test_diff_notes_sets_on_one_side_only(forge, tmp_path):
    workspace(forge, tmp_path).pull(["support"])
    project_files.write_set(tmp_path, document("new", prompt("one", "One")))
    diffs = {d.slug: d for d in workspace(forge, tmp_path).diff()}
    assert diffs["legal"].note == "legal: only on the FORGE (anvil-client pull legal)"
    assert diffs["new"].note.startswith("new: only in the files")
    assert "+++ local/new/one.prompt.yaml" in diffs["new"].text and "--- /dev/null" in diffs["new"].text


def test_invalid_files_are_reported_with_their_places(forge, tmp_path):
    workspace(forge, tmp_path).pull()
    (tmp_path / "support" / "reply.prompt.yaml").write_text("name: Reply\ntemplate: [unclosed\n")
    with pytest.raises(FilesError) as caught:
        workspace(forge, tmp_path).diff()
    assert str(caught.value.errors[0]).startswith("support/reply.prompt.yaml:")


# --- push ------------------------------------------------------------------------------------------


def test_the_plan_lists_prompts_created_changed_with_their_fields_and_deleted(forge, tmp_path):
    workspace(forge, tmp_path).pull()
    edit(tmp_path, "support/reply.prompt.yaml", "Hello", "Hi")
    edit(tmp_path, "support/set.yaml", "name: Support", "name: Support\ndescription: Replies")
    (tmp_path / "support" / "bye.prompt.yaml").unlink()
    (tmp_path / "support" / "new.prompt.yaml").write_text("name: New\ntemplate: New\n")
    plan = workspace(forge, tmp_path).plan()
    (item,) = plan.to_apply
    assert item.lines() == ["support: update", "  set: changed (description)", "  prompt bye: deleted",
                            "  prompt new: created", "  prompt reply: changed (template)"]
    assert [s.action for s in plan.sets] == ["unchanged", "update"]
    assert forge.puts() == []


def test_push_applies_with_if_match_records_the_new_etag_and_a_second_push_has_nothing(forge, tmp_path):
    workspace(forge, tmp_path).pull()
    before = project_files.etag(forge.doc("support"))
    edit(tmp_path, "support/reply.prompt.yaml", "Hello", "Hi")
    ws = workspace(forge, tmp_path)
    outcomes = ws.apply(ws.plan())
    assert [(o.slug, o.applied) for o in outcomes] == [("support", True)]
    (put,) = forge.puts()
    assert put[2]["if-match"] == before
    assert forge.doc("support")["prompts"][1]["template"] == "Hi {{ name }}!"
    assert state(tmp_path)["sets"]["support"]["etag"] == project_files.etag(forge.doc("support"))
    again = workspace(forge, tmp_path).plan()
    assert again.to_apply == [] and again.refused == []


def test_a_new_set_is_created_only_if_absent(forge, tmp_path):
    workspace(forge, tmp_path).pull()
    project_files.write_set(tmp_path, document("billing", prompt("invoice", "Invoice")))
    ws = workspace(forge, tmp_path)
    plan = ws.plan()
    (item,) = plan.to_apply
    assert item.lines() == ["billing: create set (1 prompt)", "  prompt invoice: created"]
    forge.before_put = lambda slug: forge.add(document(slug, prompt("other", "Other")))  # someone was quicker
    (outcome,) = ws.apply(plan)
    assert not outcome.applied and "conflict" in outcome.message
    assert forge.puts()[0][2]["if-none-match"] == "*"
    assert forge.doc("billing")["prompts"][0]["slug"] == "other"


def test_an_edit_on_the_forge_since_the_pull_makes_push_refuse_with_a_diff(forge, tmp_path):
    workspace(forge, tmp_path).pull()
    edit(tmp_path, "support/reply.prompt.yaml", "Hello", "Hi")
    forge.edit("support", "reply", template="Hey {{ name }}!")
    ws = workspace(forge, tmp_path)
    plan = ws.plan()
    (item,) = plan.refused
    assert item.action == "conflict" and "anvil-client pull --force support" in item.reason
    assert "-template: Hey {{ name }}!" in item.diff and "+template: Hi {{ name }}!" in item.diff
    assert ws.apply(plan) == [] and forge.puts() == []


def test_an_edit_between_the_read_and_the_write_is_refused_by_the_forge(forge, tmp_path):
    workspace(forge, tmp_path).pull()
    base = state(tmp_path)["sets"]["support"]["etag"]
    edit(tmp_path, "support/reply.prompt.yaml", "Hello", "Hi")
    forge.before_put = lambda slug: forge.edit(slug, "reply", template="Sneaky {{ name }}")
    ws = workspace(forge, tmp_path)
    (outcome,) = ws.apply(ws.plan())
    assert not outcome.applied and "changed on the FORGE while pushing" in outcome.message
    assert "-template: Sneaky {{ name }}" in outcome.diff
    assert forge.doc("support")["prompts"][1]["template"] == "Sneaky {{ name }}"
    assert state(tmp_path)["sets"]["support"]["etag"] == base


def test_a_clean_checkout_without_state_may_push_over_the_last_push_but_not_over_other_edits(forge, tmp_path):
    first = tmp_path / "first"
    workspace(forge, first).pull()
    edit(first, "support/reply.prompt.yaml", "Hello", "Hi")
    ws = workspace(forge, first)
    ws.apply(ws.plan())
    checkout = tmp_path / "ci"  # the repository's files, without .anvil/
    for path in first.rglob("*.yaml"):
        target = checkout / path.relative_to(first)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text())
    edit(checkout, "support/reply.prompt.yaml", "Hi", "Hiya")
    ws = workspace(forge, checkout)
    assert [o.applied for o in ws.apply(ws.plan())] == [True]
    edit(checkout, "support/reply.prompt.yaml", "Hiya", "Yo")
    forge.edit("support", "reply", template="Edited in the browser")  # not what the last push wrote
    (refused,) = workspace(forge, checkout).plan().refused
    assert refused.action == "conflict"


def test_a_set_never_pushed_and_never_pulled_here_is_a_conflict(forge, tmp_path):
    project_files.write_set(tmp_path, document("support", prompt("reply", "Mine")))
    (item,) = workspace(forge, tmp_path).plan(["support"]).refused
    assert item.action == "conflict"


def test_a_locked_set_is_never_pushed_and_the_plan_says_so(forge, tmp_path):
    workspace(forge, tmp_path).pull()
    edit(tmp_path, "legal/terms.prompt.yaml", "Terms", "New terms")
    ws = workspace(forge, tmp_path)
    plan = ws.plan()
    (item,) = plan.refused
    assert item.lines() == ["legal is LOCKED: not pushed (its files differ)"]
    ws.apply(plan)
    assert forge.puts() == []
    forge.sets["legal"]["status"] = "review"
    assert workspace(forge, tmp_path).plan().refused[0].lines() == ["legal is REVIEW: not pushed (its files differ)"]


def test_push_of_named_sets_only_and_of_a_missing_folder(forge, tmp_path):
    workspace(forge, tmp_path).pull()
    assert [s.slug for s in workspace(forge, tmp_path).plan(["support"]).sets] == ["support"]
    with pytest.raises(Exception, match="no folder for prompt set 'nope'"):
        workspace(forge, tmp_path).plan(["nope"])


def test_a_read_only_key_cannot_push(forge, tmp_path):
    workspace(forge, tmp_path, key=READ_KEY).pull()
    edit(tmp_path, "support/reply.prompt.yaml", "Hello", "Hi")
    ws = workspace(forge, tmp_path, key=READ_KEY)
    (outcome,) = ws.apply(ws.plan())
    assert not outcome.applied and "'write' scope" in outcome.message


def test_bases_recorded_for_another_project_are_ignored(forge, tmp_path):
    workspace(forge, tmp_path).pull()
    saved = state(tmp_path)
    saved["project"] = "another"
    (tmp_path / ".anvil" / "sync.json").write_text(json.dumps(saved))
    edit(tmp_path, "support/reply.prompt.yaml", "Hello", "Hi")
    assert workspace(forge, tmp_path).plan().refused[0].action == "conflict"


# --- settings and the REST client ------------------------------------------------------------------


def test_settings_come_from_flags_then_the_environment_then_anvil_yaml(tmp_path, monkeypatch):
    for name in ("ANVIL_FORGE_URL", "ANVIL_PROJECT", "ANVIL_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    project_files.write_settings(tmp_path, "https://file.test", "from-file")
    assert resolve_settings(tmp_path) == resolve_settings(tmp_path, api_key=None)
    assert (resolve_settings(tmp_path).forge_url, resolve_settings(tmp_path).project) == (
        "https://file.test", "from-file")
    monkeypatch.setenv("ANVIL_PROJECT", "from-env")
    monkeypatch.setenv("ANVIL_API_KEY", "ank_env")
    settings = resolve_settings(tmp_path, forge_url="https://flag.test")
    assert (settings.forge_url, settings.project, settings.api_key) == ("https://flag.test", "from-env", "ank_env")
    assert resolve_settings(tmp_path, project="flag").project == "flag"


def test_refusals_carry_the_forges_message_and_never_the_key(forge):
    api = ForgeAPI(URL, "ank_wrong_secret", transport=forge.transport())
    with pytest.raises(ForgeError) as caught:
        api.get_project(PROJECT)
    assert caught.value.status == 401
    assert "refused the API key (401): the API key is not valid" in caught.value.message
    assert "ank_wrong_secret" not in caught.value.message and "ank_wrong_secret" not in repr(api)


def test_invalid_content_names_the_field(forge):
    api = ForgeAPI(URL, KEY, transport=forge.transport())
    doc = dict(forge.doc("support"), name="")
    with pytest.raises(ForgeError) as caught:
        api.put_source(PROJECT, doc, if_match=project_files.etag(forge.doc("support")))
    assert caught.value.status == 422 and "[name: required]" in caught.value.message


def test_timeouts_and_unreachable_forges_are_forge_errors():
    def slow(request):
        raise httpx.ReadTimeout("slow", request=request)

    api = ForgeAPI(URL, KEY, timeout=2, transport=httpx.MockTransport(slow))
    with pytest.raises(ForgeError, match="did not answer within 2 s"):
        api.get_source(PROJECT, "support")

    def down(request):
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(ForgeError, match="cannot reach the FORGE at https://forge.test"):
        ForgeAPI(URL, KEY, transport=httpx.MockTransport(down)).list_sources(PROJECT)


def test_plain_http_is_refused_except_on_loopback():
    with pytest.raises(Exception, match="https://"):
        ForgeAPI("http://forge.example.com", KEY)
    ForgeAPI("http://127.0.0.1:8000", KEY).close()


def test_pages_are_followed_when_the_forge_pages_the_list():
    pages = {None: {"data": [{"slug": "a", "etag": '"1"'}], "meta": {"next_cursor": "c2", "has_more": True}},
             "c2": {"data": [{"slug": "b", "etag": '"2"'}], "meta": {"next_cursor": None, "has_more": False}}}
    api = ForgeAPI(URL, KEY, transport=httpx.MockTransport(
        lambda request: httpx.Response(200, json=pages[request.url.params.get("cursor")])))
    assert [(s.slug, s.etag) for s in api.list_sources(PROJECT)] == [("a", '"1"'), ("b", '"2"')]


def test_pull_leaves_a_set_whose_files_cannot_be_read_unless_forced(forge, tmp_path):
    workspace(forge, tmp_path).pull()
    (tmp_path / "support" / "bye.prompt.yaml").write_text("name: [\n")
    result = workspace(forge, tmp_path).pull()
    assert result.pulled == ["legal"] and "cannot be read" in result.kept["support"]
    assert (tmp_path / "support" / "bye.prompt.yaml").read_text() == "name: [\n"
    assert workspace(forge, tmp_path).pull(force=True).pulled == ["legal", "support"]
    assert project_files.read_project(tmp_path).documents["support"] == forge.doc("support")
