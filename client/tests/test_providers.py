"""The OpenAI and Anthropic forms of a chat prompt, checked against the installed SDKs' own parameter types
(no network: only the signatures of ``create`` and the TypedDicts its parameters are typed with)."""

import copy
import functools
import inspect
import subprocess
import sys
from collections.abc import Iterator

import pytest
from anthropic.resources.messages import Messages
from anthropic.types import MessageParam, ToolParam
from anthropic.types import message_create_params as anthropic_params
from openai.resources.chat.completions import Completions
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam
from openai.types.chat import completion_create_params as openai_params
from pydantic import ConfigDict, TypeAdapter, ValidationError

from anvil_client.providers import ProviderError, anthropic_arguments, openai_arguments

OPENAI_PARAMETERS = set(inspect.signature(Completions.create).parameters) - {"self"}
ANTHROPIC_PARAMETERS = set(inspect.signature(Messages.create).parameters) - {"self"}
# Strict: no type coercion ("5" is no int); forbid: a key the TypedDict does not declare is an error.
STRICT = ConfigDict(strict=True, extra="forbid")


def sdk_valid(sdk_type, value):
    """``value`` validated against one of the SDK's types (wrapped in a list, since a TypedDict takes no
    config of its own: the nested ones inherit it); lazily validated iterables are run through."""
    adapter = adapter_for(sdk_type)  # (held while the lazy iterables are run through: they need it alive)
    (validated,) = adapter.validate_python([value])
    return run_through(validated)


@functools.cache
def adapter_for(sdk_type):
    return TypeAdapter(list[sdk_type], config=STRICT)


def run_through(value):
    if isinstance(value, dict):
        return {key: run_through(item) for key, item in value.items()}
    if isinstance(value, (list, Iterator)):
        return [run_through(item) for item in value]
    return value


PARAMETERS = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
ANSWER = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"],
          "additionalProperties": False}
LOOKUP = {"type": "function",
          "function": {"name": "lookup", "description": "Find a city", "parameters": PARAMETERS, "strict": True}}
NOW = {"type": "function", "function": {"name": "now"}}
MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "developer", "content": "Answer in French."},
    {"role": "user", "content": "Where is Lyon?", "name": "ada"},
    {"role": "assistant", "content": "In France."},
    {"role": "user", "content": [{"type": "text", "text": "And Nantes?"}]},
]
OPENAI_CONFIG = {
    "model": "gpt-4o", "temperature": 0.2, "top_p": 0.9, "max_tokens": 512, "stop": ["\n\n", "END"], "seed": 42,
    "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": ANSWER, "strict": True}},
    "tools": [LOOKUP, NOW], "frequency_penalty": 0.5,
}
ANTHROPIC_CONFIG = {"model": "claude-sonnet-4-5", "max_tokens": 1024, "stop": "END", "tools": [LOOKUP, NOW],
                    "metadata": {"user_id": "u-1"}}


def refused(make, messages, config) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        make(messages, config)
    return caught.value


def test_the_sdk_type_check_itself_refuses_wrong_shapes():
    """Guards the checks below: strict validation must refuse a wrong shape, not coerce or ignore it."""
    for sdk_type, wrong in [
        (ChatCompletionMessageParam, {"role": "user", "content": "hi", "nmae": "ada"}),
        (ChatCompletionMessageParam, {"role": "tool", "content": "hi"}),
        (ChatCompletionToolParam, {"type": "function", "function": {"name": "a", "input_schema": {}}}),
        (MessageParam, {"role": "user", "content": "hi", "name": "ada"}),
        (ToolParam, {"name": "a", "parameters": {"type": "object"}}),
        (anthropic_params.MessageCreateParamsNonStreaming,
         {"model": "m", "max_tokens": "5", "messages": [{"role": "user", "content": "hi"}]}),
        (openai_params.CompletionCreateParamsNonStreaming,
         {"model": "m", "messages": [{"role": "usr", "content": "hi"}]}),
    ]:
        with pytest.raises(ValidationError):
            sdk_valid(sdk_type, wrong)


