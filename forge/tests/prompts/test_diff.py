"""Tests for anvil_forge.prompts.diff (pure Python: no Django, no database)."""

from __future__ import annotations

import copy
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anvil_forge.prompts.diff import diff_snapshots, side_by_side


def param(name, type_="string", description="", required=True, default=None):
    return {"name": name, "type": type_, "description": description, "required": required, "default": default}


def prompt(template="Hello {{ name }}", *, name="Greeting", description="", parameters=None, metadata=None):
    return {
        "name": name,
        "description": description,
        "template": template,
        "parameters": [param("name")] if parameters is None else parameters,
        "metadata": {} if metadata is None else metadata,
    }


def snapshot(prompts=None, *, name="Emails", description="Email prompts", metadata=None):
    return {
        "name": name,
        "description": description,
        "metadata": {"model": "gpt-4o"} if metadata is None else metadata,
        "prompts": {} if prompts is None else prompts,
    }


NO_MAPPING_CHANGE = {"added": {}, "removed": {}, "changed": {}}
# the set-level keys added with chat prompts, model configuration and dependencies, when none of them changed
UNCHANGED_SET = {"changed_fields": {}, "config": NO_MAPPING_CHANGE, "dependencies": NO_MAPPING_CHANGE,
                 "locks": NO_MAPPING_CHANGE}

BASE = snapshot({
    "welcome": prompt("Hello {{ name }}\nWelcome to {{ product }}.\nBye"),
    "reminder": prompt("Don't forget {{ thing }}.", name="Reminder",
                       parameters=[param("thing")]),
    "legacy": prompt("Old text", name="Legacy", parameters=[]),
})


# ---------------------------------------------------------------- whole snapshots


def test_identical_snapshots_have_no_changes() -> None:
    result = diff_snapshots(BASE, copy.deepcopy(BASE))
    assert result == {
        "set": UNCHANGED_SET,
        "prompts": {"added": [], "removed": [], "unchanged": ["legacy", "reminder", "welcome"], "changed": []},
        "summary": {"added": 0, "removed": 0, "changed": 0, "unchanged": 3},
    }


def test_empty_snapshots() -> None:
    assert diff_snapshots({}, {}) == {
        "set": UNCHANGED_SET,
        "prompts": {"added": [], "removed": [], "unchanged": [], "changed": []},
        "summary": {"added": 0, "removed": 0, "changed": 0, "unchanged": 0},
    }


def test_added_removed_changed_prompts() -> None:
    new = copy.deepcopy(BASE)
    del new["prompts"]["legacy"]
    new["prompts"]["apology"] = prompt("Sorry!", name="Apology", parameters=[])
    new["prompts"]["zebra"] = prompt("Z", name="Zebra", parameters=[])
    new["prompts"]["reminder"]["template"] = "Do not forget {{ thing }}."

    result = diff_snapshots(BASE, new)
    prompts = result["prompts"]
    assert prompts["added"] == ["apology", "zebra"]
    assert prompts["removed"] == ["legacy"]
    assert prompts["unchanged"] == ["welcome"]
    assert [c["slug"] for c in prompts["changed"]] == ["reminder"]
    assert result["summary"] == {"added": 2, "removed": 1, "changed": 1, "unchanged": 1}
    assert result["set"] == UNCHANGED_SET


def test_result_is_json_serialisable_and_deterministic() -> None:
    new = copy.deepcopy(BASE)
    new["metadata"] = {"model": "gpt-4.1", "temperature": 0.2}
    new["prompts"]["welcome"]["template"] = "Hi {{ name }}\nWelcome to {{ product }}!\nBye"
    new["prompts"]["welcome"]["parameters"].append(param("product"))
    a = diff_snapshots(BASE, new)
    # same content, prompts and keys inserted in another order
    shuffled_old = {k: BASE[k] for k in reversed(list(BASE))}
    shuffled_old["prompts"] = {k: BASE["prompts"][k] for k in reversed(list(BASE["prompts"]))}
    b = diff_snapshots(shuffled_old, new)
    assert json.dumps(a, sort_keys=False) == json.dumps(b, sort_keys=False)
    assert json.loads(json.dumps(a)) == a


def test_inputs_are_not_modified_or_aliased() -> None:
    old, new = copy.deepcopy(BASE), copy.deepcopy(BASE)
    new["metadata"] = {"model": "other"}
    new["prompts"]["welcome"]["parameters"].append(param("extra"))
    before_old, before_new = copy.deepcopy(old), copy.deepcopy(new)
    result = diff_snapshots(old, new)
    result["set"]["changed_fields"]["metadata"]["to"]["model"] = "mutated"
    result["prompts"]["changed"][0]["parameters"]["added"][0]["name"] = "mutated"
    assert old == before_old and new == before_new


