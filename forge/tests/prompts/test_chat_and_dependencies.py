"""Chat prompts, model configuration and dependencies between sets on the FORGE: what is refused at save
time (naming it), what a version locks, and what renders."""

import pytest
from django.db import DatabaseError, transaction

from anvil_forge.core.errors import Conflict, ValidationError
from anvil_forge.distribution import queries as dist_queries
from anvil_forge.distribution.services import publish
from anvil_forge.prompts import queries, services as prompts

from ..conftest import refresh

pytestmark = pytest.mark.django_db

TONE = "Be kind{% if tier == 'pro' %} and thorough{% endif %}."


def field_of(info) -> str:
    return info.value.details[0]["field"]


def lock(world, prompt_set):
    prompts.change_status(world.member, prompt_set, "review")
    prompts.change_status(world.admin, prompt_set, "locked")


@pytest.fixture
def sets(world):
    common = prompts.create_prompt_set(world.owner, world.project, "Common", "common")
    tone = prompts.create_prompt(world.owner, common, "Tone", "tone", TONE, [{"name": "tier"}])
    prompts.create_version(world.owner, common, "1.0.0")
    support = prompts.create_prompt_set(world.owner, world.project, "Support", "support",
                                        config={"model": "gpt-4o-mini", "temperature": 0.2},
                                        dependencies={"common": "^1.0"})
    reply = prompts.create_prompt(
        world.owner, support, "Reply", "reply", kind="chat",
        messages=[{"role": "system", "content": "Acme. {% render 'common.tone', tier: tier %}"},
                  {"placeholder": "history"}, {"role": "user", "content": "{{ question }}"}],
        parameters=[{"name": "tier"}, {"name": "question"}], config={"temperature": 0.7, "max_tokens": 50})
    return common, tone, support, reply


# --- chat prompts and configuration ------------------------------------------------------------------

@pytest.mark.parametrize("messages, field, text", [
    ([{"role": "robot", "content": "x"}], "messages[0].role", "role 'robot' is not one of"),
    ([{"role": "user", "content": "ok"}, {"role": "user", "content": "a\n{{ x"}], "messages[1].content",
     "never closed"),
    ([{"placeholder": "9lives"}], "messages[0].placeholder", "not allowed"),
    ([{"role": "user", "content": "x", "tone": "y"}], "messages[0].tone", "unknown field"),
    ("not a list", "messages", "must be a list"),
])
def test_bad_messages_are_refused_naming_the_message(world, messages, field, text):
    with pytest.raises(ValidationError) as info:
        prompts.create_prompt(world.owner, world.pset, "Chat", "chat", kind="chat", messages=messages)
    assert field_of(info) == field and text in str(info.value)
    assert not world.pset.prompts.filter(slug="chat").exists()


def test_a_syntax_error_in_a_message_gives_its_line_and_column(world):
    with pytest.raises(ValidationError) as info:
        prompts.create_prompt(world.owner, world.pset, "Chat", "chat", kind="chat",
                              messages=[{"role": "system", "content": "one\n  {% if %}"}])
    detail = info.value.details[0]
    assert (detail["field"], detail["line"]) == ("messages[0].content", 2) and detail["column"] >= 3


@pytest.mark.parametrize("config, field", [
    ({"temperature": 3}, "config.temperature"),
    ({"max_tokens": 0}, "config.max_tokens"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "nope"}}}},
     "config.response_format.json_schema.schema"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": 5}}}]},
     "config.tools[0].function.parameters"),
])
def test_a_bad_model_configuration_is_refused_naming_the_key(world, config, field):
    with pytest.raises(ValidationError) as info:
        prompts.update_prompt(world.owner, world.prompt, config=config)
    assert field_of(info) == field
    assert refresh(world.prompt).config == {}


def test_unknown_configuration_keys_are_kept_and_null_removes_a_set_default(world):
    prompts.update_prompt_set(world.owner, world.pset, config={"model": "m", "seed": 7})
    prompts.update_prompt(world.owner, world.prompt, config={"seed": None, "frequency_penalty": 0.5})
    result = queries.render_prompt(refresh(world.prompt), {"name": "Ada"})
    assert result == {"kind": "text", "rendered": "Hello Ada!", "messages": None,
                      "config": {"model": "m", "frequency_penalty": 0.5}}