# -- OpenAI ------------------------------------------------------------------------------------------------------

def test_openai_arguments_are_the_messages_and_the_configuration_as_they_are():
    arguments = openai_arguments(MESSAGES, OPENAI_CONFIG)
    assert arguments == {"model": "gpt-4o", "messages": MESSAGES,
                         **{key: value for key, value in OPENAI_CONFIG.items() if key != "model"}}
    assert list(arguments)[:2] == ["model", "messages"]


def test_openai_arguments_are_parameters_the_sdk_accepts():
    arguments = openai_arguments(MESSAGES, OPENAI_CONFIG)
    assert set(arguments) <= OPENAI_PARAMETERS
    assert sdk_valid(openai_params.CompletionCreateParamsNonStreaming, arguments) == arguments
    for message in arguments["messages"]:
        sdk_valid(ChatCompletionMessageParam, message)
    for tool in arguments["tools"]:
        assert sdk_valid(ChatCompletionToolParam, tool) == tool
    sdk_valid(openai_params.ResponseFormat, arguments["response_format"])


@pytest.mark.parametrize("response_format", [
    {"type": "text"}, {"type": "json_object"},
    {"type": "json_schema", "json_schema": {"name": "a", "description": "d", "schema": {}}},
])
def test_every_response_format_is_one_the_sdk_accepts(response_format):
    arguments = openai_arguments(MESSAGES, {"model": "m", "response_format": response_format})
    assert sdk_valid(openai_params.CompletionCreateParamsNonStreaming, arguments)["response_format"] == response_format


def test_openai_needs_a_model():
    error = refused(openai_arguments, MESSAGES, {"temperature": 0.5})
    assert error.key == "model" and str(error).startswith("model is required for OpenAI")


def test_openai_keeps_unknown_keys_as_they_are():
    arguments = openai_arguments(MESSAGES, {"model": "m", "logit_bias": {"50256": -100}, "top_k": 40,
                                            "extra_body": {"top_k": 40}})
    assert arguments["logit_bias"] == {"50256": -100} and arguments["top_k"] == 40
    assert arguments["extra_body"] == {"top_k": 40}
    assert "top_k" not in OPENAI_PARAMETERS  # so the SDK refuses it rather than it being lost; extra_body sends it


# -- Anthropic ----------------------------------------------------------------------------------------------------

def test_anthropic_moves_system_and_developer_messages_to_system():
    arguments = anthropic_arguments(MESSAGES, ANTHROPIC_CONFIG)
    assert arguments["system"] == "You are terse.\n\nAnswer in French."
    assert arguments["messages"] == [
        {"role": "user", "content": "Where is Lyon?"},
        {"role": "assistant", "content": "In France."},
        {"role": "user", "content": [{"type": "text", "text": "And Nantes?"}]},
    ]
    assert list(arguments)[:4] == ["model", "max_tokens", "system", "messages"]


def test_system_messages_anywhere_keep_their_order():
    messages = [{"role": "user", "content": "Hi"}, {"role": "developer", "content": "B"},
                {"role": "system", "content": "A"}, {"role": "assistant", "content": "Hello"}]
    arguments = anthropic_arguments(messages, {"model": "m", "max_tokens": 5})
    assert arguments["system"] == "B\n\nA"
    assert arguments["messages"] == [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]


def test_without_system_messages_there_is_no_system_and_an_assistant_may_come_first():
    messages = [{"role": "assistant", "content": "How can I help?"}, {"role": "user", "content": "Hi"}]
    arguments = anthropic_arguments(messages, {"model": "m", "max_tokens": 5})
    assert arguments == {"model": "m", "max_tokens": 5, "messages": messages}


def test_anthropic_arguments_are_parameters_the_sdk_accepts():
    arguments = anthropic_arguments(MESSAGES, ANTHROPIC_CONFIG)
    assert set(arguments) <= ANTHROPIC_PARAMETERS
    assert sdk_valid(anthropic_params.MessageCreateParamsNonStreaming, arguments) == arguments
    for message in arguments["messages"]:
        sdk_valid(MessageParam, message)
    for tool in arguments["tools"]:
        assert sdk_valid(ToolParam, tool) == tool