# ---------------------------------------------------------------- set fields


def test_set_field_changes() -> None:
    new = snapshot(BASE["prompts"], name="Mail", description="Email prompts",
                   metadata={"model": "gpt-4o", "temperature": 0.2})
    result = diff_snapshots(BASE, new)
    assert result["set"]["changed_fields"] == {
        "metadata": {"from": {"model": "gpt-4o"}, "to": {"model": "gpt-4o", "temperature": 0.2}},
        "name": {"from": "Emails", "to": "Mail"},
    }
    assert list(result["set"]["changed_fields"]) == ["metadata", "name"]
    assert result["summary"]["changed"] == 0


def test_metadata_compared_as_json() -> None:
    old = snapshot(metadata={"stream": 1, "n": 1, "nested": {"a": [1, 2], "b": None}})
    same = snapshot(metadata={"nested": {"b": None, "a": [1.0, 2]}, "n": 1.0, "stream": 1})
    assert diff_snapshots(old, same)["set"]["changed_fields"] == {}
    # True is not 1 in JSON
    changed = snapshot(metadata={"stream": True, "n": 1, "nested": {"a": [1, 2], "b": None}})
    assert diff_snapshots(old, changed)["set"]["changed_fields"]["metadata"]["to"]["stream"] is True


def test_missing_fields_count_as_empty() -> None:
    sparse = {"prompts": {"p": {"template": "x"}}}
    full = {"name": "", "description": "", "metadata": {},
            "prompts": {"p": {"name": "", "description": "", "template": "x", "parameters": [], "metadata": {}}}}
    assert diff_snapshots(sparse, full)["summary"] == {"added": 0, "removed": 0, "changed": 0, "unchanged": 1}
    assert diff_snapshots(full, sparse)["set"]["changed_fields"] == {}


# ---------------------------------------------------------------- prompt fields


def test_prompt_field_changes() -> None:
    new = copy.deepcopy(BASE)
    new["prompts"]["welcome"]["name"] = "Welcome"
    new["prompts"]["welcome"]["metadata"] = {"temperature": 0.7}
    (change,) = diff_snapshots(BASE, new)["prompts"]["changed"]
    assert change == {
        "slug": "welcome",
        "fields": {
            "metadata": {"from": {}, "to": {"temperature": 0.7}},
            "name": {"from": "Greeting", "to": "Welcome"},
        },
        "template": None,
        "parameters": {"added": [], "removed": [], "changed": []},
        "kind": None,
        "config": NO_MAPPING_CHANGE,
        "messages": None,
        "tests": None,
    }


# ---------------------------------------------------------------- templates


def _change(old_template: str, new_template: str, **kw) -> dict:
    old = snapshot({"p": prompt(old_template)})
    new = snapshot({"p": prompt(new_template)})
    (change,) = diff_snapshots(old, new, **kw)["prompts"]["changed"]
    return change


def test_template_line_diff() -> None:
    change = _change("Hello {{ name }}\nWelcome to {{ product }}.\nBye",
                     "Hello {{ name }}\nWelcome to {{ product }}, {{ name }}!\nSee you\nBye")
    assert change["fields"] == {}
    assert change["template"]["lines"] == [
        {"op": "equal", "old_no": 1, "new_no": 1, "text": "Hello {{ name }}"},
        {"op": "remove", "old_no": 2, "new_no": None, "text": "Welcome to {{ product }}."},
        {"op": "add", "old_no": None, "new_no": 2, "text": "Welcome to {{ product }}, {{ name }}!"},
        {"op": "add", "old_no": None, "new_no": 3, "text": "See you"},
        {"op": "equal", "old_no": 3, "new_no": 4, "text": "Bye"},
    ]
    assert change["template"]["unified"] == (
        "--- old/p\n"
        "+++ new/p\n"
        "@@ -1,3 +1,4 @@\n"
        " Hello {{ name }}\n"
        "-Welcome to {{ product }}.\n"
        "+Welcome to {{ product }}, {{ name }}!\n"
        "+See you\n"
        " Bye\n"
        "\\ No newline at end of file\n"
    )


