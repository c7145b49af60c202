"""Chat prompts, partials across prompt sets and the format-2 bundle, as an application sees them through
``Client``: messages(), get(), prompt()'s refusal of a chat prompt, fallbacks, offline partials."""

import pytest

from anvil_client import Client, PromptConfigError, PromptInputError, PromptKindError, PromptRenderError
from anvil_client import bundle as bundles

from .helpers import PROJECT

KEY = bundles.generate_private_key()
PUBLIC = bundles.public_key_text(KEY)

REPLY = {
    "kind": "chat",
    "messages": [
        {"role": "system", "content": "You help {{ customer }}. {% render 'common.tone', tier: tier %}"},
        {"placeholder": "history"},
        {"role": "user", "content": "{{ question }}"},
    ],
    "parameters": [{"name": "customer"}, {"name": "tier", "type": "enum", "values": ["free", "pro"]},
                   {"name": "question"}],
    "config": {"model": "gpt-4o-mini", "temperature": 0.2, "max_tokens": 300},
    "metadata": {},
}
TONE_1 = {"template": "Be brief{% if tier == 'pro' %}, and thorough{% endif %}.",
          "parameters": [{"name": "tier"}], "metadata": {}}
TONE_2 = {"template": "Be warm.", "parameters": [{"name": "tier", "required": False}], "metadata": {}}


def chat_bundle(sequence=1, tone=TONE_1, locked="1.2.0", published_common="1.3.0", common_prompt=TONE_2):
    """``support`` 2.0.0 locks ``common`` to ``locked``, while ``common`` itself is published at another version."""
    body = bundles.make_body(
        project={"id": PROJECT, "slug": "p", "name": "P"}, sequence=sequence, created_at="2026-12-03T00:00:00Z",
        prompt_sets=[{"slug": "support", "version": "2.0.0", "version_id": "s2", "locks": {"common": locked}},
                     {"slug": "common", "version": published_common, "version_id": "c13"}],
        prompts={"support.reply": REPLY, "support.plain": {"template": "Hi {{ name }}", "parameters": [{"name": "name"}]},
                 "common.tone": common_prompt},
        dependencies=[{"slug": "common", "version": locked, "locks": {}, "prompts": {"tone": tone}}],
        forge_key=PUBLIC)
    return bundles.seal(body, KEY)


@pytest.fixture
def client(tmp_path):
    c = Client(project=PROJECT, cache_dir=tmp_path, public_key=PUBLIC, background=False)
    c.apply(chat_bundle())
    return c