def test_a_chat_prompt_renders_with_its_partial_its_history_and_the_merged_config(sets):
    common, tone, support, reply = sets
    result = queries.render_prompt(reply, {"tier": "pro", "question": "Where?",
                                           "history": [{"role": "user", "content": "Hi"}]})
    assert result["messages"] == [{"role": "system", "content": "Acme. Be kind and thorough."},
                                  {"role": "user", "content": "Hi"}, {"role": "user", "content": "Where?"}]
    assert result["config"] == {"model": "gpt-4o-mini", "temperature": 0.7, "max_tokens": 50}
    assert result["rendered"] is None and result["kind"] == "chat"
    check = queries.analysis(reply)
    assert check["partials"][0]["name"] == "common.tone" and check["placeholders"] == ["history"]
    assert check["problems"] == [] and check["missing"] == []


def test_a_new_parameter_type_drives_a_loop_without_split(world):
    prompts.update_prompt(world.owner, world.prompt, template="{% for ex in examples %}Q: {{ ex.q }}\n{% endfor %}",
                          parameters=[{"name": "examples", "type": "list", "items": "object"}])
    result = queries.render_prompt(refresh(world.prompt), {"examples": [{"q": "a"}, {"q": "b"}]})
    assert result["rendered"] == "Q: a\nQ: b\n"
    with pytest.raises(ValidationError) as info:
        queries.render_prompt(refresh(world.prompt), {"examples": "a,b"})
    assert field_of(info) == "variables.examples"


# --- partials ----------------------------------------------------------------------------------------

def test_a_missing_partial_a_missing_argument_and_a_cycle_are_refused_at_save_time(world, sets):
    common, tone, support, reply = sets
    with pytest.raises(ValidationError, match="partial 'nope' not found: prompt set 'emails' has no prompt 'nope'"):
        prompts.update_prompt(world.owner, world.prompt, template="{% render 'nope' %}")
    with pytest.raises(ValidationError, match=r"partial 'common.tone' needs parameter 'tier'") as info:
        prompts.update_prompt(world.owner, reply, messages=[{"role": "system", "content": "{% render 'common.tone' %}"}])
    assert info.value.details[0]["field"] == "prompts.reply.messages[0].content"
    with pytest.raises(ValidationError, match="no dependency on 'other'"):
        prompts.update_prompt(world.owner, world.prompt, template="{% render 'other.x' %}")
    prompts.create_prompt(world.owner, common, "B", "b", "B")
    prompts.create_prompt(world.owner, common, "A", "a", "A{% render 'b' %}")
    with pytest.raises(ValidationError, match="partials form a cycle: common.b → common.a → common.b"):
        prompts.update_prompt(world.owner, common.prompts.get(slug="b"), template="B{% render 'a' %}")
    assert common.prompts.get(slug="b").template == "B"


def test_a_chat_prompt_cannot_be_a_partial(world, sets):
    common, tone, support, reply = sets
    with pytest.raises(ValidationError, match="'reply' is a chat prompt"):
        prompts.create_prompt(world.owner, support, "Wrap", "wrap", "{% render 'reply' %}")


# --- dependencies and locks ---------------------------------------------------------------------------

@pytest.mark.parametrize("dependencies, field, text", [
    ({"support": "^1"}, "dependencies.support", "cannot depend on itself"),
    ({"ghost": "^1"}, "dependencies.ghost", "no prompt set 'ghost'"),
    ({"common": "not a version"}, "dependencies.common", ""),
    ("common", "dependencies", "must be an object"),
])
def test_bad_dependencies_are_refused_naming_them(world, sets, dependencies, field, text):
    common, tone, support, reply = sets
    with pytest.raises(ValidationError) as info:
        prompts.update_prompt_set(world.owner, support, dependencies=dependencies)
    assert field_of(info) == field and text in str(info.value)


def test_dependencies_between_sets_cannot_form_a_cycle(world, sets):
    common, tone, support, reply = sets
    with pytest.raises(ValidationError, match="cycle: common → support → common"):
        prompts.update_prompt_set(world.owner, common, dependencies={"support": "*"})