def test_template_context_controls_unified_hunks() -> None:
    old = "\n".join(f"line {i}" for i in range(1, 21)) + "\n"
    new = old.replace("line 3\n", "line three\n").replace("line 18\n", "line eighteen\n")
    lines = [f"line {i}" for i in range(1, 21)]

    three = _change(old, new)["template"]
    assert three["unified"].count("@@ -") == 2
    assert "@@ -1,6 +1,6 @@\n" in three["unified"]
    assert "@@ -15,6 +15,6 @@\n" in three["unified"]

    zero = _change(old, new, context=0)["template"]
    assert zero["unified"] == (
        "--- old/p\n+++ new/p\n"
        "@@ -3 +3 @@\n-line 3\n+line three\n"
        "@@ -18 +18 @@\n-line 18\n+line eighteen\n"
    )
    wide = _change(old, new, context=20)["template"]
    assert wide["unified"].count("@@ -") == 1
    # lines is the full alignment whatever the context
    assert zero["lines"] == three["lines"] == wide["lines"]
    assert len(three["lines"]) == 22
    assert [ln["text"] for ln in three["lines"] if ln["op"] != "add"] == lines
    new_lines = [ln["text"] for ln in three["lines"] if ln["op"] != "remove"]
    assert new_lines == new.splitlines()


def test_template_whole_rewrite_and_empty_sides() -> None:
    grown = _change("", "a\nb\n")["template"]
    assert grown["lines"] == [
        {"op": "add", "old_no": None, "new_no": 1, "text": "a"},
        {"op": "add", "old_no": None, "new_no": 2, "text": "b"},
    ]
    assert grown["unified"] == "--- old/p\n+++ new/p\n@@ -0,0 +1,2 @@\n+a\n+b\n"
    emptied = _change("a\n", "")["template"]
    assert emptied["lines"] == [{"op": "remove", "old_no": 1, "new_no": None, "text": "a"}]
    assert emptied["unified"] == "--- old/p\n+++ new/p\n@@ -1 +0,0 @@\n-a\n"


def test_trailing_newline_change_is_shown() -> None:
    template = _change("a\nb", "a\nb\n")["template"]
    assert template["lines"] == [
        {"op": "equal", "old_no": 1, "new_no": 1, "text": "a"},
        {"op": "remove", "old_no": 2, "new_no": None, "text": "b"},
        {"op": "add", "old_no": None, "new_no": 2, "text": "b"},
    ]
    assert template["unified"].endswith("-b\n\\ No newline at end of file\n+b\n")


def test_lines_split_on_newline_only() -> None:
    template = _change("a\rb\u2028c\nd", "a\rb\u2028c\ne")["template"]
    assert [ln["text"] for ln in template["lines"]] == ["a\rb\u2028c", "d", "e"]
    assert [ln["op"] for ln in template["lines"]] == ["equal", "remove", "add"]


def test_unchanged_template_is_none() -> None:
    old = snapshot({"p": prompt("same", parameters=[param("a")])})
    new = snapshot({"p": prompt("same", parameters=[param("a", "number")])})
    (change,) = diff_snapshots(old, new)["prompts"]["changed"]
    assert change["template"] is None


def test_invalid_context() -> None:
    with pytest.raises(ValueError):
        diff_snapshots(BASE, BASE, context=-1)
    with pytest.raises(TypeError):
        diff_snapshots(BASE, None)  # type: ignore[arg-type]


# ---------------------------------------------------------------- parameters


def test_parameter_changes() -> None:
    old = snapshot({"p": prompt(parameters=[
        param("name"), param("tone", description="How to sound", default="friendly", required=False),
        param("limit", "number", default=3, required=False), param("gone"),
    ])})
    new = snapshot({"p": prompt(parameters=[
        param("limit", "number", default=5, required=False),  # reordered, default changed
        param("name"),  # unchanged
        param("tone", "string", description="Voice", default="friendly", required=True),
        param("added_b", "boolean", default=False, required=False),
        param("added_a"),
    ])})
    (change,) = diff_snapshots(old, new)["prompts"]["changed"]
    assert change["fields"] == {}
    assert change["template"] is None
    assert change["parameters"] == {
        "added": [param("added_a"), param("added_b", "boolean", default=False, required=False)],
        "removed": [param("gone")],
        "changed": [
            {"name": "limit", "changes": {"default": {"from": 3, "to": 5}}},
            {"name": "tone", "changes": {
                "description": {"from": "How to sound", "to": "Voice"},
                "required": {"from": False, "to": True},
            }},
        ],
    }


def test_parameter_order_alone_is_not_a_change() -> None:
    old = snapshot({"p": prompt(parameters=[param("a"), param("b")])})
    new = snapshot({"p": prompt(parameters=[param("b"), param("a")])})
    assert diff_snapshots(old, new)["prompts"]["unchanged"] == ["p"]


def test_parameter_type_values_compared_as_json() -> None:
    old = snapshot({"p": prompt(parameters=[param("n", "number", default=1, required=False)])})
    same = snapshot({"p": prompt(parameters=[param("n", "number", default=1.0, required=False)])})
    assert diff_snapshots(old, same)["summary"]["changed"] == 0
    other = snapshot({"p": prompt(parameters=[param("n", "number", default=True, required=False)])})
    (change,) = diff_snapshots(old, other)["prompts"]["changed"]
    assert change["parameters"]["changed"] == [{"name": "n", "changes": {"default": {"from": 1, "to": True}}}]


