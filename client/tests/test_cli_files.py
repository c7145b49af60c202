"""``anvil-client pull | diff | push | lint | test``: what they print and how they exit, against an in-memory
FORGE (tests/fake_forge.py)."""

import xml.etree.ElementTree as ET

import pytest

from anvil_client import cli, cli_files, project_files
from anvil_client.forge_api import ForgeAPI

from .fake_forge import KEY, PROJECT, FakeForge, document, prompt

URL = "https://forge.test"
SNAPSHOT_TEST = [{"name": "greets", "variables": {"name": "Ann"}, "assert": [{"type": "snapshot"}],
                  "snapshot": "Hello Ann!"}]


@pytest.fixture(autouse=True)
def here(monkeypatch, tmp_path):
    """Each test in its own folder, with no ANVIL_* settings from outside."""
    for name in ("ANVIL_FORGE_URL", "ANVIL_PROJECT", "ANVIL_API_KEY", "ANVIL_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def forge(monkeypatch):
    fake = FakeForge()
    fake.add(document("support", prompt("reply", tests=SNAPSHOT_TEST), prompt("bye", "Bye {{ name }}")))
    fake.add(document("legal", prompt("terms", "Terms")), status="locked")
    monkeypatch.setattr(cli_files, "connect",
                        lambda url, key, timeout: ForgeAPI(url, key, timeout=timeout, transport=fake.transport()))
    return fake


def run(capsys, *args):
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def pulled(capsys, *extra):
    code, out, err = run(capsys, "pull", "--forge-url", URL, "--project", PROJECT, "--api-key", KEY, *extra)
    assert code == 0, err
    return out, err


def edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


# --- pull, diff, push ------------------------------------------------------------------------------


def test_pull_prints_a_line_per_set_on_stderr_and_a_summary(forge, capsys, tmp_path):
    out, err = pulled(capsys)
    assert err.splitlines() == ["[1/2] legal: 1 prompt", "[2/2] support: 2 prompts"]
    assert out == f"Pulled 2 sets into . from {URL}, project {PROJECT}.\n"
    assert (tmp_path / "anvil.yaml").read_text() == f"format: 1\nforge: {URL}\nproject: {PROJECT}\n"
    assert KEY not in (tmp_path / "anvil.yaml").read_text() + (tmp_path / ".anvil" / "sync.json").read_text()


def test_after_a_pull_the_commands_take_the_forge_and_project_from_anvil_yaml(forge, capsys, monkeypatch):
    pulled(capsys)
    monkeypatch.setenv("ANVIL_API_KEY", KEY)
    assert run(capsys, "diff")[0] == 0
    del forge.sets["legal"]
    code, out, _ = run(capsys, "pull")
    assert code == 0 and "legal: no longer on the FORGE: its folder is left alone (pull --prune removes it)" in out


def test_without_a_key_or_project_the_commands_say_what_is_missing_and_exit_2(forge, capsys):
    code, _, err = run(capsys, "pull", "--forge-url", URL, "--project", PROJECT)
    assert code == 2 and "an API key is needed: --api-key or ANVIL_API_KEY" in err
    code, _, err = run(capsys, "diff", "--forge-url", URL, "--api-key", KEY)
    assert code == 2 and "the project id is needed" in err


def test_a_refused_key_exits_2_with_the_forges_message_and_never_prints_the_key(forge, capsys):
    code, out, err = run(capsys, "pull", "--forge-url", URL, "--project", PROJECT, "--api-key", "ank_bad_secret")
    assert code == 2 and "the FORGE refused the API key (401)" in err
    assert "ank_bad_secret" not in out + err


def test_diff_exits_0_when_equal_and_1_with_the_diff_when_not(forge, capsys, tmp_path):
    pulled(capsys)
    assert run(capsys, "diff", "--api-key", KEY) == (0, "", "No differences.\n")
    edit(tmp_path / "support" / "bye.prompt.yaml", "template: Bye", "template: Goodbye")
    code, out, _ = run(capsys, "diff", "--api-key", KEY)
    assert code == 1
    assert out.splitlines() == ["--- forge/support/bye.prompt.yaml", "+++ local/support/bye.prompt.yaml",
                                "@@ -1,4 +1,4 @@", " name: Bye", "-template: Bye {{ name }}",
                                "+template: Goodbye {{ name }}", " parameters:", " - name: name"]


def test_diff_of_unreadable_files_exits_2_naming_the_place(forge, capsys, tmp_path):
    pulled(capsys)
    (tmp_path / "support" / "bye.prompt.yaml").write_text("name: Bye\ntemplate: Bye\nbogus: 1\n")
    code, _, err = run(capsys, "diff", "--api-key", KEY)
    assert code == 2 and err.startswith("support/bye.prompt.yaml:3:1: unknown key 'bogus'")


def test_push_dry_run_prints_the_plan_and_changes_nothing_then_push_applies_then_nothing(forge, capsys, tmp_path):
    pulled(capsys)
    edit(tmp_path / "support" / "bye.prompt.yaml", "template: Bye", "template: Goodbye")
    (tmp_path / "support" / "new.prompt.yaml").write_text("name: New\ntemplate: Brand new\n")
    code, out, _ = run(capsys, "push", "--dry-run", "--api-key", KEY)
    assert code == 0
    assert out.splitlines() == ["legal: unchanged", "support: update", "  prompt bye: changed (template)",
                                "  prompt new: created", "Dry run: nothing was pushed (1 set would be)."]
    assert forge.puts() == []
    code, out, err = run(capsys, "push", "--api-key", KEY)
    assert code == 0 and out.splitlines()[-2:] == ["support: pushed (2 prompt changes)", "Pushed 1 set."]
    assert "[1/1] support: pushed" in err
    assert [p["slug"] for p in forge.doc("support")["prompts"]] == ["bye", "new", "reply"]
    assert run(capsys, "push", "--api-key", KEY)[:2] == (0, "Nothing to push: 2 sets as on the FORGE.\n")
    assert len(forge.puts()) == 1


def test_push_creates_a_new_set_only_in_the_files(forge, capsys, tmp_path):
    pulled(capsys)
    project_files.write_set(tmp_path, document("billing", prompt("invoice", "Invoice")))
    code, out, _ = run(capsys, "push", "billing", "--api-key", KEY)
    assert code == 0
    assert out.splitlines() == ["billing: create set (1 prompt)", "  prompt invoice: created",
                                "billing: created (1 prompt)", "Pushed 1 set."]
    assert forge.doc("billing") == document("billing", prompt("invoice", "Invoice"))
    assert forge.puts()[0][2]["if-none-match"] == "*"


def test_push_refuses_a_set_changed_on_the_forge_showing_the_diff(forge, capsys, tmp_path):
    pulled(capsys)
    edit(tmp_path / "support" / "bye.prompt.yaml", "template: Bye", "template: Goodbye")
    forge.edit("support", "bye", template="Farewell {{ name }}")
    code, out, _ = run(capsys, "push", "--api-key", KEY)
    assert code == 1 and forge.puts() == []
    assert "support: not pushed: changed on the FORGE since your last pull or push" in out
    assert "anvil-client pull --force support" in out
    assert "-template: Farewell {{ name }}\n+template: Goodbye {{ name }}\n" in out
    assert out.splitlines()[-1] == "Pushed 0 sets; 1 set not pushed."


def test_a_locked_set_is_not_pushed_and_push_exits_1_while_the_others_are_pushed(forge, capsys, tmp_path):
    pulled(capsys)
    edit(tmp_path / "legal" / "terms.prompt.yaml", "Terms", "New terms")
    edit(tmp_path / "support" / "bye.prompt.yaml", "template: Bye", "template: Goodbye")
    code, out, _ = run(capsys, "push", "--api-key", KEY)
    assert code == 1
    assert "legal is LOCKED: not pushed (its files differ)" in out.splitlines()
    assert out.splitlines()[-1] == "Pushed 1 set; 1 set not pushed."
    assert [path for _, path, _ in forge.puts()] == [f"/api/v1/projects/{PROJECT}/sources/support"]


def test_lint_errors_stop_a_push(forge, capsys, tmp_path):
    pulled(capsys)
    edit(tmp_path / "support" / "bye.prompt.yaml", "Bye {{ name }}", "Bye {{ name")
    code, out, _ = run(capsys, "push", "--api-key", KEY)
    assert code == 1 and forge.puts() == []
    assert out.startswith("support/bye.prompt.yaml:2:")
    assert out.splitlines()[-1] == "Push stopped: lint found 1 error (anvil-client lint)."
    edit(tmp_path / "legal" / "terms.prompt.yaml", "Terms", "New terms")
    code, out, _ = run(capsys, "push", "legal", "--api-key", KEY)  # the other set's error is not in the way
    assert code == 1 and out.splitlines() == ["legal is LOCKED: not pushed (its files differ)",
                                              "Pushed 0 sets; 1 set not pushed."]


def test_a_version_pulled_is_pushed_only_with_restore(forge, capsys, tmp_path):
    forge.sets["support"]["versions"]["1.0.0"] = document("support", prompt("reply", "Old {{ name }}"))
    out, _ = pulled(capsys, "--version", "1.0.0", "support")
    assert out.startswith("Pulled 1 set at version 1.0.0 into .")
    code, out, _ = run(capsys, "push", "--api-key", KEY)
    assert code == 1 and "support: not pushed: its files were pulled from version 1.0.0: push --restore" in out
    assert forge.puts() == []
    code, out, _ = run(capsys, "push", "--restore", "--api-key", KEY)
    assert code == 0 and "  prompt bye: deleted" in out and forge.doc("support")["prompts"][0]["template"] == "Old {{ name }}"


# --- lint ------------------------------------------------------------------------------------------


def test_lint_prints_file_line_column_severity_and_fails_on_errors_or_with_strict_on_warnings(tmp_path, capsys):
    project_files.write_set(tmp_path, document("support", prompt("reply", "Hello {{ name }}!"),
                                               prompt("unused", "No variables")))
    assert run(capsys, "lint") == (0, "", "No problems found.\n")
    edit(tmp_path / "support" / "unused.prompt.yaml", "No variables", "No variables\nparameters:\n- name: who")
    code, out, err = run(capsys, "lint")
    assert code == 0 and out.startswith("support/unused.prompt.yaml:") and ": warning: " in out
    assert err == "0 errors, 1 warning.\n"
    assert run(capsys, "lint", "--strict")[0] == 1
    edit(tmp_path / "support" / "reply.prompt.yaml", "{{ name }}!", "{{ name }!")
    code, out, err = run(capsys, "lint", "--dir", str(tmp_path))
    assert code == 1 and "support/reply.prompt.yaml:2:" in out and ": error: " in out
    assert err.startswith("1 error, 1 warning")


# --- test ------------------------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path):
    project_files.write_set(tmp_path, document("support", prompt("reply", tests=SNAPSHOT_TEST),
                                               prompt("bye", "Bye {{ name }}", tests=[
                                                   {"name": "says bye", "variables": {"name": "Bo"},
                                                    "assert": [{"type": "contains", "value": "Bye Bo"}]}])))
    return tmp_path


def test_test_runs_every_prompts_tests_and_exits_0_when_all_pass(project, capsys):
    code, out, _ = run(capsys, "test")
    assert code == 0
    assert out.splitlines() == ["PASS support.bye (1 test)", "PASS support.reply (1 test)",
                                "2 tests in 2 prompts: 2 passed, 0 failed."]


def test_a_failing_snapshot_names_the_test_exits_1_and_goes_into_the_junit_report(project, capsys):
    edit(project / "support" / "reply.prompt.yaml", "template: Hello", "template: Hi")
    code, out, _ = run(capsys, "test", "--junit", str(project / "out" / "junit.xml"))
    assert code == 1
    assert "FAIL support.reply (1 of 1 test failed)" in out and "  greets: snapshot: " in out
    assert out.splitlines()[-1] == "FAILED support.reply: greets"
    report = ET.parse(project / "out" / "junit.xml").getroot()
    assert report.get("tests") == "2" and report.get("failures") == "1"
    assert [case.get("name") for case in report.iter("testcase") if case.find("failure") is not None] == ["greets"]


def test_update_snapshots_writes_the_new_rendering_into_the_file(project, capsys):
    edit(project / "support" / "reply.prompt.yaml", "template: Hello", "template: Hi")
    code, out, _ = run(capsys, "test", "--update-snapshots")
    assert code == 0 and "Updated snapshots in support/reply.prompt.yaml" in out
    assert "snapshot: Hi Ann!" in (project / "support" / "reply.prompt.yaml").read_text()
    assert run(capsys, "test")[0] == 0


def test_prompts_are_selected_by_id_or_set_and_unknown_ones_exit_2(project, capsys):
    code, out, _ = run(capsys, "test", "support.bye")
    assert code == 0 and out.splitlines()[0] == "PASS support.bye (1 test)" and "support.reply" not in out
    assert run(capsys, "test", "support")[1].count("PASS") == 2
    code, _, err = run(capsys, "test", "support.nope")
    assert code == 2 and "no prompt or set 'support.nope'" in err


def test_files_that_cannot_be_read_exit_2_naming_file_line_and_column(project, capsys):
    (project / "support" / "bye.prompt.yaml").write_text("name: Bye\ntemplate: 'unclosed\n")
    code, out, err = run(capsys, "test")
    assert code == 2 and out == ""
    assert err.splitlines()[0].startswith("support/bye.prompt.yaml:")
    assert err.splitlines()[-1] == "anvil-client: 1 file error"