def test_a_version_locks_the_newest_matching_version_and_renders_the_same_forever(world, sets):
    common, tone, support, reply = sets
    first = prompts.create_version(world.owner, support, "1.0.0")
    assert first.snapshot["locks"] == {"common": "1.0.0"} and first.snapshot["dependencies"] == {"common": "^1.0"}
    prompts.update_prompt(world.owner, tone, template="Be brief.")
    prompts.create_version(world.owner, common, "1.1.0")
    prompts.update_prompt(world.owner, tone, template="Be loud.")
    prompts.create_version(world.owner, common, "2.0.0")  # outside ^1.0
    values = {"tier": "free", "question": "q", "history": []}
    working, _ = queries.render_address(world.owner, "support/support/reply", values)
    assert working["messages"][0]["content"] == "Acme. Be brief."  # newest matching: 1.1.0
    old, _ = queries.render_address(world.owner, "support/support@1.0.0/reply", values)
    assert old["messages"][0]["content"] == "Acme. Be kind."  # the lock, forever
    second = prompts.create_version(world.owner, support, "1.1.0")
    assert second.snapshot["locks"] == {"common": "1.1.0"}
    diff = queries.diff(world.owner, support, "1.0.0", "1.1.0")
    assert diff["set"]["locks"]["changed"] == {"common": {"from": "1.0.0", "to": "1.1.0"}}
    rows = queries.dependency_rows(refresh(support))
    assert [(r["slug"], r["resolved"], r["matching"], r["outside"]) for r in rows] == [
        ("common", "1.1.0", ["1.0.0", "1.1.0"], ["2.0.0"])]


def test_a_version_is_refused_when_a_dependency_has_no_matching_version(world, sets):
    common, tone, support, reply = sets
    prompts.create_prompt_set(world.owner, world.project, "Extra", "extra")  # no versions yet
    prompts.update_prompt_set(world.owner, support, dependencies={"common": "^1.0", "extra": "*"})
    with pytest.raises(ValidationError, match=r"no version of 'extra' matches \* \(it has no versions yet") as info:
        prompts.create_version(world.owner, support, "1.0.0")
    assert field_of(info) == "dependencies.extra"
    assert not support.versions.exists()


def test_what_others_depend_on_cannot_be_renamed_deleted_or_unversioned(world, sets):
    common, tone, support, reply = sets
    prompts.create_version(world.owner, support, "1.0.0")
    with pytest.raises(Conflict, match="dependency of support"):
        prompts.update_prompt_set(world.owner, common, slug="shared")
    with pytest.raises(Conflict, match="dependency of support"):
        prompts.delete_prompt_set(world.owner, common)
    with pytest.raises(Conflict, match="locked by support@1.0.0"):
        prompts.delete_version(world.owner, common.versions.get(label="1.0.0"))


def test_publishing_refuses_a_version_locking_unapproved_content_then_ships_the_partials(world, sets):
    common, tone, support, reply = sets
    prompts.create_version(world.owner, support, "1.0.0")
    lock(world, support)
    with pytest.raises(Conflict, match="renders partials of versions nobody approved: common@1.0.0"):
        publish(world.admin, support)
    lock(world, common)  # approving common's working copy approves common@1.0.0 (same content)
    publish(world.admin, support)
    bundle = dist_queries.current_bundle(world.project, (1, 2, 3))
    assert bundle["format_version"] == 2
    assert bundle["prompt_sets"] == [{"slug": "support", "version": "1.0.0", "version_id": str(
        support.versions.get().pk), "locks": {"common": "1.0.0"}}]
    assert [(d["slug"], d["version"], list(d["prompts"])) for d in bundle["dependencies"]] == [
        ("common", "1.0.0", ["tone"])]
    assert bundle["prompts"]["support.reply"]["config"] == {"model": "gpt-4o-mini", "temperature": 0.7,
                                                            "max_tokens": 50}


def test_a_text_only_project_still_gets_format_1_bundles(world):
    lock(world, world.pset)
    publish(world.admin, world.pset)
    assert dist_queries.current_bundle(world.project, (1, 2, 3))["format_version"] == 1