def test_parameter_missing_field_counts_as_none() -> None:
    old = snapshot({"p": prompt(parameters=[{"name": "a", "type": "string", "default": None}])})
    new = snapshot({"p": prompt(parameters=[{"name": "a", "type": "string"}])})
    assert diff_snapshots(old, new)["summary"]["changed"] == 0
    newer = snapshot({"p": prompt(parameters=[{"name": "a", "type": "string", "description": "x"}])})
    (change,) = diff_snapshots(old, newer)["prompts"]["changed"]
    assert change["parameters"]["changed"] == [{"name": "a", "changes": {"description": {"from": None, "to": "x"}}}]


# ---------------------------------------------------------------- side by side


def test_side_by_side_pairs_removes_with_adds() -> None:
    lines = _change("keep\nold 1\nold 2\nold 3\nend\n", "keep\nnew 1\nend\nextra\n")["template"]["lines"]
    rows = side_by_side(lines)
    assert rows == [
        ({"no": 1, "text": "keep", "op": "equal"}, {"no": 1, "text": "keep", "op": "equal"}),
        ({"no": 2, "text": "old 1", "op": "remove"}, {"no": 2, "text": "new 1", "op": "add"}),
        ({"no": 3, "text": "old 2", "op": "remove"}, None),
        ({"no": 4, "text": "old 3", "op": "remove"}, None),
        ({"no": 5, "text": "end", "op": "equal"}, {"no": 3, "text": "end", "op": "equal"}),
        (None, {"no": 4, "text": "extra", "op": "add"}),
    ]


def test_side_by_side_edge_cases() -> None:
    assert side_by_side(None) == []
    assert side_by_side([]) == []
    only_adds = [{"op": "add", "old_no": None, "new_no": 1, "text": "a"}]
    assert side_by_side(only_adds) == [(None, {"no": 1, "text": "a", "op": "add"})]
    with pytest.raises(ValueError):
        side_by_side([{"op": "replace", "old_no": 1, "new_no": 1, "text": "?"}])


# ---------------------------------------------------------------- chat messages


def system(content):
    return {"role": "system", "content": content}


def user(content):
    return {"role": "user", "content": content}


def chat(messages, **kw):
    p = prompt("", parameters=[], **kw)
    p["kind"] = "chat"
    p["messages"] = messages
    return p


def _chat_change(old_messages, new_messages, **kw) -> dict:
    old = snapshot({"c": chat(old_messages)})
    new = snapshot({"c": chat(new_messages)})
    (change,) = diff_snapshots(old, new, **kw)["prompts"]["changed"]
    return change


def test_message_added_in_the_middle_is_one_add() -> None:
    sys_msg, history, question = system("Be brief."), {"placeholder": "history"}, user("{{ question }}")
    example = user("Example: 2+2?")
    change = _chat_change([sys_msg, history, question], [sys_msg, example, history, question])
    assert change["kind"] is None
    assert change["template"] is None
    assert change["messages"] == {"ops": [
        {"op": "equal", "old_index": 0, "new_index": 0, "message": sys_msg},
        {"op": "add", "new_index": 1, "message": example},
        {"op": "equal", "old_index": 1, "new_index": 2, "message": history},
        {"op": "equal", "old_index": 2, "new_index": 3, "message": question},
    ]}


def test_message_removed() -> None:
    change = _chat_change([system("S"), user("a"), user("b")], [system("S"), user("b")])
    assert [(op["op"], op.get("old_index"), op.get("new_index")) for op in change["messages"]["ops"]] == [
        ("equal", 0, 0), ("remove", 1, None), ("equal", 2, 1),
    ]
    assert change["messages"]["ops"][1]["message"] == user("a")


def test_changed_system_message_shows_a_line_diff() -> None:
    old = [system("You are helpful.\nAnswer in English.\nBe brief."), user("{{ q }}")]
    new = [system("You are helpful.\nAnswer in {{ language }}.\nBe brief."), user("{{ q }}")]
    change = _chat_change(old, new)
    first, second = change["messages"]["ops"]
    assert second == {"op": "equal", "old_index": 1, "new_index": 1, "message": user("{{ q }}")}
    assert first["op"] == "change"
    assert (first["old_index"], first["new_index"]) == (0, 0)
    assert first["from"] == old[0] and first["to"] == new[0]
    assert first["content"]["lines"] == [
        {"op": "equal", "old_no": 1, "new_no": 1, "text": "You are helpful."},
        {"op": "remove", "old_no": 2, "new_no": None, "text": "Answer in English."},
        {"op": "add", "old_no": None, "new_no": 2, "text": "Answer in {{ language }}."},
        {"op": "equal", "old_no": 3, "new_no": 3, "text": "Be brief."},
    ]
    assert first["content"]["unified"] == (
        "--- old/c/messages/0\n"
        "+++ new/c/messages/0\n"
        "@@ -1,3 +1,3 @@\n"
        " You are helpful.\n"
        "-Answer in English.\n"
        "+Answer in {{ language }}.\n"
        " Be brief.\n"
        "\\ No newline at end of file\n"
    )
    # the web view's two-column rows work on message contents as on templates
    assert side_by_side(first["content"]["lines"])[1] == (
        {"no": 2, "text": "Answer in English.", "op": "remove"},
        {"no": 2, "text": "Answer in {{ language }}.", "op": "add"},
    )


