"""Lint (anvil_client.lint): each kind of problem a project's files can have is found, and named by
file:line:column; a clean project has none."""

import copy

import pytest

from anvil_client import project_files as pf
from anvil_client.lint import LintProblem, fails, lint_files, lint_project

COMMON = {
    "set.yaml": "name: Common\n",
    "tone.prompt.yaml": """\
name: Tone
template: Be {{ manner }}.
parameters:
- name: manner
  required: false
  default: kind
""",
}
SUPPORT = {
    "set.yaml": "name: Support\ndependencies:\n  common: ^1.0\nconfig:\n  model: gpt-4o\n",
    "reply.prompt.yaml": """\
name: Reply
kind: chat
messages:
- role: system
  content: |-
    You are {{ persona }}.
    {% render 'common.tone' %}
- placeholder: history
- role: user
  content: '{{ question }}'
parameters:
- name: persona
- name: question
config:
  temperature: null
tests:
- name: asks last
  variables:
    persona: terse
    question: Why?
    history: []
  assert:
  - type: snapshot
  snapshot: |-
    system: You are terse.
    Be kind.

    user: Why?
""",
    "greeting.prompt.yaml": """\
name: Greeting
template: |
  Hello {{ user }}!
  {% render 'signature' %}
parameters:
- name: user
""",
    "signature.prompt.yaml": "name: Signature\ntemplate: The support team\n",
}


def project(tmp_path, **changes):
    """The clean project, with ``changes`` (``"support/greeting.prompt.yaml": text``, None to remove)."""
    files = {f"common/{k}": v for k, v in COMMON.items()} | {f"support/{k}": v for k, v in SUPPORT.items()}
    for name, text in changes.items():
        files[name.replace("__", "/")] = text
    for name, text in files.items():
        if text is not None:
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    return pf.read_project(tmp_path)


def lint(tmp_path, **changes):
    return [str(p) for p in lint_files(project(tmp_path, **changes))]


def test_a_clean_project_has_no_problems(tmp_path):
    assert lint(tmp_path) == []


def test_a_template_syntax_error_is_named_where_it_is_in_the_file(tmp_path):
    greeting = SUPPORT["greeting.prompt.yaml"].replace("{% render 'signature' %}", "{% if user %}unclosed")
    [problem] = lint(tmp_path, **{"support__greeting.prompt.yaml": greeting})
    assert problem.startswith("support/greeting.prompt.yaml:4:6: error: template syntax error: 'if' block")
    assert "line" not in problem.split("error: ")[-1]  # the file's position replaces the template's


def test_a_syntax_error_in_a_chat_message_names_the_message(tmp_path):
    reply = SUPPORT["reply.prompt.yaml"].replace("'{{ question }}'", "'{{ question | }}'")
    [problem] = lint(tmp_path, **{"support__reply.prompt.yaml": reply})
    assert problem.startswith("support/reply.prompt.yaml:10:") and ": error: messages[2]: template syntax error" in problem


def test_a_variable_not_declared_is_an_error_at_its_first_use(tmp_path):
    greeting = SUPPORT["greeting.prompt.yaml"].replace("Hello {{ user }}!", "Hello {{ user }} {{ usr }}!")
    assert lint(tmp_path, **{"support__greeting.prompt.yaml": greeting}) == [
        "support/greeting.prompt.yaml:3:23: error: 'usr' is used but not declared as a parameter "
        "(did you mean 'user'?)"]


def test_a_parameter_never_used_is_a_warning_that_fails_only_a_strict_run(tmp_path):
    greeting = SUPPORT["greeting.prompt.yaml"] + "- name: tone\n"
    found = lint_files(project(tmp_path, **{"support__greeting.prompt.yaml": greeting}))
    assert [str(p) for p in found] == [
        "support/greeting.prompt.yaml:7:3: warning: parameter 'tone' is declared but never used"]
    assert not fails(found) and fails(found, strict=True)


def test_a_placeholder_is_not_an_undeclared_variable_but_may_not_be_a_parameter(tmp_path):
    reply = SUPPORT["reply.prompt.yaml"].replace("You are {{ persona }}.", "You are {{ persona }} ({{ history | size }}).")
    assert lint(tmp_path, **{"support__reply.prompt.yaml": reply}) == []
    reply = SUPPORT["reply.prompt.yaml"].replace("- name: question\n", "- name: question\n- name: history\n")
    assert lint(tmp_path, **{"support__reply.prompt.yaml": reply}) == [
        "support/reply.prompt.yaml:8:16: error: placeholder 'history' has the name of a declared parameter: "
        "rename one of them"]


def test_a_partial_that_does_not_exist_is_an_error_at_its_tag(tmp_path):
    problems = lint(tmp_path, **{"support__signature.prompt.yaml": None})
    assert problems == ["support/greeting.prompt.yaml:4:3: error: partial 'signature' not found: prompt set "
                        "'support' has no prompt 'signature'"]


