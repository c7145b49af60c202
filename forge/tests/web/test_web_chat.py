"""Web UI: chat prompts in the editor — the kind chosen at creation, message rows (roles, placeholders, order),
their live checks next to each row, the model configuration fields, the new parameter types, the preview as
a conversation with the merged configuration, and partial references linked from the checks."""

import re

import pytest

from anvil_forge.prompts import services as prompts
from anvil_forge.prompts.models import Prompt

from ..conftest import refresh

SET = "/o/acme/p/support/s/emails/"
HX = {"HX-Request": "true"}


def text(response):
    return response.content.decode()


def slot(page: str, slot_id: str) -> str:
    """The inner HTML of the element with this id (a row's or a field's error slot)."""
    match = re.search(rf'<div id="{re.escape(slot_id)}"[^>]*>(.*?)</div>', page, re.S)
    assert match, f"no #{slot_id}"
    return match.group(1)


def chat(*messages, params=(), config=None, **extra):
    """A POST body as the editor form sends it for a chat prompt: ("system", "text") or ("placeholder", "name")."""
    data = {"name": "Support reply", "slug": "reply", "description": "", "template": "", "metadata": "{}",
            "kind": "chat", "msg_row": [], "param_row": []}
    for i, (role, content) in enumerate(messages):
        key = f"m{i}"
        data["msg_row"].append(key)
        if role == "placeholder":
            data.update({f"m-{key}-type": "placeholder", f"m-{key}-placeholder": content})
        else:
            data.update({f"m-{key}-type": "message", f"m-{key}-role": role, f"m-{key}-content": content})
    for i, (name, kind) in enumerate(params):
        key = f"k{i}"
        data["param_row"].append(key)
        data.update({f"p-{key}-name": name, f"p-{key}-type": kind, f"p-{key}-required": "on"})
    for key, value in (config or {}).items():
        data[f"cfg-{key}"] = value
    data.update(extra)
    return data


@pytest.fixture
def member(client, world):
    client.force_login(world.member)
    return client


def test_the_kind_is_chosen_when_creating(member):
    page = text(member.get(SET + "new-prompt"))
    assert 'name="kind" value="text" checked' in page and 'name="kind" value="chat" data-kind-choice' in page
    page = text(member.get(SET + "new-prompt?kind=chat"))
    assert 'name="kind" value="chat" checked' in page
    assert page.count('name="msg_row"') == 2 and ">system</option>" in page  # a system and a user message to start


def test_creating_a_chat_prompt_with_a_placeholder(member, world):
    body = chat(("system", "You help with {{ product }}."), ("placeholder", "history"), ("user", "{{ question }}"),
                params=[("product", "string"), ("question", "string")], config={"model": "gpt-4o", "temperature": "0.2",
                                                                               "stop": '["\\n\\n"]'},
                **{"cfg-extra": '{"response_format": {"type": "json_object"}}'})
    response = member.post(SET + "new-prompt", body, follow=True)
    assert "Prompt Support reply created" in text(response)
    prompt = Prompt.objects.get(slug="reply")
    assert prompt.kind == "chat" and prompt.template == ""
    assert prompt.messages == [{"role": "system", "content": "You help with {{ product }}."},
                               {"placeholder": "history"}, {"role": "user", "content": "{{ question }}"}]
    assert prompt.config == {"model": "gpt-4o", "temperature": 0.2, "stop": ["\n\n"],
                             "response_format": {"type": "json_object"}}
    page = text(member.get(SET + "prompts/reply/"))  # the saved prompt in the editor: rows in order, fields filled
    assert page.index("You help with") < page.index('value="history"') < page.index("{{ question }}")
    assert 'id="cfg-temperature" name="cfg-temperature" value="0.2"' in page
    assert '&quot;response_format&quot;' in page and 'name="kind" value="chat"' in page


def test_the_order_of_the_rows_is_the_order_of_the_messages(member, world):
    prompts.create_prompt(world.owner, world.pset, "Reply", "reply", kind="chat",
                          messages=[{"role": "system", "content": "A"}, {"role": "user", "content": "B"}])
    body = chat(("user", "B"), ("system", "A"))
    member.post(SET + "prompts/reply/", body)
    assert [m["content"] for m in Prompt.objects.get(slug="reply").messages] == ["B", "A"]


def test_an_invalid_role_is_shown_next_to_its_message(member):
    response = member.post(SET + "new-prompt", chat(("system", "Hi"), ("bot", "Hello")))
    assert response.status_code == 200
    page = text(response)
    assert "role &#x27;bot&#x27; is not one of system, developer, user, assistant" in slot(page, "m-m1-check")
    assert slot(page, "m-m0-check").strip() == ""
    assert '<option value="bot" selected>bot</option>' in page  # what was sent stays visible
    assert not Prompt.objects.filter(slug="reply").exists()