def test_moved_message_content_diff_names_both_indices() -> None:
    change = _chat_change([user("Q"), system("Be brief.")], [user("Hi"), user("Q"), system("Be very brief.")])
    ops = change["messages"]["ops"]
    assert [(op["op"], op.get("old_index"), op.get("new_index")) for op in ops] == [
        ("add", None, 0), ("equal", 0, 1), ("change", 1, 2),
    ]
    assert ops[2]["content"]["unified"].startswith("--- old/c/messages/1\n+++ new/c/messages/2\n@@ -1 +1 @@\n")


def test_message_content_diff_follows_context() -> None:
    body = "\n".join(f"rule {i}" for i in range(1, 11))
    change = _chat_change([system(body)], [system(body.replace("rule 5", "rule five"))], context=0)
    (op,) = change["messages"]["ops"]
    assert op["content"]["unified"] == "--- old/c/messages/0\n+++ new/c/messages/0\n@@ -5 +5 @@\n-rule 5\n+rule five\n"
    assert len(op["content"]["lines"]) == 11


def test_placeholder_renamed() -> None:
    change = _chat_change([system("S"), {"placeholder": "history"}, user("Q")],
                          [system("S"), {"placeholder": "conversation"}, user("Q")])
    assert change["messages"]["ops"][1] == {
        "op": "change", "old_index": 1, "new_index": 1,
        "from": {"placeholder": "history"}, "to": {"placeholder": "conversation"}, "content": None,
    }
    assert [op["op"] for op in change["messages"]["ops"]] == ["equal", "change", "equal"]


def test_placeholder_replaced_by_role_message_has_no_content_diff() -> None:
    change = _chat_change([{"placeholder": "history"}], [user("history")])
    (op,) = change["messages"]["ops"]
    assert op["op"] == "change" and op["content"] is None


def test_role_changed() -> None:
    change = _chat_change([user("Summarise {{ text }}")], [system("Summarise {{ text }}")])
    (op,) = change["messages"]["ops"]
    assert op == {"op": "change", "old_index": 0, "new_index": 0,
                  "from": user("Summarise {{ text }}"), "to": system("Summarise {{ text }}"), "content": None}


def test_replaced_block_pairs_by_position_and_extra_ones_are_add_or_remove() -> None:
    change = _chat_change([system("S"), user("a"), user("b"), user("end")],
                          [system("S"), user("A"), user("end")])
    ops = change["messages"]["ops"]
    assert [(op["op"], op.get("old_index"), op.get("new_index")) for op in ops] == [
        ("equal", 0, 0), ("change", 1, 1), ("remove", 2, None), ("equal", 3, 2),
    ]
    assert ops[1]["content"]["lines"] == [
        {"op": "remove", "old_no": 1, "new_no": None, "text": "a"},
        {"op": "add", "old_no": None, "new_no": 1, "text": "A"},
    ]
    grown = _chat_change([user("x")], [user("y"), user("z")])["messages"]["ops"]
    assert [(op["op"], op.get("old_index"), op.get("new_index")) for op in grown] == [
        ("change", 0, 0), ("add", None, 1),
    ]


def test_messages_compared_as_json() -> None:
    old = snapshot({"c": chat([{"role": "user", "content": "hi"}])})
    same = snapshot({"c": chat([{"content": "hi", "role": "user"}])})
    assert diff_snapshots(old, same)["prompts"]["unchanged"] == ["c"]
    # extra keys too: 1 equals 1.0, True is not 1
    weighted = snapshot({"c": chat([{"role": "user", "content": "hi", "weight": 1}])})
    assert diff_snapshots(weighted, snapshot({"c": chat([{"role": "user", "content": "hi", "weight": 1.0}])})
                          )["prompts"]["unchanged"] == ["c"]
    (change,) = diff_snapshots(weighted, snapshot({"c": chat([{"role": "user", "content": "hi", "weight": True}])})
                               )["prompts"]["changed"]
    assert [op["op"] for op in change["messages"]["ops"]] == ["change"]


