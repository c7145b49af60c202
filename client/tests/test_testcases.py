"""Prompt tests (anvil_client.testcases): parsing test definitions, running them offline, JUnit reports."""

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anvil_client import templates as tpl
from anvil_client import junit
from anvil_client import testcases as tc

GREETING = tpl.PreparedPrompt("Hello {{ user }}! You have {{ count }} new messages.",
                              [{"name": "user", "type": "string"}, {"name": "count", "type": "integer"}])
CHAT = tpl.PreparedChat(
    [{"role": "system", "content": "You are {{ persona }}."},
     {"placeholder": "history"},
     {"role": "user", "content": "{{ question }}"}],
    [{"name": "persona"}, {"name": "question"}],
)
HISTORY = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"}]
CHAT_VARS = {"persona": "a pirate", "question": "Where is the treasure?", "history": HISTORY}
JSON_PROMPT = tpl.PreparedPrompt('{"user": "{{ user }}", "age": {{ age }}}')


def run(prepared, tests, kind="text", snapshots=None, update=False):
    return tc.run_test_cases(prepared, tc.parse_test_cases(tests, kind=kind), snapshots, update_snapshots=update)


def one(prepared, assertion, variables=None, kind="text", **kwargs):
    """The single assertion result of a one-assertion test."""
    [result] = run(prepared, [{"name": "t", "variables": variables if variables is not None else
                               {"user": "Ann", "count": 3}, "assert": [assertion]}], kind, **kwargs)
    [checked] = result.assertions
    assert checked.passed == result.passed
    return checked


def parse_error(tests, kind="text"):
    with pytest.raises(tc.TestCaseError) as info:
        tc.parse_test_cases(tests, kind=kind)
    return info.value


# --- every assertion type, passing and failing ---------------------------------------------------------


@pytest.mark.parametrize("assertion", [
    {"type": "equals", "value": "Hello Ann! You have 3 new messages."},
    {"type": "contains", "value": "Ann!"},
    {"type": "icontains", "value": "hello ANN"},
    {"type": "not-contains", "value": "Bob"},
    {"type": "starts-with", "value": "Hello Ann"},
    {"type": "regex", "value": r"You have \d+ new"},
    {"type": "max-tokens", "value": 10},
])
def test_string_assertions_pass(assertion):
    result = one(GREETING, assertion)
    assert result.passed and result.message == ""


@pytest.mark.parametrize("assertion, expected_parts", [
    ({"type": "equals", "value": "Hello Ann! You have 4 new messages."},
     ["to equal", "first difference at character 20", "expected 'Hello Ann! You have 4",
      "got 'Hello Ann! You have 3"]),
    ({"type": "contains", "value": "Bob"}, ["to contain 'Bob'", "got 'Hello Ann! You have 3 new messages.'"]),
    ({"type": "icontains", "value": "BOB"}, ["to contain 'BOB' (ignoring case)", "got 'Hello Ann!"]),
    ({"type": "not-contains", "value": "Ann"}, ["not to contain 'Ann'", "found at character 6"]),
    ({"type": "starts-with", "value": "Hi"}, ["to start with 'Hi'", "got 'Hello Ann!"]),
    ({"type": "regex", "value": r"\A\d"}, ["regular expression '\\\\A\\\\d'", "got 'Hello"]),
    ({"type": "max-tokens", "value": 9}, ["at most 9 tokens", "it has 10"]),
])
def test_string_assertions_fail_saying_what_was_expected_and_got(assertion, expected_parts):
    result = one(GREETING, assertion)
    assert not result.passed
    for part in expected_parts:
        assert part in result.message, (part, result.message)


def test_icontains_and_contains_differ_on_case():
    assert one(GREETING, {"type": "icontains", "value": "HELLO"}).passed
    assert not one(GREETING, {"type": "contains", "value": "HELLO"}).passed


def test_equals_is_exact_no_trimming():
    prompt = tpl.PreparedPrompt("Hi\n")
    assert not one(prompt, {"type": "equals", "value": "Hi"}, {}).passed
    message = one(prompt, {"type": "equals", "value": "Hi"}, {}).message
    assert "goes on" in message and "'Hi\\n'" in message
    assert one(prompt, {"type": "equals", "value": "Hi\n"}, {}).passed


def test_max_tokens_uses_estimate_tokens():
    prompt = tpl.PreparedPrompt("Hello, world!")
    assert tpl.estimate_tokens("Hello, world!") == 4
    assert one(prompt, {"type": "max-tokens", "value": 4}, {}).passed
    assert "it has 4" in one(prompt, {"type": "max-tokens", "value": 3}, {}).message


