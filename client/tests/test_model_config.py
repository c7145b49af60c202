"""A chat prompt's model configuration: its JSON Schema, check_config's errors and merge's rules."""

import copy
import importlib.resources
import json
import math
import pickle
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from anvil_client import model_config as mc
from anvil_client.model_config import ConfigError, check_config, check_config_all, merge

PARAMETERS = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
ANSWER = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"],
          "additionalProperties": False}


def tool(name="lookup", **function):
    return {"type": "function", "function": {"name": name, **function}}


FULL = {
    "model": "gpt-4o",
    "temperature": 0.2,
    "top_p": 0.9,
    "max_tokens": 512,
    "stop": ["\n\n", "END"],
    "seed": 42,
    "response_format": {"type": "json_schema",
                        "json_schema": {"name": "answer", "description": "The answer", "schema": ANSWER, "strict": True}},
    "tools": [tool("lookup", description="Find a city", parameters=PARAMETERS, strict=False), tool("now")],
    "frequency_penalty": 0.5,
    "top_k": 40,
}


def error_of(config) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        check_config(config)
    return caught.value


# -- the schema ----------------------------------------------------------------------------------------------

def test_the_schema_is_a_valid_draft_2020_12_schema_shipped_in_the_package():
    Draft202012Validator.check_schema(mc.SCHEMA)
    assert mc.SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    shipped = importlib.resources.files("anvil_client").joinpath("model_config.schema.json").read_text()
    assert json.loads(shipped) == mc.SCHEMA


def test_the_schema_file_is_listed_as_package_data_so_wheels_carry_it():
    tomllib = pytest.importorskip("tomllib")
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert "model_config.schema.json" in pyproject["tool"]["setuptools"]["package-data"]["anvil_client"]


def test_the_known_keys_are_the_schemas_properties():
    assert mc.KNOWN_KEYS == ("model", "temperature", "top_p", "max_tokens", "stop", "seed", "response_format", "tools")
    assert mc.SCHEMA["additionalProperties"] is True


def described_properties(schema, where="") -> list[tuple[str, bool]]:
    found = []
    for name, sub in schema.get("properties", {}).items():
        found.append((f"{where}{name}", "description" in sub or "$ref" in sub))
        found += described_properties(sub, f"{where}{name}.")
    for name, sub in schema.get("$defs", {}).items():
        found += described_properties(sub, f"$defs.{name}.")
    return found


def test_every_property_of_the_schema_has_a_description():
    properties = described_properties(mc.SCHEMA)
    assert {"response_format.type", "$defs.json_schema.schema", "$defs.tool.function.parameters"} <= dict(properties).keys()
    assert [name for name, described in properties if not described] == []


def test_a_full_configuration_is_valid_for_the_plain_schema_too():
    assert list(Draft202012Validator(mc.SCHEMA).iter_errors(FULL)) == []


# -- valid configurations ------------------------------------------------------------------------------------

def test_a_valid_configuration_comes_back_as_an_equal_independent_copy():
    original = copy.deepcopy(FULL)
    checked = check_config(FULL)
    assert checked == FULL and check_config_all(FULL) == []
    checked["tools"][0]["function"]["parameters"]["properties"]["city"]["type"] = "integer"
    checked["stop"].append("x")
    checked["response_format"]["json_schema"]["schema"]["required"].clear()
    assert FULL == original


@pytest.mark.parametrize("config", [
    {},
    {"temperature": 0}, {"temperature": 2}, {"temperature": 1.5},
    {"top_p": 0}, {"top_p": 1},
    {"max_tokens": 1},
    {"stop": ""}, {"stop": "END"}, {"stop": ["a"]}, {"stop": ["a", "b", "c", "d"]},
    {"seed": -7}, {"seed": 0},
    {"response_format": {"type": "text"}}, {"response_format": {"type": "json_object"}},
    {"response_format": {"type": "json_schema", "json_schema": {"name": "a" * 64, "schema": {}}}},
    {"tools": [tool("a-b_C9")]},
    {"tools": [tool(parameters={"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"})]},
])
def test_valid_values_of_the_known_keys_are_accepted(config):
    assert check_config(config) == config


def test_other_keys_are_kept_as_they_are():
    config = {"model": "m", "frequency_penalty": -0.5, "top_k": 40, "logit_bias": {"50256": -100},
              "metadata": {"team": ["a", {"b": None}]}, "Weird key": True}
    assert check_config(config) == config