def test_kind_text_to_chat() -> None:
    old = snapshot({"p": prompt("Hello {{ name }}")})
    new = snapshot({"p": chat([system("Greet people."), user("Hello {{ name }}")])})
    (change,) = diff_snapshots(old, new)["prompts"]["changed"]
    assert change["kind"] == {"from": "text", "to": "chat"}
    assert change["messages"] == {"ops": [
        {"op": "add", "new_index": 0, "message": system("Greet people.")},
        {"op": "add", "new_index": 1, "message": user("Hello {{ name }}")},
    ]}
    assert change["template"]["lines"] == [{"op": "remove", "old_no": 1, "new_no": None, "text": "Hello {{ name }}"}]
    (back,) = diff_snapshots(new, old)["prompts"]["changed"]
    assert back["kind"] == {"from": "chat", "to": "text"}
    assert [op["op"] for op in back["messages"]["ops"]] == ["remove", "remove"]


def test_kind_alone_is_a_change() -> None:
    old = snapshot({"p": prompt("", parameters=[])})
    new = snapshot({"p": chat([])})
    (change,) = diff_snapshots(old, new)["prompts"]["changed"]
    assert change["kind"] == {"from": "text", "to": "chat"}
    assert change["messages"] is None  # no messages on either side


def test_text_prompt_messages_are_none_and_stale_messages_ignored() -> None:
    old = snapshot({"p": prompt("Hi")})
    new = snapshot({"p": {**prompt("Hi there"), "messages": [user("left over")]}})
    (change,) = diff_snapshots(old, new)["prompts"]["changed"]
    assert change["messages"] is None
    assert change["kind"] is None


# ---------------------------------------------------------------- model configuration


def test_prompt_config_changes() -> None:
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    old = snapshot({"p": {**prompt(), "config": {"model": "gpt-4o", "temperature": 0.2, "max_tokens": 256}}})
    new = snapshot({"p": {**prompt(), "config": {"model": "gpt-4o", "temperature": 0.7, "tools": [tool]}}})
    (change,) = diff_snapshots(old, new)["prompts"]["changed"]
    assert change["config"] == {
        "added": {"tools": [tool]},
        "removed": {"max_tokens": 256},
        "changed": {"temperature": {"from": 0.2, "to": 0.7}},
    }
    # nothing else changed: the config alone makes the prompt changed
    assert change["fields"] == {} and change["template"] is None and change["kind"] is None
    assert change["messages"] is None


def test_config_keys_are_sorted() -> None:
    keys = ["top_p", "model", "seed", "temperature", "max_tokens", "frequency_penalty"]
    old = snapshot({"p": {**prompt(), "config": {k: 1 for k in keys}}})
    new = snapshot({"p": {**prompt(), "config": {k: 2 for k in reversed(keys)}}})
    (change,) = diff_snapshots(old, new)["prompts"]["changed"]
    assert list(change["config"]["changed"]) == sorted(keys)
    result = diff_snapshots({"config": {k: 1 for k in keys}}, {"config": {}})
    assert list(result["set"]["config"]["removed"]) == sorted(keys)


def test_config_compared_as_json() -> None:
    old = snapshot({"p": {**prompt(), "config": {"max_tokens": 256, "response_format": {"type": "json", "strict": True}}}})
    same = snapshot({"p": {**prompt(), "config": {"response_format": {"strict": True, "type": "json"}, "max_tokens": 256.0}}})
    assert diff_snapshots(old, same)["prompts"]["unchanged"] == ["p"]
    other = snapshot({"p": {**prompt(), "config": {"max_tokens": 256, "response_format": {"type": "json", "strict": 1}}}})
    (change,) = diff_snapshots(old, other)["prompts"]["changed"]
    assert list(change["config"]["changed"]) == ["response_format"]


def test_set_config_changes() -> None:
    old = {**BASE, "config": {"model": "gpt-4o", "temperature": 0.2}}
    new = {**BASE, "config": {"model": "gpt-4.1", "temperature": 0.2, "seed": 7}}
    result = diff_snapshots(old, new)
    assert result["set"]["config"] == {
        "added": {"seed": 7}, "removed": {}, "changed": {"model": {"from": "gpt-4o", "to": "gpt-4.1"}},
    }
    assert result["set"]["changed_fields"] == {}
    assert result["summary"] == {"added": 0, "removed": 0, "changed": 0, "unchanged": 3}
    assert diff_snapshots(new, BASE)["set"]["config"]["removed"] == {"model": "gpt-4.1", "seed": 7, "temperature": 0.2}