def test_long_outputs_are_shortened_in_messages():
    prompt = tpl.PreparedPrompt("{{ text }}")
    text = "word " * 2000
    message = one(prompt, {"type": "contains", "value": "missing"}, {"text": text}).message
    assert len(message) < 400
    assert "(10000 characters)" in message


def test_is_json():
    assert one(JSON_PROMPT, {"type": "is-json"}, {"user": "Ann", "age": 3}).passed
    failed = one(JSON_PROMPT, {"type": "is-json"}, {"user": "Ann", "age": "three"})
    assert not failed.passed
    assert "expected the output to be JSON; it is not" in failed.message and '"age": three' in failed.message


def test_is_json_refuses_nan():
    assert not one(tpl.PreparedPrompt("[NaN]"), {"type": "is-json"}, {}).passed
    assert one(tpl.PreparedPrompt("  [1.5]\n"), {"type": "is-json"}, {}).passed


SCHEMA = {"type": "object", "properties": {"age": {"type": "integer", "minimum": 18}}, "required": ["user"]}


def test_is_json_with_a_schema():
    assert one(JSON_PROMPT, {"type": "is-json", "value": SCHEMA}, {"user": "Ann", "age": 30}).passed
    failed = one(JSON_PROMPT, {"type": "is-json", "value": SCHEMA}, {"user": "Ann", "age": 3})
    assert not failed.passed
    assert "does not at 'age'" in failed.message and "18" in failed.message


def test_json_schema():
    assert one(JSON_PROMPT, {"type": "json-schema", "value": SCHEMA}, {"user": "Ann", "age": 30}).passed
    failed = one(JSON_PROMPT, {"type": "json-schema", "value": {"type": "array"}}, {"user": "Ann", "age": 30})
    assert not failed.passed and "is not of type 'array'" in failed.message
    not_json = one(GREETING, {"type": "json-schema", "value": {"type": "array"}})
    assert not not_json.passed and "to be JSON; it is not" in not_json.message


def test_a_schema_ref_to_another_document_is_not_fetched():
    schema = {"$ref": "https://example.com/schema.json"}
    failed = one(JSON_PROMPT, {"type": "json-schema", "value": schema}, {"user": "Ann", "age": 30})
    assert not failed.passed and "could not be checked" in failed.message


# --- chat prompts: targets and the whole conversation --------------------------------------------------


def chat_one(assertion, variables=CHAT_VARS):
    return one(CHAT, assertion, variables, kind="chat")


def test_chat_target_by_index():
    assert chat_one({"type": "equals", "target": 0, "value": "You are a pirate."}).passed
    assert chat_one({"type": "equals", "target": 2, "value": "Hello! How can I help?"}).passed
    failed = chat_one({"type": "equals", "target": 1, "value": "Hello"})
    assert not failed.passed and failed.message.startswith("expected messages[1] (user) to equal 'Hello'")


def test_chat_target_negative_index():
    assert chat_one({"type": "equals", "target": -1, "value": "Where is the treasure?"}).passed
    assert chat_one({"type": "equals", "target": -4, "value": "You are a pirate."}).passed
    failed = chat_one({"type": "contains", "target": -2, "value": "treasure"})
    assert not failed.passed and "messages[2] (assistant)" in failed.message


def test_chat_target_index_out_of_range_fails():
    failed = chat_one({"type": "contains", "target": 4, "value": "x"})
    assert not failed.passed and failed.message == "there is no message [4]: the conversation has 4 messages"
    assert not chat_one({"type": "contains", "target": -5, "value": "x"}).passed


def test_chat_target_by_role_is_the_last_message_with_that_role():
    assert chat_one({"type": "equals", "target": "user", "value": "Where is the treasure?"}).passed
    assert chat_one({"type": "starts-with", "target": "assistant", "value": "Hello!"}).passed
    failed = chat_one({"type": "contains", "target": "user", "value": "Hi"})  # the first user message
    assert not failed.passed and "the last user message (messages[3])" in failed.message
    missing = chat_one({"type": "contains", "target": "developer", "value": "x"})
    assert not missing.passed and "there is no developer message" in missing.message


def test_chat_whole_output_is_the_conversation_text():
    text = ("system: You are a pirate.\n\nuser: Hi\n\nassistant: Hello! How can I help?\n\n"
            "user: Where is the treasure?")
    assert chat_one({"type": "equals", "value": text}).passed
    assert chat_one({"type": "contains", "value": "Hi\n\nassistant: Hello"}).passed
    assert not chat_one({"type": "equals", "value": text + " "}).passed
    [result] = run(CHAT, [{"name": "t", "variables": CHAT_VARS}], kind="chat")
    assert result.output == [{"role": "system", "content": "You are a pirate."}, *HISTORY,
                             {"role": "user", "content": "Where is the treasure?"}]
    assert tc.conversation_text(result.output) == text