def test_a_syntax_error_in_a_message_is_shown_in_its_row_with_line_and_column(member):
    response = member.post(SET + "editor/check", chat(("system", "Hi"), ("user", "Line\n{{ question ")), headers=HX)
    page = text(response)
    mine = slot(page, "m-m1-check")
    assert "messages[1] (user)" in mine and "line 2" in mine
    assert 'data-goto-line="2"' in mine and 'data-goto-target="m-m1-content"' in mine
    assert 'hx-swap-oob="innerHTML"' in page and "Go to messages[1], line 2" in page
    assert "Fix the syntax error to see the preview" in page


def test_an_invalid_temperature_is_shown_next_to_its_field(member):
    body = chat(("user", "Hi"), config={"temperature": "3", "max_tokens": "many"})
    live = text(member.post(SET + "editor/check", body, headers=HX))
    assert "temperature must be a number between 0 and 2, got 3" in slot(live, "cfg-temperature-check")
    assert "max_tokens must be" in slot(live, "cfg-max_tokens-check")
    assert slot(live, "cfg-model-check").strip() == ""
    response = member.post(SET + "new-prompt", body)
    assert response.status_code == 200
    page = text(response)
    assert "between 0 and 2" in slot(page, "cfg-temperature-check") and 'aria-invalid="true"' in page
    assert not Prompt.objects.filter(slug="reply").exists()


def test_json_that_does_not_parse_is_shown_where_it_was_typed(member):
    body = chat(("user", "{{ examples }}"), params=[("examples", "list")],
                **{"cfg-extra": "{oops", "p-k0-items": "object", "p-k0-schema": "{not json"})
    response = member.post(SET + "new-prompt", body)
    page = text(response)
    assert response.status_code == 200 and "Some fields cannot be read" in page
    assert "not valid JSON" in slot(page, "cfg-extra-check")
    assert "the schema of &#x27;examples&#x27; is not valid JSON" in slot(page, "p-k0-check")
    assert not Prompt.objects.filter(slug="reply").exists()


def test_parameters_of_the_new_types(member, world):
    body = chat(("user", "{{ tone }} {{ n }} {% for e in examples %}{{ e.q }}{% endfor %}"),
                params=[("tone", "enum"), ("n", "integer"), ("examples", "list")],
                **{"p-k0-values": "formal, casual", "p-k2-items": "object",
                   "p-k2-schema": '{"type": "object", "required": ["q"]}'})
    assert "Prompt Support reply created" in text(member.post(SET + "new-prompt", body, follow=True))
    tone, n, examples = Prompt.objects.get(slug="reply").parameters
    assert tone["values"] == ["formal", "casual"] and n["type"] == "integer"
    assert examples["items"] == "object" and examples["schema"] == {"type": "object", "required": ["q"]}
    page = text(member.get(SET + "prompts/reply/"))
    assert 'value="formal, casual"' in page and '<option value="casual">casual</option>' in page  # the sample select
    bad = dict(body, **{"p-k0-values": ""})
    page = text(member.post(SET + "prompts/reply/", bad))
    assert "needs &#x27;values&#x27;" in slot(page, "p-k0-check")


def test_the_preview_is_a_conversation_with_the_merged_configuration(member, world):
    prompts.update_prompt_set(world.owner, world.pset, config={"model": "gpt-4o-mini", "temperature": 0.5})
    body = chat(("system", "You help {{ name }}."), ("placeholder", "history"), ("user", "Now?"),
                params=[("name", "string")], config={"temperature": "0.1"},
                **{"sample-name": "Ada",
                   "sample-history": '[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]'})
    page = text(member.post(SET + "editor/preview", body, headers=HX))
    bubbles = re.findall(r'<li class="bubble bubble-(\w+)( from-placeholder)?"', page)
    assert bubbles == [("system", ""), ("user", " from-placeholder"), ("assistant", " from-placeholder"), ("user", "")]
    assert "You help Ada." in page and "· from history" in page and "4 messages" in page
    merged = page.split('class="props config-merged')[1]
    assert "gpt-4o-mini" in merged and "set default" in merged and "0.1" in merged and "0.5" not in merged
    page = text(member.post(SET + "editor/preview", dict(body, **{"sample-history": "[oops"}), headers=HX))
    assert "sample value of &#x27;history&#x27; is not valid JSON" in page
    page = text(member.post(SET + "editor/preview", dict(body, **{"sample-history": ""}), headers=HX))
    assert "missing messages for placeholder &#x27;history&#x27;" in page