def test_stop_becomes_stop_sequences():
    base = {"model": "m", "max_tokens": 5}
    assert anthropic_arguments(MESSAGES, {**base, "stop": "END"})["stop_sequences"] == ["END"]
    arguments = anthropic_arguments(MESSAGES, {**base, "stop": ["a", "b"]})
    assert arguments["stop_sequences"] == ["a", "b"] and "stop" not in arguments
    sdk_valid(anthropic_params.MessageCreateParamsNonStreaming, arguments)


def test_openai_function_tools_become_anthropic_tools():
    arguments = anthropic_arguments(MESSAGES, {"model": "m", "max_tokens": 5, "tools": [LOOKUP, NOW]})
    assert arguments["tools"] == [
        {"name": "lookup", "description": "Find a city", "input_schema": PARAMETERS, "strict": True},
        {"name": "now", "input_schema": {"type": "object", "properties": {}}},
    ]


def test_anthropic_needs_a_model_and_max_tokens():
    assert refused(anthropic_arguments, MESSAGES, {"max_tokens": 5}).key == "model"
    error = refused(anthropic_arguments, MESSAGES, {"model": "m"})
    assert error.key == "max_tokens" and error.message.startswith("max_tokens is required for Anthropic")


@pytest.mark.parametrize("key, value", [
    ("response_format", {"type": "json_schema", "json_schema": {"name": "answer", "schema": ANSWER}}),
    ("response_format", {"type": "json_object"}),
    ("response_format", {"type": "text"}),
    ("seed", 42),
    ("temperature", 0.2),
    ("top_p", 0.9),
])
def test_keys_the_messages_api_cannot_express_are_refused_not_dropped(key, value):
    error = refused(anthropic_arguments, MESSAGES, {"model": "m", "max_tokens": 5, key: value})
    assert error.key == key
    assert error.message.startswith(f"{key} cannot be sent to Anthropic: ")
    assert error.message.endswith("leave it out of the model configuration for Anthropic (null removes a prompt "
                                  "set's default)")


def test_the_installed_anthropic_sdk_indeed_has_no_such_parameters():
    """Why temperature and top_p are refused: anthropic's messages.create lost its sampling parameters."""
    assert {"temperature", "top_p", "seed", "response_format"}.isdisjoint(ANTHROPIC_PARAMETERS)
    assert {"temperature", "top_p"} <= OPENAI_PARAMETERS


def test_anthropic_keeps_unknown_keys_as_they_are():
    arguments = anthropic_arguments(MESSAGES, {"model": "m", "max_tokens": 5, "metadata": {"user_id": "u"},
                                               "thinking": {"type": "adaptive"}})
    assert arguments["metadata"] == {"user_id": "u"} and arguments["thinking"] == {"type": "adaptive"}
    sdk_valid(anthropic_params.MessageCreateParamsNonStreaming, arguments)


def test_anthropic_refuses_keys_that_would_replace_what_comes_from_the_messages():
    assert refused(anthropic_arguments, MESSAGES, {"model": "m", "max_tokens": 5, "system": "x"}).key == "system"
    error = refused(anthropic_arguments, MESSAGES, {"model": "m", "max_tokens": 5, "stop": "a", "stop_sequences": ["b"]})
    assert error.key == "stop_sequences"


def test_a_system_message_must_be_text_for_anthropic():
    messages = [{"role": "system", "content": [{"type": "text", "text": "x"}]}, {"role": "user", "content": "Hi"}]
    assert refused(anthropic_arguments, messages, {"model": "m", "max_tokens": 5}).key == "messages[0].content"
    assert openai_arguments(messages, {"model": "m"})["messages"] == messages


# -- both ----------------------------------------------------------------------------------------------------------

BOTH = [(openai_arguments, OPENAI_CONFIG), (anthropic_arguments, ANTHROPIC_CONFIG)]