def test_tuples_become_lists_and_whole_floats_of_integer_keys_become_ints():
    checked = check_config({"stop": ("a", "b"), "max_tokens": 256.0, "seed": 3.0, "x": (1, (2,))})
    assert checked == {"stop": ["a", "b"], "max_tokens": 256, "seed": 3, "x": [1, [2]]}
    assert type(checked["max_tokens"]) is int and type(checked["seed"]) is int


# -- errors name the key ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("config, key, message", [
    ({"model": ""}, "model", 'model must be a non-empty string (the model\'s id), got ""'),
    ({"model": 4}, "model", "model must be a non-empty string (the model's id), got 4"),
    ({"temperature": 3}, "temperature", "temperature must be a number between 0 and 2, got 3"),
    ({"temperature": -0.1}, "temperature", "temperature must be a number between 0 and 2, got -0.1"),
    ({"temperature": "0.5"}, "temperature", 'temperature must be a number between 0 and 2, got "0.5"'),
    ({"temperature": True}, "temperature", "temperature must be a number between 0 and 2, got true"),
    ({"top_p": 1.5}, "top_p", "top_p must be a number between 0 and 1, got 1.5"),
    ({"max_tokens": 0}, "max_tokens", "max_tokens must be a whole number of at least 1, got 0"),
    ({"max_tokens": 10.5}, "max_tokens", "max_tokens must be a whole number of at least 1, got 10.5"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop",
     'stop must be a string or a list of 1 to 4 strings, got ["a", "b", "c", "d", "e"]'),
    ({"stop": []}, "stop", "stop must be a string or a list of 1 to 4 strings, got []"),
    ({"stop": ["a", 1]}, "stop", 'stop must be a string or a list of 1 to 4 strings, got ["a", 1]'),
    ({"seed": "42"}, "seed", 'seed must be a whole number, got "42"'),
    ({"response_format": "json"}, "response_format",
     'response_format must be an object such as {"type": "json_object"}, got "json"'),
    ({"response_format": {}}, "response_format.type", "response_format.type is required"),
    ({"response_format": {"type": "xml"}}, "response_format.type",
     'response_format.type must be one of "text", "json_object" or "json_schema", got "xml"'),
    ({"response_format": {"type": "json_schema"}}, "response_format.json_schema",
     'response_format.json_schema is required when response_format.type is "json_schema"'),
    ({"response_format": {"type": "json_object", "json_schema": {"name": "a", "schema": {}}}},
     "response_format.json_schema", 'response_format.json_schema is allowed only when response_format.type is "json_schema"'),
    ({"response_format": {"type": "json_object", "schema": {}}}, "response_format.schema",
     "response_format.schema is not a known key: response_format may hold only type and json_schema"),
    ({"response_format": {"type": "json_schema", "json_schema": {"schema": {}}}}, "response_format.json_schema.name",
     "response_format.json_schema.name is required"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "a" * 65, "schema": {}}}},
     "response_format.json_schema.name", "response_format.json_schema.name must be a name of 1 to 64 letters, digits, "
     'underscores or hyphens, got "' + "a" * 58 + "…"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "a"}}}, "response_format.json_schema.schema",
     "response_format.json_schema.schema is required"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": True}}},
     "response_format.json_schema.schema", "response_format.json_schema.schema must be a JSON Schema object, got true"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {}, "strict": "yes"}}},
     "response_format.json_schema.strict", 'response_format.json_schema.strict must be true or false, got "yes"'),
    ({"tools": {}}, "tools", "tools must be a non-empty list of function tools, got {}"),
    ({"tools": []}, "tools", "tools must be a non-empty list of function tools, got []"),
    ({"tools": [tool(), "lookup"]}, "tools[1]",
     'tools[1] must be a function tool, {"type": "function", "function": {"name": ...}}, got "lookup"'),
    ({"tools": [{"type": "custom", "function": {"name": "a"}}]}, "tools[0].type",
     'tools[0].type must be "function", got "custom"'),
    ({"tools": [{"type": "function"}]}, "tools[0].function", "tools[0].function is required"),
    ({"tools": [{"type": "function", "function": {}}]}, "tools[0].function.name", "tools[0].function.name is required"),
    ({"tools": [tool("get weather")]}, "tools[0].function.name",
     'tools[0].function.name must be a name of 1 to 64 letters, digits, underscores or hyphens, got "get weather"'),
    ({"tools": [tool(description=3)]}, "tools[0].function.description",
     "tools[0].function.description must be a string, got 3"),
    ({"tools": [tool(parameters=[])]}, "tools[0].function.parameters",
     "tools[0].function.parameters must be a JSON Schema object, got []"),
    ({"tools": [tool(strict=1)]}, "tools[0].function.strict", "tools[0].function.strict must be true or false, got 1"),
    ({"tools": [tool(args={})]}, "tools[0].function.args",
     "tools[0].function.args is not a known key: tools[0].function may hold only name, description, parameters and "
     "strict"),
    ({"tools": [tool("a"), tool("b"), tool("a")]}, "tools[2].function.name",
     'tools[2].function.name "a" is already the name of tools[0]; function names must be unique'),
])
def test_an_invalid_value_is_refused_naming_its_key_in_plain_words(config, key, message):
    error = error_of(config)
    assert (error.key, error.message) == (key, message)
    assert str(error) == message + "."
    assert [(e.key, e.message) for e in check_config_all(config)] == [(key, message)]


