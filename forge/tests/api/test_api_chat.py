"""Chat prompts, model configuration and dependencies between prompt sets over the API: creating and
editing them, the 422s naming the field, rendering (messages, merged config, partials from another set)
and what versions record (locks)."""

import pytest

from anvil_client import model_config
from anvil_client import templates as tpl
from anvil_forge.api import prompt_schemas

from ..api_support import as_role, assert_error, fresh_rate_limits  # noqa: F401

MESSAGES = [
    {"role": "system", "content": "You help {{ customer }}."},
    {"placeholder": "history"},
    {"role": "user", "content": "{{ question }}"},
]
PARAMETERS = [{"name": "customer"}, {"name": "question"}]
HISTORY = [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi! How can I help?"}]


def chat_body(**changes):
    return {"name": "Reply", "kind": "chat", "messages": MESSAGES, "parameters": PARAMETERS,
            "config": {"temperature": 0.7, "max_tokens": 300}, **changes}


@pytest.fixture
def chat(world, as_role):
    """A set with model configuration defaults and a chat prompt in it."""
    member = as_role("member")
    created = member.post(f"/projects/{world.project.pk}/prompt_sets",
                          {"name": "Support chat", "slug": "chat",
                           "config": {"model": "gpt-4o-mini", "temperature": 0.2, "seed": 7}})
    assert created.status_code == 201, created.json()
    prompt = member.post(f"/prompt_sets/{created.json()['id']}/prompts", chat_body())
    assert prompt.status_code == 201, prompt.json()
    return created.json(), prompt.json()


def test_a_chat_prompt_is_created_read_and_listed(world, as_role, chat):
    member = as_role("member")
    prompt_set, prompt = chat
    assert prompt_set["config"] == {"model": "gpt-4o-mini", "temperature": 0.2, "seed": 7}
    assert (prompt_set["dependencies"], prompt_set["dependency_status"]) == ({}, [])
    assert (prompt["kind"], prompt["template"], prompt["messages"]) == ("chat", "", MESSAGES)
    assert prompt["config"] == {"temperature": 0.7, "max_tokens": 300}
    assert prompt["analysis"] == {"valid": True, "error": None, "variables": ["customer", "question"],
                                  "missing": [], "unused": [], "matched": ["customer", "question"],
                                  "partials": [], "placeholders": ["history"], "problems": []}
    assert member.get(f"/prompts/{prompt['id']}").json() == prompt
    listed = member.get(f"/prompt_sets/{prompt_set['id']}/prompts").json()["data"]
    assert listed == [prompt]


@pytest.mark.parametrize("changes, field, says", [
    ({"messages": [{"role": "robot", "content": "Hi"}]}, "messages[0].role", "role 'robot' is not one of"),
    ({"messages": [{"role": "user", "content": 3}]}, "messages[0].content", "content must be text"),
    ({"messages": [{"role": "user", "content": "Hi", "tone": "warm"}]}, "messages[0].tone", "unknown field"),
    ({"messages": [{"role": "user", "content": "ok"}, {"placeholder": "1st"}]}, "messages[1].placeholder",
     "placeholder name '1st' is not allowed"),
    ({"messages": [{"placeholder": "customer"}]}, "messages[0].placeholder", "name of a declared parameter"),
    ({"messages": ["Hello"]}, "messages[0]", "must be an object"),
    ({"messages": {"role": "user"}}, "messages", "list"),
    ({"kind": "voice"}, "kind", "'text' or 'chat'"),
    ({"config": {"temperature": 3}}, "config.temperature", "temperature must be a number between 0 and 2"),
    ({"config": {"temperature": "warm"}}, "config.temperature", "temperature must be a number"),
    ({"config": {"max_tokens": 0}}, "config.max_tokens", "max_tokens must be a whole number"),
    ({"config": {"stop": []}}, "config.stop", "stop must be a string or a list"),
    ({"config": ["gpt-4o"]}, "config", "dictionary"),
])
def test_bad_chat_content_and_config_are_422_naming_the_field(world, as_role, changes, field, says):
    response = as_role("member").post(f"/prompt_sets/{world.pset.pk}/prompts", chat_body(**changes))
    error = assert_error(response, 422, "validation_error", field)
    assert says in next(d["message"] for d in error["details"] if d["field"] == field), error


def test_a_syntax_error_in_a_message_names_the_message_its_line_and_column(world, as_role):
    body = chat_body(messages=[{"role": "system", "content": "ok"}, {"role": "user", "content": "Hi\n{% if %}"}])
    error = assert_error(as_role("member").post(f"/prompt_sets/{world.pset.pk}/prompts", body), 422,
                         "validation_error", "messages[1].content")
    assert (error["details"][0]["line"], error["details"][0]["column"]) == (2, 4)


def test_bad_set_config_and_dependencies_are_422_naming_the_field(world, as_role):
    member = as_role("member")
    url = f"/projects/{world.project.pk}/prompt_sets"
    assert_error(member.post(url, {"name": "X", "config": {"temperature": 2.5}}), 422, "validation_error",
                 "config.temperature")
    assert_error(member.post(url, {"name": "X", "dependencies": {"nope": "^1"}}), 422, "validation_error",
                 "dependencies.nope")
    assert_error(member.post(url, {"name": "X", "dependencies": {"emails": "one"}}), 422, "validation_error",
                 "dependencies.emails")
    assert_error(member.post(url, {"name": "X", "dependencies": {"emails": 1}}), 422, "validation_error",
                 "dependencies.emails")
    assert_error(member.patch(f"/prompt_sets/{world.pset.pk}", {"config": {"top_p": 9}}), 422,
                 "validation_error", "config.top_p")
    assert_error(member.patch(f"/prompt_sets/{world.pset.pk}", {"dependencies": {"emails": "^1"}}), 422,
                 "validation_error", "dependencies.emails")  # itself
    assert_error(member.patch(f"/prompts/{world.prompt.pk}", {"config": {"temperature": -1}}), 422,
                 "validation_error", "config.temperature")


def test_render_a_chat_prompt_gives_its_messages_and_the_merged_config(world, as_role, chat):
    member = as_role("member")
    prompt_set, prompt = chat
    variables = {"customer": "Ann", "question": "Refund?", "history": HISTORY}
    rendered = member.post(f"/prompts/{prompt['id']}/render", {"variables": variables})
    assert rendered.status_code == 200, rendered.json()
    assert rendered.json() == {
        "kind": "chat", "rendered": None,
        "messages": [{"role": "system", "content": "You help Ann."}, *HISTORY,
                     {"role": "user", "content": "Refund?"}],
        # the set's defaults beneath the prompt's own: the prompt's temperature wins, the rest is the set's
        "config": {"model": "gpt-4o-mini", "temperature": 0.7, "seed": 7, "max_tokens": 300},
    }
    by_address = member.post("/render", {"address": "acme/support/chat/reply", "variables": variables}).json()
    assert (by_address["messages"], by_address["config"]) == (rendered.json()["messages"],
                                                               rendered.json()["config"])
    assert (by_address["kind"], by_address["rendered"], by_address["version"]) == ("chat", None, None)

    # A null in the prompt's configuration removes the set's default.
    assert member.patch(f"/prompts/{prompt['id']}", {"config": {"seed": None}}).json()["config"] == {"seed": None}
    again = member.post(f"/prompts/{prompt['id']}/render", {"variables": variables}).json()
    assert again["config"] == {"model": "gpt-4o-mini", "temperature": 0.2}

    assert_error(member.post(f"/prompts/{prompt['id']}/render",
                             {"variables": {"customer": "Ann", "question": "?"}}),
                 422, "validation_error", "variables.history")
    assert_error(member.post(f"/prompts/{prompt['id']}/render",
                             {"variables": {**variables, "history": [{"role": "tool", "content": "x"}]}}),
                 422, "validation_error", "variables.history")


def test_a_text_prompt_renders_with_the_sets_config(world, as_role):
    member = as_role("member")
    member.patch(f"/prompt_sets/{world.pset.pk}", {"config": {"model": "gpt-4o"}})
    rendered = member.post(f"/prompts/{world.prompt.pk}/render", {"variables": {"name": "Ada"}}).json()
    assert rendered == {"kind": "text", "rendered": "Hello Ada!", "messages": None, "config": {"model": "gpt-4o"}}
    # Version 1.0.0 was made before: it renders with the configuration it froze (none).
    old = member.post("/render", {"address": "acme/support/emails@1.0.0/welcome", "variables": {"name": "Ada"}})
    assert (old.json()["rendered"], old.json()["config"]) == ("Hello Ada!", {})


def test_changing_the_kind_and_patching_only_some_fields(world, as_role, chat):
    member = as_role("member")
    _, prompt = chat
    kept = member.patch(f"/prompts/{prompt['id']}", {"description": "d", "config": None, "messages": None}).json()
    assert (kept["messages"], kept["config"], kept["description"]) == (MESSAGES, prompt["config"], "d")
    as_text = member.patch(f"/prompts/{prompt['id']}", {"kind": "text", "template": "Hi {{ customer }}"}).json()
    assert (as_text["kind"], as_text["template"], as_text["messages"]) == ("text", "Hi {{ customer }}", [])
    as_chat = member.patch(f"/prompts/{prompt['id']}", {"kind": "chat", "messages": MESSAGES[:1]}).json()
    assert (as_chat["kind"], as_chat["template"], as_chat["messages"]) == ("chat", "", MESSAGES[:1])


def _common(member, world, template="Be brief{% if tier == 'pro' %}, and thorough{% endif %}.", label="1.0.0"):
    """A set `common` with a `tone` prompt, versioned as ``label``."""
    common = member.post(f"/projects/{world.project.pk}/prompt_sets", {"name": "Common"}).json()
    member.post(f"/prompt_sets/{common['id']}/prompts",
                {"name": "Tone", "template": template, "parameters": [{"name": "tier"}]})
    assert member.post(f"/prompt_sets/{common['id']}/versions", {"label": label}).status_code == 201
    return common


def test_a_set_with_a_dependency_renders_a_partial_of_the_other_set_and_versions_lock_it(world, as_role):
    member = as_role("member")
    common = _common(member, world)
    tone = member.get(f"/prompt_sets/{common['id']}/prompts").json()["data"][0]
    support = member.post(f"/projects/{world.project.pk}/prompt_sets",
                          {"name": "Support", "dependencies": {"common": "^1.0"}})
    assert support.status_code == 201, support.json()
    support = support.json()
    assert support["dependencies"] == {"common": "^1.0"}
    assert support["dependency_status"] == [{
        "slug": "common", "prompt_set_id": common["id"], "specifier": "^1.0", "resolved": "1.0.0",
        "matching": ["1.0.0"], "newest": "1.0.0", "outside": []}]

    system = "You help {{ customer }}. {% render 'common.tone', tier: tier %}"
    created = member.post(f"/prompt_sets/{support['id']}/prompts", {
        "name": "Reply", "kind": "chat", "messages": [{"role": "system", "content": system}],
        "parameters": [{"name": "customer"}, {"name": "tier"}]})
    assert created.status_code == 201, created.json()
    reply = created.json()
    assert reply["analysis"]["partials"] == [{"name": "common.tone", "arguments": ["tier"], "line": 1,
                                              "column": system.index("{%") + 1, "message_index": 0}]
    assert reply["analysis"]["problems"] == []
    variables = {"customer": "Ann", "tier": "pro"}
    rendered = member.post(f"/prompts/{reply['id']}/render", {"variables": variables}).json()
    assert rendered["messages"] == [{"role": "system", "content": "You help Ann. Be brief, and thorough."}]

    version = member.post(f"/prompt_sets/{support['id']}/versions", {"label": "1.0.0"})
    assert version.status_code == 201, version.json()
    version = version.json()
    assert version["locks"] == {"common": "1.0.0"}
    assert (version["snapshot"]["dependencies"], version["snapshot"]["locks"]) == ({"common": "^1.0"},
                                                                                   {"common": "1.0.0"})
    assert version["snapshot"]["prompts"]["reply"]["kind"] == "chat"
    assert member.get(f"/versions/{version['id']}").json()["locks"] == {"common": "1.0.0"}
    listed = member.get(f"/prompt_sets/{support['id']}/versions").json()["data"]
    assert listed[0]["locks"] == {"common": "1.0.0"} and "snapshot" not in listed[0]
    # A version of a set without dependencies locks nothing.
    assert member.get(f"/versions/{world.version.pk}").json()["locks"] == {}

    # common moves on to 1.1.0: the working copy follows (^1.0), version 1.0.0 keeps what it locked.
    member.patch(f"/prompts/{tone['id']}", {"template": "Be warm."})
    member.post(f"/prompt_sets/{common['id']}/versions", {"label": "1.1.0"})
    working = member.post("/render", {"address": "acme/support/support/reply", "variables": variables}).json()
    assert working["messages"][0]["content"] == "You help Ann. Be warm."
    frozen = member.post("/render", {"address": "acme/support/support@1.0.0/reply", "variables": variables}).json()
    assert (frozen["messages"][0]["content"], frozen["version"]) == ("You help Ann. Be brief, and thorough.",
                                                                     "1.0.0")
    status = member.get(f"/prompt_sets/{support['id']}").json()["dependency_status"][0]
    assert (status["resolved"], status["matching"], status["newest"]) == ("1.1.0", ["1.0.0", "1.1.0"], "1.1.0")

    # The diff shows what the dependency resolves to now, against what the version locked.
    diff = member.get(f"/prompt_sets/{support['id']}/diff", {"from": "1.0.0"}).json()
    assert diff["set"]["locks"] == {"added": {}, "removed": {}, "changed": {"common": {"from": "1.0.0",
                                                                                        "to": "1.1.0"}}}


def test_a_partial_that_does_not_resolve_is_refused_naming_it(world, as_role):
    member = as_role("member")
    _common(member, world)
    support = member.post(f"/projects/{world.project.pk}/prompt_sets", {"name": "Support"}).json()
    body = {"name": "Reply", "kind": "chat", "parameters": [{"name": "tier"}],
            "messages": [{"role": "system", "content": "{% render 'common.tone', tier: tier %}"}]}
    error = assert_error(member.post(f"/prompt_sets/{support['id']}/prompts", body), 422, "validation_error",
                         "prompts.reply.messages[0].content")
    assert "common.tone" in error["message"]


def test_the_diff_shows_config_and_message_changes(world, as_role, chat):
    member = as_role("member")
    prompt_set, prompt = chat
    member.post(f"/prompt_sets/{prompt_set['id']}/versions", {"label": "1.0.0"})
    member.patch(f"/prompt_sets/{prompt_set['id']}", {"config": {"model": "gpt-4o"}})
    member.patch(f"/prompts/{prompt['id']}", {
        "config": {"temperature": 0.7}, "messages": [{"role": "developer", "content": "You help {{ customer }}."},
                                                     *MESSAGES[1:]]})
    diff = member.get(f"/prompt_sets/{prompt_set['id']}/diff", {"from": "1.0.0"})
    assert diff.status_code == 200, diff.json()
    body = diff.json()
    assert body["set"]["config"] == {"added": {}, "removed": {"seed": 7, "temperature": 0.2},
                                     "changed": {"model": {"from": "gpt-4o-mini", "to": "gpt-4o"}}}
    change = body["prompts"]["changed"][0]
    assert (change["slug"], change["kind"]) == ("reply", None)
    assert change["config"] == {"added": {}, "removed": {"max_tokens": 300}, "changed": {}}
    assert [op["op"] for op in change["messages"]["ops"]] == ["change", "equal", "equal"]
    first = change["messages"]["ops"][0]
    assert (first["from"]["role"], first["to"]["role"], first["content"]) == ("system", "developer", None)


def test_the_etag_follows_the_new_fields(world, as_role, chat):
    member = as_role("member")
    prompt_set, prompt = chat
    for path, change in ((f"/prompts/{prompt['id']}", {"config": {"temperature": 1}}),
                         (f"/prompts/{prompt['id']}", {"messages": MESSAGES[:2]}),
                         (f"/prompt_sets/{prompt_set['id']}", {"config": {"model": "gpt-4o"}})):
        tag = member.get(path)["ETag"]
        assert member.get(path, **{"If-None-Match": tag}).status_code == 304
        assert member.patch(path, change).status_code == 200
        changed = member.get(path, **{"If-None-Match": tag})
        assert changed.status_code == 200 and changed["ETag"] != tag, path
        assert member.get(path, **{"If-None-Match": changed["ETag"]}).status_code == 304


def test_the_set_etag_changes_when_a_dependency_gets_a_new_version(world, as_role):
    member = as_role("member")
    common = _common(member, world)
    support = member.post(f"/projects/{world.project.pk}/prompt_sets",
                          {"name": "Support", "dependencies": {"common": "^1.0"}}).json()
    tag = member.get(f"/prompt_sets/{support['id']}")["ETag"]
    member.post(f"/prompt_sets/{common['id']}/versions", {"label": "1.0.1"})
    changed = member.get(f"/prompt_sets/{support['id']}", **{"If-None-Match": tag})
    assert changed.status_code == 200 and changed.json()["dependency_status"][0]["resolved"] == "1.0.1"


def test_the_documented_shapes_follow_the_client_rules():
    """The OpenAPI document's roles and configuration keys are anvil_client's."""
    assert prompt_schemas.MessageRole.__args__ == tpl.ROLES
    assert tuple(prompt_schemas.CONFIG_KEYS) == model_config.KNOWN_KEYS


def test_the_new_parameter_types_are_taken_and_shown(world, as_role, chat):
    """integer, enum (values), list (items, schema) and object (schema) round-trip through the API, and a prompt
    declaring them (like the demo's support.reply) reads back (it used to be a 500)."""
    member = as_role("member")
    prompt_set, _ = chat
    parameters = [
        {"name": "n", "type": "integer", "required": False, "default": "3"},
        {"name": "tier", "type": "enum", "values": ["free", "pro"]},
        {"name": "examples", "type": "list", "items": "object",
         "schema": {"type": "object", "required": ["q"]}},
        {"name": "customer", "type": "object"},
    ]
    created = member.post(f"/prompt_sets/{prompt_set['id']}/prompts",
                          {"name": "Typed", "template": "{{ n }} {{ tier }}{% for e in examples %} {{ e.q }}{% endfor %}"
                                                        " {{ customer.name }}", "parameters": parameters})
    assert created.status_code == 201, created.json()
    shown = member.get(f"/prompts/{created.json()['id']}")
    assert shown.status_code == 200, shown.json()
    by_name = {p["name"]: p for p in shown.json()["parameters"]}
    assert by_name["n"]["default"] == 3 and by_name["tier"]["values"] == ["free", "pro"]
    assert (by_name["examples"]["items"], by_name["examples"]["schema"]) == ("object", {"type": "object",
                                                                                      "required": ["q"]})
    rendered = member.post(f"/prompts/{created.json()['id']}/render",
                           {"variables": {"tier": "pro", "examples": [{"q": "a"}], "customer": {"name": "Ann"}}})
    assert rendered.json()["rendered"] == "3 pro a Ann", rendered.json()
    refused = member.post(f"/prompts/{created.json()['id']}/render",
                          {"variables": {"tier": "gold", "examples": [], "customer": {}}})
    assert_error(refused, 422, "validation_error", "variables.tier")
    bad = member.post(f"/prompt_sets/{prompt_set['id']}/prompts",
                      {"name": "Bad", "parameters": [{"name": "t", "type": "enum", "values": []}]})
    assert bad.status_code == 422 and "parameters.t" in str(bad.json())
