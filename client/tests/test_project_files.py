"""A project's files (anvil_client.project_files): the YAML a set's source document is written as, read back
exactly, with mistakes named by file:line:column."""

import hashlib
import json
import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anvil_client import project_files as pf
from anvil_client import templates as tpl
from anvil_client.testcases import parse_test_cases, to_json


def prompt(slug, **fields):
    base = {"slug": slug, "name": slug.title(), "description": "", "kind": "text", "template": "",
            "messages": [], "parameters": [], "config": {}, "metadata": {}, "tests": []}
    base.update(fields)
    base["parameters"] = [p.to_dict() for p in tpl.parse_parameters(base["parameters"])]
    base["tests"] = to_json(parse_test_cases(base["tests"], kind=base["kind"]))
    return base


def document(slug="support", prompts=(), **fields):
    base = {"slug": slug, "name": slug.title(), "description": "", "dependencies": {}, "config": {},
            "metadata": {}, "prompts": sorted(prompts, key=lambda p: p["slug"])}
    base.update(fields)
    return base


EXAMPLE = document("support", [
    prompt("greeting", description="The first line of every answer",
           template="Hello {{ user }}!\n{% if vip %}Thank you for staying with us.\n{% endif %}",
           parameters=[{"name": "user"}, {"name": "vip", "type": "boolean", "required": False, "default": False}],
           tests=[{"name": "greets by name", "variables": {"user": "Ann"},
                   "assert": [{"type": "contains", "value": "Ann"}]}]),
    prompt("reply", kind="chat",
           messages=[{"role": "system", "content": "You are {{ persona }}.\n{% render 'greeting', user: user %}"},
                     {"placeholder": "history"},
                     {"role": "user", "content": "{{ question }}"}],
           parameters=[{"name": "persona", "type": "enum", "values": ["terse", "warm"]}, {"name": "user"},
                       {"name": "question", "description": "what the customer asked"}],
           config={"model": "gpt-4o", "temperature": 0.2},
           tests=[{"name": "asks last", "variables": {"persona": "terse", "user": "Ann", "question": "Why?",
                                                      "history": []},
                   "assert": [{"type": "equals", "target": -1, "value": "Why?"}, {"type": "snapshot"}],
                   "snapshot": "system: You are terse.\nHello Ann!\n\n\nuser: Why?"}]),
], name="Customer support", dependencies={"common": "^1.2"}, metadata={"owner": "support-team"})

EXAMPLE_FILES = {
    "set.yaml": """\
name: Customer support
dependencies:
  common: ^1.2
metadata:
  owner: support-team
""",
    "greeting.prompt.yaml": """\
name: Greeting
description: The first line of every answer
template: |-
  Hello {{ user }}!
  {% if vip %}Thank you for staying with us.
  {% endif %}
parameters:
- name: user
- name: vip
  type: boolean
  required: false
  default: false
tests:
- name: greets by name
  variables:
    user: Ann
  assert:
  - type: contains
    value: Ann
""",
    "reply.prompt.yaml": """\
name: Reply
kind: chat
messages:
- role: system
  content: |-
    You are {{ persona }}.
    {% render 'greeting', user: user %}
- placeholder: history
- role: user
  content: '{{ question }}'
parameters:
- name: persona
  type: enum
  values:
  - terse
  - warm
- name: user
- name: question
  description: what the customer asked
config:
  model: gpt-4o
  temperature: 0.2
tests:
- name: asks last
  variables:
    persona: terse
    user: Ann
    question: Why?
    history: []
  assert:
  - type: equals
    value: Why?
    target: -1
  - type: snapshot
  snapshot: |-
    system: You are terse.
    Hello Ann!


    user: Why?
""",
}


def test_a_document_is_written_as_these_exact_files():
    assert pf.set_files(EXAMPLE) == EXAMPLE_FILES


def test_the_files_read_back_as_the_document():
    assert pf.parse_set_files("support", EXAMPLE_FILES) == EXAMPLE