def test_chat_snapshot_of_the_conversation_and_of_a_message():
    [updated] = run(CHAT, [{"name": "t", "variables": CHAT_VARS, "assert": [{"type": "snapshot"}]}], "chat",
                    update=True)
    assert updated.snapshot == tc.conversation_text(updated.output)
    [message] = run(CHAT, [{"name": "t", "variables": CHAT_VARS, "assert": [{"type": "snapshot", "target": 0}]}],
                    "chat", update=True)
    assert message.snapshot == "You are a pirate."


# --- render errors ---------------------------------------------------------------------------------------


def test_error_assertion_without_value_passes_on_any_render_error():
    [result] = run(GREETING, [{"name": "missing user", "variables": {"count": 1}, "assert": [{"type": "error"}]}])
    assert result.passed and result.output is None
    assert "user" in result.error


def test_error_assertion_with_value_checks_the_message():
    tests = [{"name": "a", "variables": {"count": 1}, "assert": [{"type": "error", "value": "'user'"}]},
             {"name": "b", "variables": {"count": 1}, "assert": [{"type": "error", "value": "'count'"}]}]
    good, bad = run(GREETING, tests)
    assert good.passed
    assert not bad.passed
    assert "with an error containing \"'count'\"" in bad.assertions[0].message
    assert "got the error" in bad.assertions[0].message and "user" in bad.assertions[0].message


def test_error_assertion_fails_when_the_render_succeeds():
    [result] = run(GREETING, [{"name": "t", "variables": {"user": "Ann", "count": 1},
                               "assert": [{"type": "error"}]}])
    assert not result.passed
    assert result.assertions[0].message.startswith("expected the render to fail; it succeeded: 'Hello Ann!")


def test_a_render_error_without_an_error_assertion_fails_naming_the_error():
    [result] = run(GREETING, [{"name": "t", "variables": {"user": "Ann", "count": "many"},
                               "assert": [{"type": "contains", "value": "Ann"}, {"type": "snapshot"}]}],
                   snapshots={"t": "x"})
    assert not result.passed and result.output is None
    assert "count" in result.error
    for checked in result.assertions:
        assert not checked.passed
        assert checked.message == f"the render failed: {result.error}"
    assert result.failures[0] == f"the render failed: {result.error}"


def test_a_render_error_fails_a_case_with_no_assertions():
    [bad, good] = run(GREETING, [{"name": "bad", "variables": {}}, {"name": "good",
                                                                     "variables": {"user": "A", "count": 1}}])
    assert not bad.passed and bad.failures and "user" in bad.failures[0]
    assert good.passed and good.failures == []


def test_chat_render_error_names_the_message():
    [result] = run(CHAT, [{"name": "t", "variables": {"persona": "x", "question": "q"},
                           "assert": [{"type": "error", "value": "history"}]}], "chat")
    assert result.passed and "placeholder 'history'" in result.error


def test_partials_are_rendered():
    tone = tpl.PreparedPrompt("Be {{ mood }}.", [{"name": "mood"}])
    prompt = tpl.PreparedPrompt("{% render 'tone', mood: 'kind' %} Hi", partials={"tone": tone})
    assert one(prompt, {"type": "equals", "value": "Be kind. Hi"}, {}).passed
    missing = tpl.PreparedPrompt("{% render 'nope' %}", partials={})
    assert one(missing, {"type": "error", "value": "not found"}, {}).passed


# --- snapshots ------------------------------------------------------------------------------------------

SNAP = [{"name": "greeting", "variables": {"user": "Ann", "count": 3}, "assert": [{"type": "snapshot"}]}]
RENDERED = "Hello Ann! You have 3 new messages."


def test_snapshot_missing_fails_telling_to_update():
    for snapshots in (None, {}, {"other": RENDERED}):
        [result] = run(GREETING, SNAP, snapshots=snapshots)
        assert not result.passed and result.snapshot is None
        message = result.assertions[0].message
        assert "no snapshot is stored for test 'greeting'" in message and "update" in message


def test_snapshot_matching_passes():
    [result] = run(GREETING, SNAP, snapshots={"greeting": RENDERED})
    assert result.passed and result.snapshot is None