def test_every_known_key_has_a_plain_words_message():
    wrong = {"model": [], "temperature": [], "top_p": [], "max_tokens": [], "stop": {}, "seed": [],
             "response_format": [], "tools": "x"}
    assert set(wrong) == set(mc.KNOWN_KEYS)
    errors = check_config_all(wrong)
    assert sorted(e.key for e in errors) == sorted(mc.KNOWN_KEYS)
    for error in errors:
        assert error.message.startswith(f"{error.key} must be ") and " is invalid: " not in error.message


# -- nested JSON Schemas -------------------------------------------------------------------------------------

def test_an_invalid_response_schema_is_refused_with_its_path():
    config = {"response_format": {"type": "json_schema", "json_schema": {
        "name": "answer", "schema": {"type": "object", "properties": {"answer": {"type": "strnig"}}}}}}
    error = error_of(config)
    assert error.key == "response_format.json_schema.schema"
    assert error.message.startswith("response_format.json_schema.schema is not a valid JSON Schema: "
                                    "at properties.answer.type, ")
    assert "strnig" in error.message


def test_an_invalid_parameters_schema_is_refused_with_its_tools_path():
    config = {"tools": [tool("a", parameters=PARAMETERS), tool("b", parameters={"type": "object", "required": "city"})]}
    error = error_of(config)
    assert error.key == "tools[1].function.parameters"
    assert error.message.startswith("tools[1].function.parameters is not a valid JSON Schema: at required, ")


def test_a_nested_schema_is_checked_with_the_dialect_its_schema_keyword_names():
    # Draft 4's boolean exclusiveMaximum is invalid in draft 2020-12, whose exclusiveMaximum is a number.
    draft4 = {"$schema": "http://json-schema.org/draft-04/schema#", "type": "number", "maximum": 5,
              "exclusiveMaximum": True}
    assert check_config({"tools": [tool(parameters=draft4)]})
    without = {key: value for key, value in draft4.items() if key != "$schema"}
    assert error_of({"tools": [tool(parameters=without)]}).key == "tools[0].function.parameters"


def test_a_nested_schema_with_an_unknown_dialect_is_refused():
    error = error_of({"tools": [tool(parameters={"$schema": "https://example.com/my-schema", "type": "object"})]})
    assert error.key == "tools[0].function.parameters"
    assert '"https://example.com/my-schema" is no JSON Schema dialect known here' in error.message


def test_a_schema_given_with_a_text_response_format_is_not_checked_twice():
    config = {"response_format": {"type": "text", "json_schema": {"name": "a", "schema": {"type": 5}}}}
    assert [e.key for e in check_config_all(config)] == ["response_format.json_schema"]


# -- JSON data only ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, key, message", [
    (float("nan"), "temperature", "temperature must be a finite number, got nan"),
    (math.inf, "temperature", "temperature must be a finite number, got inf"),
    ({1, 2}, "temperature", "temperature must be JSON data (an object, a list, a string, a number, true, false or "
                            "null), got a Python set"),
])
def test_values_that_are_no_json_data_are_refused_naming_where(value, key, message):
    error = error_of({"temperature": value})
    assert (error.key, error.message) == (key, message)
    assert [e.key for e in check_config_all({"temperature": value})] == [key]  # not "must be a number" as well