@pytest.mark.parametrize("make, config", BOTH)
def test_mutating_the_result_never_changes_the_inputs(make, config):
    messages, settings = copy.deepcopy(MESSAGES), copy.deepcopy(config)
    arguments = make(messages, settings)
    for message in arguments["messages"]:
        if isinstance(message["content"], list):
            message["content"][0]["text"] = "changed"
            message["content"].append({"type": "text", "text": "more"})
        message["role"] = "changed"
    arguments["messages"].clear()
    schema = arguments["tools"][0].get("input_schema") or arguments["tools"][0]["function"]["parameters"]
    schema["properties"]["city"]["type"] = "integer"
    schema["required"].append("country")
    arguments["tools"].clear()
    stop = arguments.get("stop") or arguments["stop_sequences"]
    stop.append("changed")
    if "response_format" in arguments:
        arguments["response_format"]["json_schema"]["schema"]["properties"].clear()
    assert messages == MESSAGES and settings == config


@pytest.mark.parametrize("make, config", BOTH)
def test_changing_the_inputs_later_never_changes_the_result(make, config):
    messages, settings = copy.deepcopy(MESSAGES), copy.deepcopy(config)
    arguments = make(messages, settings)
    expected = make(MESSAGES, config)
    messages[4]["content"][0]["text"] = "changed"
    settings["tools"][0]["function"]["parameters"]["properties"].clear()
    settings["tools"][0]["function"]["description"] = "changed"
    assert arguments == expected


@pytest.mark.parametrize("make, config", BOTH)
def test_an_invalid_configuration_is_refused_naming_the_key(make, config):
    for wrong, key in [({"temperature": 3}, "temperature"), ({"max_tokens": 0}, "max_tokens"),
                       ({"tools": [LOOKUP, {"type": "function", "function": {"name": "lookup"}}]},
                        "tools[1].function.name"),
                       ({"tools": [{"type": "function", "function": {"name": "a", "parameters": {"type": "strnig"}}}]},
                        "tools[0].function.parameters")]:
        error = refused(make, MESSAGES, {**config, **wrong})
        assert error.key == key and key in str(error)


@pytest.mark.parametrize("make, config", BOTH)
def test_none_in_the_configuration_counts_as_absent(make, config):
    unset = {"temperature": None, "seed": None, "response_format": None, "top_k": None}
    without = {key: value for key, value in config.items() if key not in unset}
    assert make(MESSAGES, {**config, **unset}) == make(MESSAGES, without)
    assert not unset.keys() & make(MESSAGES, {**config, **unset}).keys()


@pytest.mark.parametrize("make, config", BOTH)
def test_messages_are_not_a_configuration_key(make, config):
    assert refused(make, MESSAGES, {**config, "messages": []}).key == "messages"


@pytest.mark.parametrize("make, config", BOTH)
@pytest.mark.parametrize("messages, key", [
    ("Hello", "messages"),
    ([{"role": "user", "content": "Hi"}, "Hello"], "messages[1]"),
    ([{"role": "tool", "content": "42"}], "messages[0].role"),
    ([{"content": "Hi"}], "messages[0].role"),
    ([{"role": "user"}], "messages[0].content"),
    ([{"role": "user", "content": 42}], "messages[0].content"),
    ([{"role": "user", "content": "Hi", "name": 7}], "messages[0].name"),
    ([{"role": "assistant", "content": "", "tool_calls": []}], "messages[0].tool_calls"),
])
def test_a_malformed_message_is_refused_naming_it(make, config, messages, key):
    error = refused(make, messages, config)
    assert error.key == key and str(error).startswith(key)


def test_a_provider_error_is_a_value_error():
    error = refused(openai_arguments, MESSAGES, {})
    assert isinstance(error, ValueError) and str(error).endswith(".") and error.message in str(error)


def test_neither_sdk_is_imported():
    code = ("import sys, anvil_client.providers, anvil_client.model_config; "
            "print(sorted(m for m in ('openai', 'anthropic') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