def test_snapshot_mismatch_fails_showing_the_difference():
    [result] = run(GREETING, SNAP, snapshots={"greeting": "Hello Ann! You have 2 new messages."})
    assert not result.passed
    message = result.assertions[0].message
    assert "to equal its snapshot" in message and "first difference at character 20" in message
    assert "expected 'Hello Ann! You have 2" in message and "got 'Hello Ann! You have 3" in message


def test_snapshot_update_returns_the_new_snapshot_instead_of_failing():
    for snapshots in (None, {"greeting": "old"}, {"greeting": RENDERED}):
        [result] = run(GREETING, SNAP, snapshots=snapshots, update=True)
        assert result.passed and result.snapshot == RENDERED
    [plain] = run(GREETING, [{"name": "t", "variables": {"user": "A", "count": 1}}], update=True)
    assert plain.snapshot is None


# --- parse errors ---------------------------------------------------------------------------------------


def test_parse_valid_tests():
    [case] = tc.parse_test_cases([{"name": "t", "variables": {"a": 1},
                                   "assert": [{"type": "contains", "value": "x", "name": "has x"}]}], kind="text")
    assert case == tc.TestCase("t", {"a": 1}, (tc.Assertion("contains", "x", None, "has x"),))
    [minimal] = tc.parse_test_cases([{"name": "only a name"}], kind="chat")
    assert minimal.variables == {} and minimal.assertions == ()


@pytest.mark.parametrize("tests, kind, path, words", [
    ([{"name": "t", "assert": [{"type": "contain", "value": "x"}]}], "text", "tests[0].assert[0].type",
     ["unknown assertion type 'contain'", "did you mean 'contains'"]),
    ([{"name": "a"}, {"name": "t", "assert": [{"type": "equals", "value": "x"}, {"type": "regex", "value": "a("}]}],
     "text", "tests[1].assert[1].value", ["invalid regular expression 'a('", "missing )"]),
    ([{"name": "t", "assert": [{"type": "json-schema", "value": {"type": "strnig"}}]}], "text",
     "tests[0].assert[0].value", ["not a valid JSON Schema", "strnig"]),
    ([{"name": "t", "assert": [{"type": "is-json", "value": {"minimum": "zero"}}]}], "text",
     "tests[0].assert[0].value", ["not a valid JSON Schema at 'minimum'"]),
    ([{"name": "t", "assert": [{"type": "json-schema"}]}], "text", "tests[0].assert[0].value",
     ["needs a JSON Schema"]),
    ([{"name": "t", "assert": [{"type": "contains", "value": "x", "target": -1}]}], "text",
     "tests[0].assert[0].target", ["only for chat prompts"]),
    ([{"name": "t", "assert": [{"type": "contains", "value": "x", "target": "bot"}]}], "chat",
     "tests[0].assert[0].target", ["'bot' is not a role"]),
    ([{"name": "t", "assert": [{"type": "contains", "value": "x", "target": True}]}], "chat",
     "tests[0].assert[0].target", ["must be a message index or a role"]),
    ([{"name": "t"}, {"name": "u"}, {"name": "t"}], "text", "tests[2].name",
     ["duplicate test name 't'", "tests[0]"]),
    ([{"name": "t", "varaibles": {}}], "text", "tests[0].varaibles", ["unknown key 'varaibles'", "variables"]),
    ([{"name": "t", "assert": [{"type": "equals", "value": "x", "targte": 1}]}], "chat",
     "tests[0].assert[0].targte", ["unknown key 'targte'", "did you mean 'target'"]),
    ([{"name": "", "variables": {}}], "text", "tests[0].name", ["non-empty string"]),
    ([{"variables": {}}], "text", "tests[0].name", ["needs a name"]),
    ([{"name": "t", "variables": [1]}], "text", "tests[0].variables", ["JSON object"]),
    ([{"name": "t", "assert": {"type": "equals"}}], "text", "tests[0].assert", ["list of assertions"]),
    ([{"name": "t", "assert": [{"value": "x"}]}], "text", "tests[0].assert[0]", ["needs a 'type'"]),
    ([{"name": "t", "assert": [{"type": "equals", "value": 3}]}], "text", "tests[0].assert[0].value",
     ["needs a string value, not 3"]),
    ([{"name": "t", "assert": [{"type": "not-contains", "value": ""}]}], "text", "tests[0].assert[0].value",
     ["non-empty"]),
    ([{"name": "t", "assert": [{"type": "max-tokens", "value": 0}]}], "text", "tests[0].assert[0].value",
     ["integer >= 1"]),
    ([{"name": "t", "assert": [{"type": "max-tokens", "value": True}]}], "text", "tests[0].assert[0].value",
     ["integer >= 1"]),
    ([{"name": "t", "assert": [{"type": "error", "value": 5}]}], "text", "tests[0].assert[0].value",
     ["'error' takes a string"]),
    ([{"name": "t", "assert": [{"type": "error", "target": 0}]}], "chat", "tests[0].assert[0].target",
     ["no 'target'"]),
    ([{"name": "t", "assert": [{"type": "error"}, {"type": "contains", "value": "x"}]}], "text",
     "tests[0].assert[1]", ["cannot check the output too"]),
    ([{"name": "t", "assert": [{"type": "snapshot", "value": "x"}]}], "text", "tests[0].assert[0].value",
     ["takes no value"]),
    ([{"name": "t", "assert": [{"type": "snapshot"}, {"type": "snapshot", "target": 0}]}], "chat",
     "tests[0].assert[1]", ["at most one 'snapshot'"]),
    ({"name": "t"}, "text", "tests", ["must be a list"]),
    (["t"], "text", "tests[0]", ["must be an object"]),
])
def test_parse_errors_name_the_path(tests, kind, path, words):
    error = parse_error(tests, kind)
    assert error.path == path
    assert str(error) == f"{path}: {error.message}"
    for word in words:
        assert word in error.message, (word, error.message)