def test_the_database_refuses_changing_a_locked_sets_config_or_dependencies(world, sets):
    from anvil_forge.prompts.models import PromptSet

    common, tone, support, reply = sets
    prompts.create_version(world.owner, support, "1.0.0")
    lock(world, support)
    for change in ({"config": {"model": "sneaky"}}, {"dependencies": {}}):
        with pytest.raises(DatabaseError, match="not LIVE"), transaction.atomic():
            PromptSet.objects.filter(pk=support.pk).update(**change)
    assert refresh(support).config == {"model": "gpt-4o-mini", "temperature": 0.2}
    assert refresh(support).dependencies == {"common": "^1.0"}


def test_content_of_the_other_kind_is_refused_and_changing_kind_clears_it(world):
    with pytest.raises(ValidationError) as info:
        prompts.create_prompt(world.owner, world.pset, "Chat", "chat", "a template", kind="chat")
    assert field_of(info) == "template"
    with pytest.raises(ValidationError) as info:
        prompts.update_prompt(world.owner, world.prompt, messages=[{"role": "user", "content": "x"}])
    assert field_of(info) == "messages"
    chat = prompts.update_prompt(world.owner, world.prompt, kind="chat",
                                 messages=[{"role": "user", "content": "Hello {{ name }}!"}])
    assert (chat.kind, chat.template) == ("chat", "")
    back = prompts.update_prompt(world.owner, refresh(chat), kind="text", template="Hi {{ name }}")
    assert (back.kind, back.messages, back.template) == ("text", [], "Hi {{ name }}")


def test_review_needs_a_chat_prompts_variables_declared_and_its_partials_sound(world, sets):
    common, tone, support, reply = sets
    prompts.update_prompt(world.owner, reply, parameters=[{"name": "tier"}])  # `question` no longer declared
    with pytest.raises(ValidationError, match="must declare the parameters") as info:
        prompts.change_status(world.member, support, "review")
    assert info.value.details == [{"field": "prompts.reply", "message": "undeclared parameters: question"}]
    assert prompts.add_missing_parameters(world.owner, reply) == ["question"]
    prompts.change_status(world.member, support, "review")


def test_a_set_whose_versions_are_locked_elsewhere_cannot_be_deleted_even_without_the_dependency(world, sets):
    common, tone, support, reply = sets
    version = prompts.create_version(world.owner, support, "1.0.0")
    prompts.update_prompt(world.owner, reply, messages=[{"role": "system", "content": "Acme."},
                                                        {"placeholder": "history"},
                                                        {"role": "user", "content": "{{ question }}"}])
    prompts.update_prompt_set(world.owner, support, dependencies={})  # nothing renders common now …
    with pytest.raises(Conflict, match=r"locked by support@1.0.0 \(locks common@1.0.0\)"):
        prompts.delete_prompt_set(world.owner, common)  # … but support@1.0.0 still does
    old, _ = queries.render_address(world.owner, "support/support@1.0.0/reply",
                                    {"tier": "free", "question": "q", "history": []})
    assert old["messages"][0]["content"] == "Acme. Be kind." and version.snapshot["locks"] == {"common": "1.0.0"}


def test_removing_a_dependency_a_prompt_still_renders_is_refused_naming_the_prompt(world, sets):
    common, tone, support, reply = sets
    with pytest.raises(ValidationError, match="support.reply") as info:
        prompts.update_prompt_set(world.owner, support, dependencies={})
    assert info.value.details[0]["field"] == "prompts.reply.messages[0].content"
    assert refresh(support).dependencies == {"common": "^1.0"}


def test_a_dependency_with_no_matching_version_is_named_as_such(world, sets):
    common, tone, support, reply = sets
    with pytest.raises(ValidationError, match=r"cannot be rendered: no version of 'common' matches \^2"):
        prompts.update_prompt_set(world.owner, support, dependencies={"common": "^2"})


def test_prose_that_says_render_does_not_force_format_2(world):
    prompts.update_prompt(world.owner, world.prompt, template="Hello {{ name }}! Do not render HTML.")
    prompts.create_version(world.owner, world.pset, "1.1.0")
    lock(world, world.pset)
    publish(world.admin, world.pset)
    assert dist_queries.current_bundle(world.project, (1, 2, 3))["format_version"] == 1