def test_a_text_prompt_previews_as_before_with_its_configuration(member, world):
    prompts.update_prompt_set(world.owner, world.pset, config={"model": "gpt-4o-mini"})
    body = {"name": "Welcome", "slug": "welcome", "template": "Hello {{ name }}!", "metadata": "{}",
            "param_row": ["k"], "p-k-name": "name", "p-k-type": "string", "p-k-required": "on", "sample-name": "Ada"}
    page = text(member.post(SET + "editor/preview", body, headers=HX))
    assert '<pre class="preview-text"' in page and "Hello Ada!" in page and "gpt-4o-mini" in page


def test_message_rows_are_added_in_place(member):
    row = text(member.get(SET + "editor/message-row", headers=HX))
    assert 'name="msg_row"' in row and 'value="message"' in row and "autofocus" in row
    assert '<option value="user" selected>' in row
    row = text(member.get(SET + "editor/message-row?type=placeholder", headers=HX))
    assert 'value="placeholder"' in row and "Placeholder name" in row


def test_partials_are_listed_with_links_to_what_they_render(member, world):
    common = prompts.create_prompt_set(world.owner, world.project, "Common", "common")
    prompts.create_prompt(world.owner, common, "Tone", "tone", "Be kind.")
    prompts.create_version(world.owner, common, "1.0.0")
    prompts.update_prompt_set(world.owner, world.pset, dependencies={"common": "^1.0"})
    prompts.create_prompt(world.owner, world.pset, "Sign-off", "sign_off", "Bye.")
    body = {"name": "Welcome", "slug": "welcome", "metadata": "{}", "param_row": [],
            "template": "{% render 'sign_off' %} {% render 'common.tone' %} {% render 'nope' %}"}
    page = text(member.post(SET + "editor/check", body, headers=HX))
    partials = page.split("<h3>Partials</h3>")[1]
    assert f'href="{SET}prompts/sign_off/"' in partials
    assert 'href="/o/acme/p/support/s/common/prompts/tone/"' in partials
    assert 'href="/o/acme/p/support/s/common/v/1.0.0/#snap-tone"' in partials and "common@1.0.0" in partials
    assert "partial &#x27;nope&#x27; not found" in partials  # the problem, and no link to a prompt that is not there
    assert "prompts/nope/" not in partials


def test_a_read_only_chat_editor_still_checks_what_it_shows(member, world):
    prompts.create_prompt(world.owner, world.pset, "Reply", "reply", kind="chat", parameters=[{"name": "q"}],
                          messages=[{"role": "developer", "content": "{{ q }}"}])
    prompts.change_status(world.owner, world.pset, "review")
    page = text(member.get(SET + "prompts/reply/"))
    assert "readonly" in page and "+ Add message" not in page and "Move up" not in page
    assert 'type="hidden" name="m-r0-role" value="developer"' in page  # a disabled select sends nothing
    assert refresh(world.pset).status == "review"


@pytest.mark.parametrize("extra", [
    {"kind": "bogus"},
    {"msg_row": ["../x", "", "a" * 80, "ok"], "m-ok-type": "weird", "m-ok-role": "", "m-ok-content": "{% if %}"},
    {"m-m0-type": "placeholder", "m-m0-placeholder": "1 bad name"},
    {"cfg-extra": "[" * 5000 + "]" * 5000, "cfg-stop": '["a", "b", "c", "d", "e"]', "cfg-seed": "NaN"},
    {"cfg-extra": '{"tools": "nope", "response_format": {"type": "json_schema"}}', "cfg-stop": "[oops"},
    {"param_row": ["k"], "p-k-name": "x", "p-k-type": "object", "p-k-default": "{", "p-k-schema": '{"type": 5}'},
    {"param_row": ["k"], "p-k-name": "x", "p-k-type": "enum", "p-k-values": '["a", 1]', "p-k-items": "weird"},
    {"sample-q": "[" * 5000, "sample_signature": "x"},
])
def test_bad_input_never_gives_a_500(member, extra):
    body = chat(("system", "Hi {{ q }}"), params=[("q", "list")])
    body.update(extra)
    for url in ("editor/check", "editor/preview", "editor/missing", "new-prompt"):
        response = member.post(SET + url, body, headers=HX if "editor" in url else {})
        assert response.status_code == 200 or (url == "new-prompt" and response.status_code == 302), (url, extra)


def test_an_unknown_kind_is_refused_next_to_the_kind(member):
    page = text(member.post(SET + "new-prompt", chat(("user", "Hi"), kind="bogus")))
    assert "kind must be one of text, chat" in page.split("<legend>Kind</legend>")[1].split("</fieldset>")[0]