def test_keys_left_out_take_their_defaults_when_read():
    files = {"set.yaml": "name: S\n", "p.prompt.yaml": "name: P\nparameters:\n- name: n\n  type: list\n"}
    doc = pf.parse_set_files("s", files)
    assert doc == document("s", [prompt("p", name="P", parameters=[{"name": "n", "type": "list"}])], name="S")
    assert doc["prompts"][0]["parameters"] == [{"name": "n", "type": "list", "description": "", "required": True,
                                                "default": None, "items": "string"}]
    assert pf.set_files(doc)["p.prompt.yaml"] == "name: P\ntemplate: ''\nparameters:\n- name: n\n  type: list\n"


def test_comments_and_other_yaml_spellings_read_as_the_same_document():
    files = {"set.yaml": "# the set\nname: 'Customer support'\ndependencies: {common: \"^1.2\"}\n"
                         "metadata: {owner: support-team}\n",
             "greeting.prompt.yaml": EXAMPLE_FILES["greeting.prompt.yaml"],
             "reply.prompt.yaml": EXAMPLE_FILES["reply.prompt.yaml"]}
    assert pf.parse_set_files("support", files) == EXAMPLE


@pytest.mark.parametrize("text, style", [
    ("two\nlines\n", "|"),
    ("no final newline\nhere", "|-"),
    ("kept\nblank lines\n\n\n", "|+"),
    ("  indented first line\nsecond\n", "|2"),
    ("trailing space \non a line", '"'),
    ("a tab\tinside\n", '"'),
    ("windows\r\nline ends", '"'),
    ("unicode line separator\u2028here", '"'),
    ("next line \x85 character", '"'),
    ("ends with a space ", "'"),
    ("yes", "'"),
    ("1.0", "'"),
    ("2024-01-01", "'"),
    ("- looks like a list", "'"),
    ("émoji 😀 and ü", None),
])
def test_a_template_is_written_in_a_style_that_reads_back_exactly(text, style):
    doc = document("s", [prompt("p", template=text)])
    written = pf.set_files(doc)["p.prompt.yaml"]
    line = written.split("\n")[1]
    assert line.startswith("template: " + (style or text[0]))
    assert "\t" not in written and "\r" not in written and written.endswith("\n")
    assert pf.parse_set_files("s", pf.set_files(doc)) == doc


# --- generated documents: byte-stable round trips ---

odd_text = st.text(alphabet=st.sampled_from(list("ab Z\n\n\t\r{}%:#-'\"|>!&*é😀\x85\u2028\ufeff\x00\x7f")), max_size=30)
any_text = st.one_of(st.text(max_size=30), odd_text)
names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).map(lambda s: "v_" + s)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                    st.floats(allow_nan=False, allow_infinity=False), any_text)
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                             st.dictionaries(any_text, inner, max_size=3)),
                           max_leaves=8)


@st.composite
def parameters(draw):
    result = []
    for name in draw(st.lists(names, unique=True, max_size=4)):
        kind = draw(st.sampled_from(["string", "number", "integer", "boolean", "enum", "list", "object"]))
        declaration = {"name": name, "type": kind, "description": draw(st.sampled_from(["", "what it is\nfor"]))}
        if kind == "enum":
            declaration["values"] = draw(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=3,
                                                  unique=True))
        if kind == "list":
            declaration["items"] = draw(st.sampled_from(["string", "integer", "object"]))
        if kind == "object" and draw(st.booleans()):
            declaration["schema"] = {"type": "object", "required": ["id"]}
        if draw(st.booleans()):
            declaration["required"] = False
            default = {"string": any_text, "number": st.floats(-1e6, 1e6), "integer": st.integers(-99, 99),
                       "boolean": st.booleans(), "enum": st.sampled_from(declaration.get("values", ["x"])),
                       "list": st.just([]), "object": st.just({"id": 1, "note": "two\nlines"})}[kind]
            declaration["default"] = draw(st.one_of(st.none(), default))
        result.append(declaration)
    return result