def test_dependency_changes() -> None:
    old = {**BASE, "dependencies": {"common": "^1.2", "legal": "~2.0"}}
    new = {**BASE, "dependencies": {"common": "^1.3", "tone": ">=0.1"}}
    assert diff_snapshots(old, new)["set"]["dependencies"] == {
        "added": {"tone": ">=0.1"},
        "removed": {"legal": "~2.0"},
        "changed": {"common": {"from": "^1.2", "to": "^1.3"}},
    }


def test_lock_changed() -> None:
    deps = {"common": "^1.2"}
    old = {**BASE, "dependencies": deps, "locks": {"common": "1.2.0"}}
    new = {**BASE, "dependencies": deps, "locks": {"common": "1.3.0"}}
    result = diff_snapshots(old, new)
    assert result["set"]["locks"] == {"added": {}, "removed": {}, "changed": {"common": {"from": "1.2.0", "to": "1.3.0"}}}
    assert result["set"]["dependencies"] == NO_MAPPING_CHANGE


# ---------------------------------------------------------------- old snapshots, stability


def test_old_snapshots_diff_as_before() -> None:
    new = copy.deepcopy(BASE)
    new["metadata"] = {"model": "gpt-4.1"}
    new["prompts"]["welcome"]["template"] = "Hi {{ name }}\nWelcome to {{ product }}.\nBye"
    new["prompts"]["reminder"]["parameters"].append(param("when"))
    result = diff_snapshots(BASE, new)
    assert result["set"] == {**UNCHANGED_SET, "changed_fields": {"metadata": {"from": {"model": "gpt-4o"},
                                                                             "to": {"model": "gpt-4.1"}}}}
    assert [c["slug"] for c in result["prompts"]["changed"]] == ["reminder", "welcome"]
    for change in result["prompts"]["changed"]:
        assert (change["kind"], change["config"], change["messages"]) == (None, NO_MAPPING_CHANGE, None)
    assert result["prompts"]["unchanged"] == ["legacy"]


def test_explicit_defaults_equal_missing_keys() -> None:
    explicit = copy.deepcopy(BASE)
    explicit.update({"config": {}, "dependencies": {}, "locks": {}})
    for p in explicit["prompts"].values():
        p.update({"kind": "text", "config": {}})
    explicit["prompts"]["legacy"]["messages"] = []
    explicit["prompts"]["reminder"]["config"] = None
    for a, b in ((BASE, explicit), (explicit, BASE)):
        result = diff_snapshots(a, b)
        assert result["set"] == UNCHANGED_SET
        assert result["prompts"]["changed"] == []
        assert result["summary"] == {"added": 0, "removed": 0, "changed": 0, "unchanged": 3}


def test_new_keys_are_json_serialisable_deterministic_and_not_aliased() -> None:
    def build(reverse: bool) -> tuple[dict, dict]:
        order = reversed if reverse else list
        old_config = {"model": "gpt-4o", "temperature": 0.2, "stop": ["\n\n"]}
        new_config = {"model": "gpt-4o", "temperature": 0.7, "stop": ["END"],
                      "tools": [{"type": "function", "name": "f"}]}
        old = {**BASE, "config": {k: old_config[k] for k in order(list(old_config))},
               "dependencies": {"b": "^1", "a": "^2"}, "locks": {"b": "1.0.0", "a": "2.0.0"}}
        new = {**BASE, "config": {k: new_config[k] for k in order(list(new_config))},
               "dependencies": {"a": "^3", "c": "*"}, "locks": {"a": "3.1.0", "c": "0.1.0"}}
        old["prompts"] = {**BASE["prompts"], "c": chat([system("A\nB"), {"placeholder": "h"}], metadata={})}
        new["prompts"] = {**BASE["prompts"], "c": chat([system("A\nC"), user("q"), {"placeholder": "h"}])}
        new["prompts"]["c"]["config"] = {k: new_config[k] for k in order(list(new_config))}
        return copy.deepcopy(old), copy.deepcopy(new)

    a_old, a_new = build(False)
    b_old, b_new = build(True)
    before = copy.deepcopy((a_old, a_new))
    a, b = diff_snapshots(a_old, a_new), diff_snapshots(b_old, b_new)
    assert json.dumps(a) == json.dumps(b)
    assert json.loads(json.dumps(a)) == a
    assert list(a["set"]["config"]["added"]) == ["tools"]
    assert list(a["set"]["locks"]["changed"]) == ["a"]
    # mutating the result leaves the inputs alone
    (change,) = a["prompts"]["changed"]
    change["messages"]["ops"][0]["to"]["content"] = "mutated"
    change["config"]["added"]["tools"][0]["name"] = "mutated"
    a["set"]["config"]["changed"]["temperature"]["to"] = "mutated"
    a["set"]["config"]["changed"]["stop"]["from"].append("mutated")
    a["set"]["config"]["changed"]["stop"]["to"].append("mutated")
    assert (a_old, a_new) == before