HISTORY = [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi! How can I help?"}]


def test_messages_renders_the_conversation_with_the_locked_partial_and_the_history(client):
    assert client.messages("support.reply", customer="Ann", tier="pro", question="Refund?", history=HISTORY) == [
        {"role": "system", "content": "You help Ann. Be brief, and thorough."},
        *HISTORY,
        {"role": "user", "content": "Refund?"},
    ]
    # The partial is the locked common@1.2.0, not the published common@1.3.0.
    assert client.prompt("common.tone", tier="x") == "Be warm."


def test_a_bundle_with_chat_prompts_is_format_2_and_a_text_only_one_stays_format_1():
    assert chat_bundle()["format_version"] == 2
    text_only = bundles.make_body(project={"id": PROJECT, "slug": "p", "name": "P"}, sequence=1, created_at="x",
                                  prompt_sets=[{"slug": "s", "version": "1.0.0", "version_id": "v"}],
                                  prompts={"s.a": {"template": "Hi {{ n }}", "parameters": [{"name": "n"}]}},
                                  forge_key=PUBLIC)
    assert text_only["format_version"] == 1 and "dependencies" not in text_only
    assert set(text_only["prompts"]["s.a"]) == {"template", "parameters", "metadata"}


def test_prompt_refuses_a_chat_prompt_naming_messages_and_messages_refuses_a_text_prompt(client):
    with pytest.raises(PromptKindError, match=r"chat prompt.*use messages\(\)"):
        client.prompt("support.reply", customer="Ann", tier="pro", question="?", history=[])
    with pytest.raises(PromptKindError, match=r"text prompt.*use prompt\(\)"):
        client.messages("support.plain", name="Ann")
    assert client.prompt("support.plain", name="Ann") == "Hi Ann"


def test_bad_history_and_bad_enum_values_are_input_errors_naming_them(client):
    good = {"customer": "Ann", "tier": "pro", "question": "?"}
    with pytest.raises(PromptInputError, match="missing messages for placeholder 'history'") as info:
        client.messages("support.reply", **good)
    assert info.value.parameter == "history"
    with pytest.raises(PromptInputError, match="message 1: role 'tool'"):
        client.messages("support.reply", **good, history=[{"role": "user", "content": "a"},
                                                         {"role": "tool", "content": "b"}])
    with pytest.raises(PromptInputError, match="content must be a string"):
        client.messages("support.reply", **good, history=[{"role": "user", "content": 3}])
    with pytest.raises(PromptInputError) as info:
        client.messages("support.reply", **{**good, "tier": "gold"}, history=[])
    assert info.value.parameter == "tier"


def test_get_returns_an_immutable_prompt_with_its_config_and_provider_forms(client):
    reply = client.get("support.reply")
    assert (reply.id, reply.kind, reply.version) == ("support.reply", "chat", "2.0.0")
    assert reply.config == {"model": "gpt-4o-mini", "temperature": 0.2, "max_tokens": 300}
    reply.config["model"] = "changed"
    assert reply.config["model"] == "gpt-4o-mini"
    assert [p["name"] for p in reply.parameters] == ["customer", "tier", "question"]
    args = reply.openai(customer="Ann", tier="free", question="Refund?", history=[])
    assert args["model"] == "gpt-4o-mini" and args["temperature"] == 0.2
    assert args["messages"][0] == {"role": "system", "content": "You help Ann. Be brief."}
    # The installed anthropic SDK's messages.create takes no temperature: named, never dropped silently.
    with pytest.raises(PromptConfigError, match="temperature") as info:
        reply.anthropic(customer="Ann", tier="free", question="Refund?", history=HISTORY)
    assert info.value.key == "temperature"
    # A later update does not change a Prompt already returned.
    client.apply(chat_bundle(sequence=2, locked="1.2.0", tone={"template": "Changed.", "parameters": [],
                                                                "metadata": {}}))
    assert reply.messages(customer="A", tier="free", question="q", history=[])[0]["content"] == "You help A. Be brief."
    assert client.get("support.reply").messages(customer="A", tier="free", question="q",
                                                history=[])[0]["content"] == "You help A. Changed."


def test_a_partial_failing_names_the_partial_and_its_own_line(tmp_path):
    broken = {"template": "line one\n{{ missing }}", "parameters": [{"name": "tier"}], "metadata": {}}
    c = Client(project=PROJECT, cache_dir=tmp_path, public_key=PUBLIC, background=False)
    c.apply(chat_bundle(tone=broken))
    with pytest.raises(PromptRenderError, match=r"messages\[0\] \(system\): in partial 'common.tone': "
                                                r"undefined variable 'missing' \(line 2, column 4\)"):
        c.messages("support.reply", customer="A", tier="pro", question="q", history=[])


def test_a_partial_sees_only_what_it_is_passed(tmp_path):
    """Liquid's isolated render scope: a partial reading a variable of its caller that it was not
    given fails, so what a partial reads is exactly its parameters."""
    snoop = {"template": "{{ customer }}", "parameters": [{"name": "tier"}], "metadata": {}}
    c = Client(project=PROJECT, cache_dir=tmp_path, public_key=PUBLIC, background=False)
    c.apply(chat_bundle(tone=snoop))
    with pytest.raises(PromptRenderError, match="in partial 'common.tone': undefined variable 'customer'"):
        c.messages("support.reply", customer="A", tier="pro", question="q", history=[])


def test_limits_hold_across_a_prompt_and_its_partials(tmp_path):
    loops = {"template": "{% for i in (1..60000) %}{% endfor %}", "parameters": [{"name": "tier"}],
             "metadata": {}}
    c = Client(project=PROJECT, cache_dir=tmp_path, public_key=PUBLIC, background=False)
    reply = dict(REPLY, messages=[{"role": "system", "content": "{% for i in (1..60000) %}{% endfor %}"
                                                                "{% render 'common.tone', tier: tier %}"}])
    body = bundles.make_body(
        project={"id": PROJECT, "slug": "p", "name": "P"}, sequence=1, created_at="x",
        prompt_sets=[{"slug": "support", "version": "1.0.0", "version_id": "s", "locks": {"common": "1.0.0"}}],
        prompts={"support.reply": reply},
        dependencies=[{"slug": "common", "version": "1.0.0", "locks": {}, "prompts": {"tone": loops}}],
        forge_key=PUBLIC)
    c.apply(bundles.seal(body, KEY))
    with pytest.raises(PromptRenderError, match="loop iteration limit exceeded"):
        c.messages("support.reply", customer="A", tier="pro", question="q")


def test_the_held_bundle_with_partials_is_served_from_disk_after_a_restart(tmp_path):
    first = Client(project=PROJECT, cache_dir=tmp_path, public_key=PUBLIC, background=False)
    first.apply(chat_bundle())
    again = Client(project=PROJECT, cache_dir=tmp_path, public_key=PUBLIC, background=False)
    assert again.messages("support.reply", customer="B", tier="free", question="q",
                          history=[])[0]["content"] == "You help B. Be brief."


def test_fallbacks_may_be_chat_prompts(tmp_path):
    c = Client(project=PROJECT, cache_dir=tmp_path, public_key=PUBLIC, background=False,
               fallbacks={"support.reply": [{"role": "system", "content": "Be safe."},
                                            {"role": "user", "content": "{{ question }}"}],
                          "support.full": {"messages": [{"role": "user", "content": "{{ q }}"}],
                                           "config": {"model": "m", "max_tokens": 5}}})
    assert c.messages("support.reply", question="Hi?") == [{"role": "system", "content": "Be safe."},
                                                           {"role": "user", "content": "Hi?"}]
    assert c.get("support.full").openai(q="x") == {"model": "m", "max_tokens": 5,
                                                   "messages": [{"role": "user", "content": "x"}]}
    anthropic = c.get("support.full").anthropic(q="x")
    assert anthropic == {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    with pytest.raises(Exception, match="fallback for 'bad' is not a valid prompt"):
        Client(project=PROJECT, cache_dir=tmp_path / "2", public_key=PUBLIC, background=False,
               fallbacks={"bad": [{"role": "robot", "content": "x"}]})


def test_format_1_bundles_of_the_previous_release_are_still_read(tmp_path):
    from .helpers import make_bundle

    old = make_bundle(KEY)
    assert old["format_version"] == 1
    c = Client(project=PROJECT, cache_dir=tmp_path, public_key=PUBLIC, background=False)
    c.apply(old)
    assert c.prompt("emails.welcome", name="Ann") == "Hello Ann!"
    assert c.get("emails.welcome").messages(name="Ann") == [{"role": "user", "content": "Hello Ann!"}]


def test_a_bundle_of_an_unknown_future_format_is_refused_and_the_held_prompts_stay(client):
    future = chat_bundle(sequence=5)
    future["format_version"] = 5
    with pytest.raises(Exception) as info:
        client.apply(bundles.seal(future, KEY))
    assert getattr(info.value, "reason", None) == "unknown_format"
    assert client.prompt("support.plain", name="Ann") == "Hi Ann"


def test_format_2_bundles_match_their_published_json_schema():
    import importlib.resources
    import json

    import jsonschema

    schema = json.loads(importlib.resources.files("anvil_client").joinpath("bundle-2.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    bundle = chat_bundle()
    bundle["created_at"] = "2026-12-03T00:00:00Z"
    errors = [e.message for e in validator.iter_errors(bundle)]
    assert errors == []
    bundle["prompts"]["support.reply"]["messages"][0]["role"] = "robot"
    assert list(validator.iter_errors(bundle))


def test_the_messages_of_a_chat_prompt_share_one_renders_limits(tmp_path):
    """60,000 loop iterations in each of two messages: each alone is within a render's 100,000; together
    they are not, as if the prompt were one template."""
    loop = "{% for i in (1..60000) %}{% endfor %}"
    c = Client(project=PROJECT, cache_dir=tmp_path, public_key=PUBLIC, background=False,
               fallbacks={"one": [{"role": "user", "content": loop}],
                          "two": [{"role": "system", "content": loop}, {"role": "user", "content": loop}]})
    assert c.messages("one") == [{"role": "user", "content": ""}]
    with pytest.raises(PromptRenderError, match=r"messages\[1\] \(user\): loop iteration limit exceeded"):
        c.messages("two")