@st.composite
def prompts(draw, slug):
    kind = draw(st.sampled_from(["text", "chat"]))
    fields = {"name": draw(any_text), "description": draw(any_text), "kind": kind,
              "parameters": draw(parameters()), "config": draw(st.dictionaries(any_text, json_values, max_size=2)),
              "metadata": draw(st.dictionaries(any_text, json_values, max_size=2))}
    if kind == "chat":
        fields["messages"] = draw(st.lists(st.one_of(
            st.fixed_dictionaries({"role": st.sampled_from(tpl.ROLES), "content": any_text}),
            st.just({"placeholder": "history"})), max_size=4).filter(
                lambda items: sum("placeholder" in m for m in items) <= 1))
    else:
        fields["template"] = draw(any_text)
    tests = []
    for number, name in enumerate(draw(st.lists(any_text.filter(str.strip), unique=True, max_size=3))):
        assertions = draw(st.lists(st.one_of(
            st.fixed_dictionaries({"type": st.sampled_from(["contains", "equals", "starts-with"]), "value": any_text},
                                  optional={"name": st.just("named")}),
            st.fixed_dictionaries({"type": st.just("max-tokens"), "value": st.integers(1, 500)})), max_size=2))
        if kind == "chat" and assertions and draw(st.booleans()):
            assertions[0]["target"] = draw(st.sampled_from([-1, 0, "user"]))
        case = {"name": name, "variables": draw(st.dictionaries(any_text, json_values, max_size=3)),
                "assert": assertions}
        if draw(st.booleans()):
            case["assert"].append({"type": "snapshot"})
            case["snapshot"] = draw(any_text)
        tests.append(case)
    return prompt(slug, **fields, tests=tests)


@st.composite
def documents(draw):
    slugs = draw(st.lists(st.from_regex(r"[a-z0-9_-]{1,12}", fullmatch=True), unique=True, max_size=3))
    return document("set-1", [draw(prompts(slug)) for slug in slugs], name=draw(any_text),
                    description=draw(any_text),
                    dependencies=draw(st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True),
                                                      st.sampled_from(["^1.2", "1.2", "1", "~0.3.0", "*", "latest",
                                                                       ">=1.0.0 <2.0.0"]), max_size=2)),
                    config=draw(st.dictionaries(any_text, json_values, max_size=2)),
                    metadata=draw(st.dictionaries(any_text, json_values, max_size=3)))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_every_document_reads_back_exactly_and_writes_the_same_bytes(doc):
    files = pf.set_files(doc)
    back = pf.parse_set_files("set-1", files)
    assert back == doc
    assert pf.set_files(back) == files
    assert pf.etag(back) == pf.etag(doc)
    for text in files.values():
        assert "\t" not in text and "\r" not in text and text.endswith("\n")


# --- mistakes, named by file:line:column ---

SET = "name: Support\n"


@pytest.mark.parametrize("text, message", [
    ("name: A\ntemplate: x\nname: B\n", "s/p.prompt.yaml:3:1: duplicate key 'name' (first on line 1)"),
    ("name: A\ntempalte: x\n", "s/p.prompt.yaml:2:1: unknown key 'tempalte'; did you mean 'template'?"),
    ("name: &n A\ntemplate: *n\n", "s/p.prompt.yaml:1:7: anchors (&name) are not used in Anvil files"),
    ("name: A\ntemplate: !!str x\n", "s/p.prompt.yaml:2:11: tags (tag:yaml.org,2002:str) are not used in Anvil files"),
    ("name: A\ntemplate: x\nmetadata:\n  1: one\n",
     "s/p.prompt.yaml:4:3: a key must be text: write it in quotes ('1') if you mean it"),
    ("name: A\nmetadata:\n  released: 2024-01-01\n",
     "s/p.prompt.yaml:3:13: a date or time is not a JSON value: write it in quotes if you mean the text"),
    ("name: no\n", "s/p.prompt.yaml:1:7: 'name' must be text, not true/false (YAML reads yes/no/on/off as "
                   "true/false: write it in quotes)"),
    ("template: x\n", "s/p.prompt.yaml:1:1: 'name' is required"),
    ("name: A\n\ttemplate: x\n", "s/p.prompt.yaml:2:1: while scanning for the next token, found character '\\t' "
                                 "that cannot start any token (YAML indents with spaces, never tabs)"),
    ("name: A\nkind: chat\ntemplate: x\n", "s/p.prompt.yaml:3:1: a chat prompt has no 'template' (a chat prompt has "
                                           "messages)"),
    ("name: A\nkind: chat\nmessages:\n- role: system\n  content: hi\n- role: bot\n  content: x\n",
     "s/p.prompt.yaml:6:9: messages[1]: role 'bot' is not one of system, developer, user, assistant"),
    ("name: A\nparameters:\n- name: a\n- name: tone\n  type: enum\n",
     "s/p.prompt.yaml:4:3: parameter 'tone' of type enum needs 'values': a non-empty list of distinct non-empty "
     "strings"),
    ("name: A\nparameters:\n- name: a\n  requried: false\n",
     "s/p.prompt.yaml:4:3: unknown key 'requried'; did you mean 'required'?"),
    ("name: A\ntests:\n- name: t\n  assert:\n  - type: contains\n    value: 3\n",
     "s/p.prompt.yaml:6:12: 'contains' needs a string value, not 3"),
    ("name: A\ntests:\n- name: t\n  asert: []\n", "s/p.prompt.yaml:4:3: unknown key 'asert'; did you mean 'assert'? "
                                                  "(the keys are name, variables, assert, snapshot)"),
    ("name: A\ntests:\n- name: t\n- name: t\n", "s/p.prompt.yaml:4:9: duplicate test name 't' (also tests[0])"),
    ("", "s/p.prompt.yaml: the file must hold a mapping (key: value lines), it is empty"),
])
def test_a_mistake_in_a_prompt_file_is_named_by_file_line_and_column(text, message):
    with pytest.raises(pf.FileFormatError) as info:
        pf.parse_set_files("s", {"set.yaml": SET, "p.prompt.yaml": text})
    assert str(info.value) == message


