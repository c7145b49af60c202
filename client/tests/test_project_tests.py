"""Offline test runs over a project (anvil_client.project_tests): every prompt's cases, partials from the
folder's sets, snapshots updated into documents the files can be rewritten from."""

from anvil_client import project_files as pf
from anvil_client.junit import junit_xml
from anvil_client.project_tests import run_project_tests

COMMON = {"set.yaml": "name: Common\n",
          "tone.prompt.yaml": "name: Tone\ntemplate: Be kind.\n"}
SUPPORT = {
    "set.yaml": "name: Support\ndependencies:\n  common: ^1.0\n",
    "reply.prompt.yaml": """\
name: Reply
kind: chat
messages:
- role: system
  content: You are {{ persona }}. {% render 'common.tone' %}
- placeholder: history
- role: user
  content: '{{ question }}'
parameters:
- name: persona
- name: question
tests:
- name: asks last
  variables: {persona: terse, question: 'Why?', history: []}
  assert:
  - {type: equals, target: -1, value: 'Why?'}
  - {type: snapshot}
  snapshot: |-
    system: You are terse. Be kind.

    user: Why?
- name: needs a persona
  variables: {question: 'Why?', history: []}
  assert:
  - {type: error, value: persona}
""",
    "greeting.prompt.yaml": """\
name: Greeting
template: Hello {{ user }}!
parameters:
- name: user
tests:
- name: greets
  variables: {user: Ann}
  assert:
  - {type: contains, value: Ann}
""",
    "notes.prompt.yaml": "name: Notes\ntemplate: no tests here\n",
}


def documents(common=None, support=None):
    return {"common": pf.parse_set_files("common", {**COMMON, **(common or {})}),
            "support": pf.parse_set_files("support", {**SUPPORT, **(support or {})})}


def outcome(run):
    return {prompt_id: [(r.name, r.passed) for r in results] for prompt_id, results in run.results.items()}


def test_every_prompt_with_tests_runs_and_passes():
    run = run_project_tests(documents())
    assert outcome(run) == {"support.greeting": [("greets", True)],
                            "support.reply": [("asks last", True), ("needs a persona", True)]}
    assert run.passed and run.updated == {}
    assert run.summary() == {"total": 3, "passed": 3, "failed": 0, "failing": [], "prompts": 2}


def test_a_failing_case_fails_the_run_and_is_named():
    greeting = SUPPORT["greeting.prompt.yaml"].replace("value: Ann", "value: Bob")
    run = run_project_tests(documents(support={"greeting.prompt.yaml": greeting}))
    assert not run.passed
    assert run.summary()["failing"] == ["support.greeting: greets"]
    [result] = run.results["support.greeting"]
    assert result.failures == ["contains: expected the output to contain 'Bob'; got 'Hello Ann!'"]


def test_partials_render_from_the_local_copy_of_the_dependency():
    run = run_project_tests(documents(common={"tone.prompt.yaml": "name: Tone\ntemplate: Be brief.\n"}))
    [asks_last, _] = run.results["support.reply"]
    assert not asks_last.passed
    assert asks_last.output[0] == {"role": "system", "content": "You are terse. Be brief."}


def test_a_partial_from_a_set_not_in_the_folder_fails_the_render():
    docs = documents()
    del docs["common"]
    [asks_last, needs_persona] = run_project_tests(docs).results["support.reply"]
    assert not asks_last.passed and "common.tone" in asks_last.error
    assert needs_persona.passed  # (it expects an error naming the persona: still its first error)


def test_updating_snapshots_gives_the_documents_to_write(tmp_path):
    changed = documents(common={"tone.prompt.yaml": "name: Tone\ntemplate: Be brief.\n"})
    run = run_project_tests(changed, update_snapshots=True)
    assert run.passed and list(run.updated) == ["support"]
    [reply] = [p for p in run.updated["support"]["prompts"] if p["slug"] == "reply"]
    assert reply["tests"][0]["snapshot"] == "system: You are terse. Be brief.\n\nuser: Why?"
    assert reply["tests"][1] == changed["support"]["prompts"][2]["tests"][1]
    pf.write_set(tmp_path, changed["support"])
    assert pf.write_set(tmp_path, run.updated["support"]) == ["support/reply.prompt.yaml"]
    again = pf.read_project(tmp_path).documents["support"]
    assert run_project_tests({"common": changed["common"], "support": again}).passed


def test_a_missing_snapshot_fails_until_recorded():
    reply = SUPPORT["reply.prompt.yaml"]
    reply = reply[:reply.index("  snapshot: |-")] + reply[reply.index("- name: needs a persona"):]
    docs = documents(support={"reply.prompt.yaml": reply})
    [asks_last, _] = run_project_tests(docs).results["support.reply"]
    assert not asks_last.passed and "no snapshot is stored" in asks_last.failures[0]
    run = run_project_tests(docs, update_snapshots=True)
    assert run.passed and run.updated["support"] != docs["support"]


def test_a_prompt_that_does_not_compile_fails_each_case_with_the_error():
    greeting = SUPPORT["greeting.prompt.yaml"].replace("Hello {{ user }}!", "Hello {{ user !")
    greeting += "- name: second\n  variables: {user: Bo}\n"
    run = run_project_tests(documents(support={"greeting.prompt.yaml": greeting}))
    assert outcome(run)["support.greeting"] == [("greets", False), ("second", False)]
    for result in run.results["support.greeting"]:
        assert result.error.startswith("the prompt does not compile: ")
        assert result.failures[0].startswith("the render failed: the prompt does not compile")
    assert outcome(run)["support.reply"] == [("asks last", True), ("needs a persona", True)]


def test_only_some_sets_or_prompts_can_be_run_with_progress_as_they_go():
    seen = []
    run = run_project_tests(documents(), only={"support.reply"}, progress=lambda p, r: seen.append((p, len(r))))
    assert list(run.results) == ["support.reply"] and seen == [("support.reply", 2)]
    assert list(run_project_tests(documents(), only={"common"}).results) == []
    assert list(run_project_tests(documents(), only={"support"}).results) == ["support.greeting", "support.reply"]


def test_the_results_make_a_junit_report():
    report = junit_xml(run_project_tests(documents()).results)
    assert '<testsuite name="support.reply" tests="2" failures="0"' in report
    assert '<testcase classname="support.greeting" name="greets"' in report