def test_unknown_keys_must_hold_json_data_too():
    error = error_of({"metadata": {"deep": [b"bytes"]}})
    assert (error.key, error.message) == ("metadata.deep[0]", "metadata.deep[0] must be JSON data (an object, a list, "
                                                              "a string, a number, true, false or null), got a Python "
                                                              "bytes")
    assert error_of({"top_k": float("-inf")}).key == "top_k"
    assert error_of({"logit_bias": {"50256": object()}}).key == 'logit_bias["50256"]'
    error = error_of({"metadata": {1: "x"}})
    assert (error.key, error.message) == ("metadata", "metadata has a key that is not a string: 1 (JSON object keys "
                                                      "are strings)")


@pytest.mark.parametrize("config", [None, [], "gpt-4o", 3, [("model", "m")]])
def test_a_configuration_that_is_no_object_is_refused(config):
    error = error_of(config)
    assert error.key == "" and error.message.startswith("The model configuration must be a JSON object, got ")


def test_a_configuration_nested_without_end_is_refused_not_crashed():
    looped: dict = {}
    looped["again"] = looped
    assert error_of({"metadata": looped}).message == "The model configuration is nested too deeply"


# -- all errors, in key-path order -----------------------------------------------------------------------------

def test_all_problems_are_listed_in_key_path_order_and_check_config_raises_the_first():
    config = {"top_p": 2, "temperature": 5, "tools": [tool("b"), tool("a", parameters={"type": 1}), 7, tool("b")],
              "max_tokens": 0, "model": "gpt-4o", "stop": 3, "x": {3}}
    keys = [e.key for e in check_config_all(config)]
    assert keys == ["max_tokens", "stop", "temperature", "tools[1].function.parameters", "tools[2]",
                    "tools[3].function.name", "top_p", "x"]
    assert error_of(config).key == "max_tokens"
    assert [e.key for e in check_config_all(dict(reversed(list(config.items()))))] == keys


def test_list_indexes_sort_as_numbers():
    config = {"tools": [tool(f"t{i}", strict=i == 1 and "no") for i in range(12)]}
    config["tools"][10]["function"]["strict"] = "no"
    assert [e.key for e in check_config_all(config)] == ["tools[1].function.strict", "tools[10].function.strict"]


# -- the error ------------------------------------------------------------------------------------------------

def test_a_config_error_is_a_value_error_that_pickles():
    error = error_of({"temperature": 3})
    assert isinstance(error, ValueError)
    copied = pickle.loads(pickle.dumps(error))
    assert type(copied) is ConfigError and (copied.key, copied.message) == (error.key, error.message)
    assert str(copied) == "temperature must be a number between 0 and 2, got 3."


# -- merge ------------------------------------------------------------------------------------------------------

DEFAULTS = {"model": "gpt-4o", "temperature": 0.7, "max_tokens": 256,
            "tools": [tool("lookup", parameters=PARAMETERS)], "response_format": {"type": "json_object"}}


def test_the_prompts_keys_win_over_the_defaults():
    merged = merge(DEFAULTS, {"temperature": 0.1, "seed": 1})
    assert merged == {"model": "gpt-4o", "temperature": 0.1, "max_tokens": 256,
                      "tools": [tool("lookup", parameters=PARAMETERS)], "response_format": {"type": "json_object"},
                      "seed": 1}
    assert list(merged) == ["model", "temperature", "max_tokens", "tools", "response_format", "seed"]


def test_none_in_the_prompts_configuration_removes_the_default():
    merged = merge(DEFAULTS, {"temperature": None, "tools": None, "stop": None})
    assert merged == {"model": "gpt-4o", "max_tokens": 256, "response_format": {"type": "json_object"}}


def test_none_in_the_defaults_is_left_out():
    assert merge({"model": "m", "seed": None}, {}) == {"model": "m"}


def test_the_merge_is_shallow_a_prompts_value_replaces_the_default_whole():
    merged = merge(DEFAULTS, {"tools": [tool("now")],
                              "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {}}}})
    assert merged["tools"] == [tool("now")]
    assert merged["response_format"] == {"type": "json_schema", "json_schema": {"name": "a", "schema": {}}}


def test_the_merged_result_is_independent_of_both_arguments():
    defaults, config = copy.deepcopy(DEFAULTS), {"stop": ["a"]}
    merged = merge(defaults, config)
    merged["tools"][0]["function"]["parameters"]["required"].append("country")
    merged["stop"].append("b")
    assert defaults == DEFAULTS and config == {"stop": ["a"]}


def test_a_prompts_own_configuration_is_checked_through_merge():
    with pytest.raises(ConfigError):
        check_config({"temperature": None})
    assert check_config(merge({}, {"temperature": None, "top_p": 0.5})) == {"top_p": 0.5}