# ---------------------------------------------------------------- properties

_LINES = st.lists(st.sampled_from(["a", "b", "c", "{{ x }}", "", "  indented"]), max_size=12)
_TEXTS = st.builds(lambda lines, nl: "\n".join(lines) + ("\n" if nl and lines else ""), _LINES, st.booleans())


def _apply_unified(old: str, unified: str) -> str:
    """Apply our unified diff to *old* (a small, strict patch(1))."""
    out_lines = unified.splitlines(keepends=True)
    assert out_lines[:2] == ["--- old/p\n", "+++ new/p\n"]
    src = old.split("\n")
    src = [s + "\n" for s in src[:-1]] + ([src[-1]] if src[-1] else [])
    result: list[str] = []
    pos = 0
    i = 2
    while i < len(out_lines):
        m = re.fullmatch(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@\n", out_lines[i])
        assert m, out_lines[i]
        start = int(m.group(1)) - (0 if m.group(2) == "0" else 1)
        result.extend(src[pos:start])
        pos = start
        i += 1
        while i < len(out_lines) and not out_lines[i].startswith("@@"):
            tag, body = out_lines[i][0], out_lines[i][1:]
            if i + 1 < len(out_lines) and out_lines[i + 1] == "\\ No newline at end of file\n":
                body = body[:-1]
                i += 1
            if tag in " -":
                assert src[pos] == body
                pos += 1
            if tag in " +":
                result.append(body)
            i += 1
    result.extend(src[pos:])
    return "".join(result)


@settings(max_examples=150, deadline=None, database=None)
@given(_TEXTS, _TEXTS, st.integers(0, 4))
def test_template_diff_properties(old_t: str, new_t: str, context: int) -> None:
    old = snapshot({"p": prompt(old_t)})
    new = snapshot({"p": prompt(new_t)})
    result = diff_snapshots(old, new, context=context)
    if old_t == new_t:
        assert result["prompts"]["unchanged"] == ["p"]
        return
    (change,) = result["prompts"]["changed"]
    lines = change["template"]["lines"]
    # lines rebuild both sides, with consecutive 1-based numbers
    old_side = [ln for ln in lines if ln["op"] != "add"]
    new_side = [ln for ln in lines if ln["op"] != "remove"]
    assert [ln["text"] for ln in old_side] == old_t.split("\n")[: len(old_side)]
    assert [ln["old_no"] for ln in old_side] == list(range(1, len(old_side) + 1))
    assert [ln["new_no"] for ln in new_side] == list(range(1, len(new_side) + 1))
    assert "\n".join(ln["text"] for ln in new_side) + ("\n" if new_t.endswith("\n") else "") == new_t
    # the unified text is a correct patch
    assert _apply_unified(old_t, change["template"]["unified"]) == new_t
    # side by side keeps every line, in order, on its side
    rows = side_by_side(lines)
    assert [r[0]["no"] for r in rows if r[0]] == [ln["old_no"] for ln in old_side]
    assert [r[1]["no"] for r in rows if r[1]] == [ln["new_no"] for ln in new_side]


_MESSAGES = st.lists(st.sampled_from([
    {"role": "system", "content": "S"}, {"role": "user", "content": "a\nb"}, {"role": "user", "content": "a\nc"},
    {"role": "assistant", "content": "a\nb"}, {"placeholder": "history"}, {"placeholder": "notes"},
]), max_size=8)


@settings(max_examples=150, deadline=None, database=None)
@given(_MESSAGES, _MESSAGES)
def test_message_diff_properties(old_m: list, new_m: list) -> None:
    result = diff_snapshots(snapshot({"c": chat(old_m)}), snapshot({"c": chat(new_m)}))
    if old_m == new_m:
        assert result["prompts"]["unchanged"] == ["c"]
        return
    (change,) = result["prompts"]["changed"]
    ops = change["messages"]["ops"]
    # the ops rebuild both lists, in order, with consecutive 0-based indices
    old_side = [op for op in ops if op["op"] != "add"]
    new_side = [op for op in ops if op["op"] != "remove"]
    assert [op.get("from", op.get("message")) for op in old_side] == old_m
    assert [op.get("to", op.get("message")) for op in new_side] == new_m
    assert [op["old_index"] for op in old_side] == list(range(len(old_m)))
    assert [op["new_index"] for op in new_side] == list(range(len(new_m)))
    for op in ops:
        if op["op"] == "change":
            assert op["from"] != op["to"]
            both_roles = "role" in op["from"] and "role" in op["to"]
            same_content = op["from"].get("content") == op["to"].get("content")
            assert (op["content"] is None) == (not both_roles or same_content)