def test_parse_refuses_an_unknown_kind():
    with pytest.raises(ValueError, match="kind"):
        tc.parse_test_cases([], kind="image")


# --- JUnit XML -----------------------------------------------------------------------------------------


def test_junit_xml_counts_tests_and_failures():
    greeting = run(GREETING, [
        {"name": "ok", "variables": {"user": "Ann", "count": 1}, "assert": [{"type": "contains", "value": "Ann"}]},
        {"name": "two bad", "variables": {"user": "Ann", "count": 1},
         "assert": [{"type": "contains", "value": "Bob"}, {"type": "starts-with", "value": "Bye", "name": "bye"}]},
        {"name": "render fails", "variables": {}},
    ])
    chat = run(CHAT, [{"name": "chat ok", "variables": CHAT_VARS}], "chat")
    text = junit.junit_xml({"support.greeting": greeting, "support.chat": chat})
    assert text == junit.junit_xml({"support.chat": chat, "support.greeting": greeting})  # deterministic
    root = ET.fromstring(text)
    assert root.tag == "testsuites" and root.get("tests") == "4" and root.get("failures") == "2"
    suites = {suite.get("name"): suite for suite in root.findall("testsuite")}
    assert list(suites) == ["support.chat", "support.greeting"]
    assert suites["support.chat"].get("tests") == "1" and suites["support.chat"].get("failures") == "0"
    suite = suites["support.greeting"]
    assert suite.get("tests") == "3" and suite.get("failures") == "2"
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert list(cases) == ["ok", "two bad", "render fails"]
    assert cases["ok"].find("failure") is None
    failure = cases["two bad"].find("failure")
    assert "contains: expected the output to contain 'Bob'" in failure.get("message")
    assert "'bye' (starts-with): expected the output to start with 'Bye'" in failure.get("message")
    assert len(failure.text.splitlines()) == 2
    assert "the render failed" in cases["render fails"].find("failure").get("message")


def test_junit_xml_survives_control_characters():
    prompt = tpl.PreparedPrompt("{{ text }}")
    results = run(prompt, [{"name": "t\x01", "variables": {"text": "a\x00b"},
                            "assert": [{"type": "equals", "value": "ab"}]}])
    root = ET.fromstring(junit.junit_xml({"p": results}))
    assert root.find("testsuite/testcase").get("name") == "t\\x01"


# --- property -------------------------------------------------------------------------------------------

_LITERAL = st.text(alphabet=st.characters(blacklist_characters="{}%"), max_size=40)


@given(prefix=_LITERAL, value=st.text(max_size=40), suffix=_LITERAL, data=st.data())
def test_contains_passes_for_any_substring_of_the_output(prefix, value, suffix, data):
    prompt = tpl.PreparedPrompt(prefix + "{{ value }}" + suffix)
    output = prompt.render({"value": value})
    start = data.draw(st.integers(0, len(output)))
    end = data.draw(st.integers(start, len(output)))
    result = one(prompt, {"type": "contains", "value": output[start:end]}, {"value": value})
    assert result.passed, result.message


def test_a_long_equals_failure_shows_the_text_around_the_first_difference():
    prompt = tpl.PreparedPrompt("{{ text }}")
    text = "abc " * 100
    changed = text[:200] + "X" + text[201:]
    message = one(prompt, {"type": "equals", "value": changed}, {"text": text}).message
    assert "first difference at character 200" in message
    assert "Xbc" in message and len(message) < 500