@pytest.mark.parametrize("files, message", [
    ({"set.yaml": "name: S\ndependencies:\n  common: 1.2\n"},
     "s/set.yaml:3:11: the version specifier of 'common' must be text, not a number: write it in quotes ('^1.2')"),
    ({"set.yaml": "name: S\ndependency: {}\n"}, "s/set.yaml:2:1: unknown key 'dependency'; did you mean "
                                                "'dependencies'?"),
    ({"p.prompt.yaml": "name: P\n"}, "s/set.yaml: a prompt set's folder needs a set.yaml"),
    ({"set.yaml": SET, "Reply.prompt.yaml": "name: P\n"},
     "s/Reply.prompt.yaml: the file name is the prompt's slug: 'Reply' is not 1-64 characters a-z, 0-9, - and _"),
    ({"set.yaml": SET, "reply.prompt.yml": "name: P\n"}, "s/reply.prompt.yml: not a file of a prompt set "
                                                         "(set.yaml, <prompt>.prompt.yaml); prompt files end in "
                                                         ".prompt.yaml"),
])
def test_a_mistake_in_a_set_is_named_by_file(files, message):
    with pytest.raises(pf.FileFormatError) as info:
        pf.parse_set_files("s", files)
    assert str(info.value) == message


def test_the_folder_names_the_files_in_errors():
    with pytest.raises(pf.FileFormatError) as info:
        pf.parse_set_files("s", {"set.yaml": "name: [\n"}, folder="prompts/s")
    assert info.value.file == "prompts/s/set.yaml" and info.value.line == 2


def test_the_etag_is_the_digest_of_the_content_only():
    content = {key: EXAMPLE[key] for key in pf.CONTENT_KEYS}
    expected = '"' + hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":"),
                                               ensure_ascii=False).encode()).hexdigest()[:32] + '"'
    assert pf.etag(EXAMPLE) == expected
    assert pf.etag({**EXAMPLE, "status": "live", "version": None, "pushed_etag": '"x"'}) == expected
    assert pf.etag({**EXAMPLE, "name": "Other"}) != expected


# --- the project folder ---


def test_write_set_writes_only_what_changed_and_removes_prompts_no_longer_there(tmp_path):
    assert pf.write_set(tmp_path, EXAMPLE) == ["support/greeting.prompt.yaml", "support/reply.prompt.yaml",
                                               "support/set.yaml"]
    assert (tmp_path / "support" / "reply.prompt.yaml").read_bytes() == EXAMPLE_FILES["reply.prompt.yaml"].encode()
    assert pf.write_set(tmp_path, EXAMPLE) == []
    smaller = {**EXAMPLE, "name": "Support", "prompts": EXAMPLE["prompts"][1:]}
    assert pf.write_set(tmp_path, smaller) == ["support/greeting.prompt.yaml", "support/set.yaml"]
    assert sorted(p.name for p in (tmp_path / "support").iterdir()) == ["reply.prompt.yaml", "set.yaml"]