def test_a_partial_from_a_set_not_in_the_folder_is_an_error(tmp_path):
    problems = lint(tmp_path, **{"common__set.yaml": None, "common__tone.prompt.yaml": None})
    assert problems == [
        "support/reply.prompt.yaml:7:5: error: partial 'common.tone' cannot be rendered: prompt set 'common' is not "
        "in this project folder",
        "support/set.yaml:3:3: error: dependency 'common': there is no prompt set 'common' in this project folder"]


def test_a_partial_needing_a_parameter_not_passed_is_an_error(tmp_path):
    tone = COMMON["tone.prompt.yaml"].replace("  required: false\n  default: kind\n", "")
    assert lint(tmp_path, **{"common__tone.prompt.yaml": tone}) == [
        "support/reply.prompt.yaml:7:5: error: partial 'common.tone' needs parameter 'manner': "
        "{% render 'common.tone', manner: manner %}"]


def test_partials_in_a_cycle_are_an_error(tmp_path):
    problems = lint(tmp_path, **{"support__signature.prompt.yaml": "name: S\ntemplate: \"{% render 'greeting', "
                                                                   "user: 'x' %}\"\n"})
    assert problems == [
        "support/greeting.prompt.yaml:2:11: error: partials form a cycle: support.greeting → support.signature → "
        "support.greeting",
        "support/signature.prompt.yaml:2:11: error: partials form a cycle: support.signature → support.greeting → "
        "support.signature"]


def test_dependency_specifiers_and_sets_are_checked(tmp_path):
    problems = lint(tmp_path, **{"support__set.yaml": "name: Support\ndependencies:\n  common: ^^1\n  supprot: '*'\n"
                                                     "  support: ^1\n"})
    assert problems[0].startswith("support/set.yaml:3:11: error: dependency 'common': invalid version specifier")
    assert problems[1:] == [
        "support/set.yaml:4:3: error: dependency 'supprot': there is no prompt set 'supprot' in this project folder "
        "(did you mean 'support'?)",
        "support/set.yaml:5:3: error: a prompt set cannot depend on itself"]


def test_sets_depending_on_each_other_are_an_error(tmp_path):
    problems = lint(tmp_path, **{"common__set.yaml": "name: Common\ndependencies:\n  support: ^1\n"})
    assert problems == ["common/set.yaml:2:1: error: dependencies form a cycle: common → support → common",
                        "support/set.yaml:2:1: error: dependencies form a cycle: support → common → support"]


def test_model_configuration_is_checked_where_it_is(tmp_path):
    problems = lint(tmp_path, **{"support__set.yaml": SUPPORT["set.yaml"] + "  temperature: 3\n"})
    assert problems == ["support/set.yaml:6:16: error: model config: temperature must be a number between 0 and 2, "
                        "got 3"]


def test_test_definitions_are_checked(tmp_path):
    reply = SUPPORT["reply.prompt.yaml"].replace("    persona: terse\n", "    persona: terse\n    persnoa: warm\n")
    reply = reply[:reply.index("  snapshot: |-")]
    assert lint(tmp_path, **{"support__reply.prompt.yaml": reply}) == [
        "support/reply.prompt.yaml:20:5: warning: test 'asks last' sets 'persnoa', which is not a parameter "
        "(did you mean 'persona'?)",
        "support/reply.prompt.yaml:24:5: warning: test 'asks last': no snapshot is stored yet (run the tests "
        "updating snapshots to record one)"]


def test_documents_not_from_files_are_checked_too(tmp_path):
    documents = copy.deepcopy(project(tmp_path).documents)
    greeting = documents["support"]["prompts"][0]
    greeting["name"] = " "
    greeting["tests"] = [{"name": "t", "assert": [{"type": "contans"}]}]
    assert [str(p) for p in lint_project(documents)] == [
        "support/greeting.prompt.yaml: error: a prompt's name must be 1-100 characters",
        "support/greeting.prompt.yaml: error: unknown assertion type 'contans'; did you mean 'contains'? (the types "
        "are equals, contains, icontains, not-contains, starts-with, regex, max-tokens, is-json, json-schema, error, "
        "snapshot)"]


def test_a_broken_file_is_reported_and_sets_using_it_say_so(tmp_path):
    problems = lint(tmp_path, **{"common__tone.prompt.yaml": "name: Tone\ntemplate: x\nname: again\n"})
    assert problems == [
        "common/tone.prompt.yaml:3:1: error: duplicate key 'name' (first on line 1)",
        "support/reply.prompt.yaml:7:5: error: partial 'common.tone' cannot be rendered: the files of prompt set "
        "'common' could not be read"]


@pytest.mark.parametrize("problem, text", [
    (LintProblem("a/b.prompt.yaml", 3, 4, "oops"), "a/b.prompt.yaml:3:4: error: oops"),
    (LintProblem("a/set.yaml", None, None, "hm", "warning"), "a/set.yaml: warning: hm"),
])
def test_a_problem_reads_as_file_line_column_severity_message(problem, text):
    assert str(problem) == text