@pytest.mark.parametrize("bad", [
    {**EXAMPLE, "slug": "../outside"},
    {**EXAMPLE, "prompts": [{**EXAMPLE["prompts"][0], "slug": "../../outside"}]},
    {**EXAMPLE, "prompts": [EXAMPLE["prompts"][0], EXAMPLE["prompts"][0]]},
])
def test_a_document_whose_slugs_are_no_file_names_is_never_written(tmp_path, bad):
    with pytest.raises(ValueError):
        pf.write_set(tmp_path / "project", bad)
    assert list(tmp_path.iterdir()) == []


def test_a_project_folder_reads_as_its_settings_and_documents(tmp_path):
    pf.write_settings(tmp_path, "https://forge.example", "0b5e-project")
    assert (tmp_path / "anvil.yaml").read_text() == "format: 1\nforge: https://forge.example\nproject: 0b5e-project\n"
    pf.write_set(tmp_path, EXAMPLE)
    pf.write_set(tmp_path, document("common", [prompt("tone", template="Be kind.")]))
    (tmp_path / ".anvil").mkdir()
    (tmp_path / ".anvil" / "set.yaml").write_text("not: a set\n")  # dot-folders are not sets
    (tmp_path / "notes").mkdir()  # a folder without set.yaml is not a set
    (tmp_path / "support" / "README.md").write_text("about these prompts\n")  # nor other files
    project = pf.read_project(tmp_path)
    assert project.errors == [] and project.unreadable == set()
    assert project.settings == pf.Settings("https://forge.example", "0b5e-project")
    assert project.documents == {"common": document("common", [prompt("tone", template="Be kind.")]),
                                 "support": EXAMPLE}
    assert pf.find_root(tmp_path / "support") == tmp_path


def test_every_broken_file_is_reported_and_its_set_left_out(tmp_path):
    pf.write_set(tmp_path, EXAMPLE)
    pf.write_set(tmp_path, document("common", [prompt("tone")]))
    (tmp_path / "support" / "greeting.prompt.yaml").write_text("name: G\ntemplate: x\ntemplate: y\n")
    (tmp_path / "support" / "reply.prompt.yaml").write_bytes(b"name: \xff\n")
    project = pf.read_project(tmp_path)
    assert [str(e) for e in project.errors] == [
        "support/reply.prompt.yaml: not UTF-8 text (byte 6)",
        "support/greeting.prompt.yaml:3:1: duplicate key 'template' (first on line 2)"]
    assert list(project.documents) == ["common"] and project.unreadable == {"support"}
    with pytest.raises(pf.FileFormatError):
        project.checked_documents()


def test_writing_leaves_no_temporary_files_and_keeps_a_files_mode(tmp_path):
    pf.write_set(tmp_path, EXAMPLE)
    path = tmp_path / "support" / "set.yaml"
    os.chmod(path, 0o640)
    pf.write_set(tmp_path, {**EXAMPLE, "name": "Renamed"})
    assert path.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in path.parent.iterdir()) == ["greeting.prompt.yaml", "reply.prompt.yaml",
                                                             "set.yaml"]


def test_a_template_position_is_found_in_its_file(tmp_path):
    pf.write_set(tmp_path, EXAMPLE)
    sources = pf.read_project(tmp_path).sources
    # greeting's template starts on line 4 ("template: |-" is line 3), indented by 2
    assert sources.locate_template("support", "greeting", None, 2, 4) == ("support/greeting.prompt.yaml", 5, 6)
    # reply's last message is '{{ question }}' on line 10, after "  content: '"
    assert sources.locate_template("support", "reply", 2, 1, 4) == ("support/reply.prompt.yaml", 10, 16)
    assert sources.locate("support", None, "dependencies.common") == ("support/set.yaml", 3, 11)
    assert sources.locate("support", "reply", "tests[0].assert[1]") == ("support/reply.prompt.yaml", 34, 5)


def test_the_example_files_of_the_documentation_are_what_pull_writes():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "prompts-as-code.md").read_text(encoding="utf-8")
    found = re.findall(r"<!-- prompts-as-code example: support/(\S+) -->\n```yaml\n(.*?)```", doc, re.S)
    files = dict(found)
    assert sorted(files) == ["greeting.prompt.yaml", "reply.prompt.yaml", "set.yaml"]
    assert pf.set_files(pf.parse_set_files("support", files)) == files
