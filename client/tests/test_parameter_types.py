"""Parameter types beyond string/number/boolean: integer, enum, list, object (and schemas)."""

from __future__ import annotations

import ast
import json
import pickle
import subprocess
import sys
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anvil_client.templates import (
    PARAMETER_TYPES,
    Parameter,
    ParameterDefinitionError,
    ParameterError,
    coerce_values,
    prepare,
    render,
)

CUSTOMER_SCHEMA = {
    "type": "object",
    "properties": {"tier": {"enum": ["free", "pro"]}, "name": {"type": "string"}},
    "required": ["name"],
}
EXAMPLE_SCHEMA = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q", "a"]}


def one(declaration: dict[str, Any], value: object) -> object:
    """The coerced value of the single parameter ``declaration`` given ``value``."""
    return coerce_values([declaration], {declaration["name"]: value})[declaration["name"]]


def refused(declaration: dict[str, Any], value: object) -> ParameterError:
    with pytest.raises(ParameterError) as info:
        one(declaration, value)
    assert info.value.parameter == declaration["name"]
    return info.value


def definition_error(declaration: dict[str, Any]) -> ParameterDefinitionError:
    with pytest.raises(ParameterDefinitionError) as info:
        Parameter.from_dict(declaration)
    assert info.value.parameter == declaration["name"]
    return info.value


def test_the_types() -> None:
    assert PARAMETER_TYPES == ("string", "number", "boolean", "integer", "enum", "list", "object")


# --- integer -------------------------------------------------------------------

INTEGER = {"name": "n", "type": "integer"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3, 3), (-7, -7), (0, 0), (10**50, 10**50), ("3", 3), (" -4 ", -4), ("+2", 2), ("007", 7),
     (3.0, 3), (-0.0, 0), (1e20, 10**20)],
)
def test_integer_accepts(value: object, expected: int) -> None:
    result = one(INTEGER, value)
    assert result == expected and type(result) is int


@pytest.mark.parametrize(
    ("value", "shown"),
    [(2.5, "2.5"), ("2.5", "'2.5'"), ("3.0", "'3.0'"), ("1e3", "'1e3'"), ("abc", "'abc'"), ("", "''"),
     ("\u0663", "'\u0663'"), ("- 3", "'- 3'"), (True, "true"), (False, "false"), (float("inf"), "inf"),
     (float("nan"), "nan"), ([1], "a list"), ({"a": 1}, "an object")],
)
def test_integer_refuses(value: object, shown: str) -> None:
    assert str(refused(INTEGER, value)) == f"parameter 'n' must be an integer, got {shown}"


def test_integer_refuses_huge_numbers() -> None:
    assert "too large" in str(refused(INTEGER, 10**20000))
    assert "must be an integer" in str(refused(INTEGER, "9" * 1000))


def test_integer_in_a_template() -> None:
    assert render("{{ n | plus: 1 }}", {"n": "41"}, [INTEGER]) == "42"


# --- enum ----------------------------------------------------------------------

TONE = {"name": "tone", "type": "enum", "values": ["formal", "casual"]}


def test_enum_accepts_its_values_exactly() -> None:
    assert one(TONE, "formal") == "formal"
    assert one(TONE, "casual") == "casual"
    assert render("{% if tone == 'casual' %}hey{% else %}dear sir{% endif %}", {"tone": "casual"}, [TONE]) == "hey"


@pytest.mark.parametrize(("value", "shown"), [("rude", "'rude'"), ("Formal", "'Formal'"), (" formal", "' formal'"),
                                              ("", "''"), (3, "3"), (True, "true"), (["formal"], "a list")])
def test_enum_refuses_anything_else_listing_the_values(value: object, shown: str) -> None:
    assert str(refused(TONE, value)) == f"parameter 'tone' must be one of 'formal', 'casual', got {shown}"


@pytest.mark.parametrize(
    ("values", "text"),
    [(None, "needs 'values'"), ([], "got an empty list"), ("formal", "got 'formal'"), ({"a": 1}, "got an object"),
     (["a", "a"], "'a' more than once"), (["a", ""], "has ''"), (["a", 3], "has 3"), (["a", None], "has null")],
)
def test_enum_values_must_be_distinct_non_empty_strings(values: object, text: str) -> None:
    declaration: dict[str, Any] = {"name": "tone", "type": "enum"}
    if values is not None:
        declaration["values"] = values
    message = str(definition_error(declaration))
    assert "'tone'" in message and "values" in message and text in message


def test_enum_values_are_a_tuple_and_to_dict_gives_a_list() -> None:
    p = Parameter.from_dict(TONE)
    assert p.values == ("formal", "casual")
    assert p.to_dict()["values"] == ["formal", "casual"]
    assert p == Parameter("tone", "enum", values=("formal", "casual"))


# --- list ----------------------------------------------------------------------

EXAMPLES = {"name": "examples", "type": "list", "items": "object"}


def test_list_items_default_to_string_and_are_normalised() -> None:
    p = Parameter.from_dict({"name": "tags", "type": "list"})
    assert p.items == "string"
    assert p.to_dict()["items"] == "string"
    assert one({"name": "tags", "type": "list"}, ["a", 1, 2.5, True]) == ["a", "1", "2.5", "true"]


@pytest.mark.parametrize(
    ("items", "value", "expected"),
    [("integer", ["1", "2"], [1, 2]), ("integer", (3, 4.0, " -5 "), [3, 4, -5]), ("number", ["1", "2.5", 3], [1, 2.5, 3]),
     ("boolean", ["true", False, " FALSE "], [True, False, False]), ("string", [], []),
     ("object", [{"q": "a"}, MappingProxyType({"q": "b"})], [{"q": "a"}, {"q": "b"}])],
)
def test_list_items_are_coerced(items: str, value: object, expected: list[object]) -> None:
    result = one({"name": "xs", "type": "list", "items": items}, value)
    assert result == expected and type(result) is list
    assert [type(x) for x in result] == [type(x) for x in expected]


@pytest.mark.parametrize(("value", "shown"), [("a,b", "'a,b'"), ("", "''"), ({"a": 1}, "an object"), (3, "3")])
def test_a_list_parameter_needs_a_list_and_never_splits_a_string(value: object, shown: str) -> None:
    declaration = {"name": "tags", "type": "list", "items": "string"}
    assert str(refused(declaration, value)) == f"parameter 'tags' must be a list, got {shown}"


@pytest.mark.parametrize(
    ("items", "value", "message"),
    [("object", [{"q": "a"}, {"q": "b"}, "x"], "parameter 'examples' item 2 must be an object, got 'x'"),
     ("object", [[1]], "parameter 'examples' item 0 must be an object, got a list"),
     ("object", [{}, {1: "a"}], "parameter 'examples' item 1 has a non-string key 1"),
     ("object", [{"a": float("nan")}], "parameter 'examples' item 0 contains a non-finite number (nan)"),
     ("integer", [1, "x"], "parameter 'examples' item 1 must be an integer, got 'x'"),
     ("integer", [1, 2, 2.5], "parameter 'examples' item 2 must be an integer, got 2.5"),
     ("number", ["x"], "parameter 'examples' item 0 must be a number, got 'x' which is not a number"),
     ("boolean", [True, "yes"], "parameter 'examples' item 1 must be a boolean (true or false), got 'yes'"),
     ("string", ["a", ["b"]], "parameter 'examples' item 1 must be a string, got a list")],
)
def test_list_item_errors_name_the_parameter_and_the_index(items: str, value: object, message: str) -> None:
    assert str(refused({"name": "examples", "type": "list", "items": items}, value)) == message


def test_list_of_objects_is_copied() -> None:
    item = {"q": "a", "tags": ["x"]}
    result = one(EXAMPLES, [item])
    item["q"] = "changed"
    item["tags"].append("y")  # type: ignore[attr-defined]
    assert result == [{"q": "a", "tags": ["x"]}]


def test_unknown_items_type_is_refused() -> None:
    for items in ("list", "enum", "str", 3):
        message = str(definition_error({"name": "xs", "type": "list", "items": items}))
        assert "items" in message and "expected one of: string, number, integer, boolean, object" in message


def test_render_over_a_list_of_objects() -> None:
    source = "{% for ex in examples %}{{ ex.q }}{% endfor %}"
    values = {"examples": [{"q": "a", "a": 1}, {"q": "b", "a": 2}, {"q": "c", "a": 3}]}
    assert render(source, values, [EXAMPLES]) == "abc"
    assert prepare(source, [EXAMPLES]).render(values) == "abc"
    with pytest.raises(ParameterError, match="item 1 must be an object"):
        render(source, {"examples": [{"q": "a"}, "b"]}, [EXAMPLES])


@given(st.lists(st.integers(min_value=-(10**200), max_value=10**200), max_size=30))
def test_a_list_of_ints_with_integer_items_is_unchanged(xs: list[int]) -> None:
    result = one({"name": "xs", "type": "list", "items": "integer"}, xs)
    assert result == xs
    assert all(type(x) is int for x in result)
    assert one({"name": "xs", "type": "list", "items": "integer"}, [str(x) for x in xs]) == xs


# --- object --------------------------------------------------------------------

OBJECT = {"name": "customer", "type": "object"}


def test_object_accepts_mappings_and_copies_them() -> None:
    value = {"name": "Ann", "orders": [{"id": 1}], "vip": True, "note": None}
    result = one(OBJECT, value)
    assert result == value and result is not value
    value["orders"][0]["id"] = 2  # type: ignore[index]
    assert result == {"name": "Ann", "orders": [{"id": 1}], "vip": True, "note": None}
    assert one(OBJECT, MappingProxyType({"a": (1, 2)})) == {"a": [1, 2]}
    assert render("{{ customer.name }} has {{ customer.orders.size }}", {"customer": value}, [OBJECT]) == "Ann has 1"


@pytest.mark.parametrize(
    ("value", "message"),
    [("Ann", "parameter 'customer' must be an object, got 'Ann'"),
     ([{"a": 1}], "parameter 'customer' must be an object, got a list"),
     (3, "parameter 'customer' must be an object, got 3"),
     ({1: "a"}, "parameter 'customer' has a non-string key 1"),
     ({"a": {2: "b"}}, "parameter 'customer' has a non-string key 2"),
     ({"a": {1, 2}}, "parameter 'customer' has unsupported type set")],
)
def test_object_refuses(value: object, message: str) -> None:
    assert str(refused(OBJECT, value)).startswith(message)


# --- schema --------------------------------------------------------------------

def test_object_values_are_checked_against_the_schema() -> None:
    declaration = {**OBJECT, "schema": CUSTOMER_SCHEMA}
    assert one(declaration, {"name": "Ann", "tier": "pro"}) == {"name": "Ann", "tier": "pro"}
    assert str(refused(declaration, {"name": "Ann", "tier": "gold"})) == (
        "parameter 'customer' does not match its schema at 'tier': 'gold' is not one of ['free', 'pro']"
    )
    assert str(refused(declaration, {"tier": "pro"})) == (
        "parameter 'customer' does not match its schema: 'name' is a required property"
    )


def test_schema_error_paths_go_into_nested_values() -> None:
    schema = {"type": "object", "properties": {"address": {"type": "object", "properties": {
        "lines": {"type": "array", "items": {"type": "string"}}}}}}
    error = refused({**OBJECT, "schema": schema}, {"address": {"lines": ["1 Main St", 5]}})
    assert str(error) == "parameter 'customer' does not match its schema at 'address.lines[1]': 5 is not of type 'string'"


def test_list_of_objects_items_are_checked_against_the_schema() -> None:
    declaration = {**EXAMPLES, "schema": EXAMPLE_SCHEMA}
    assert one(declaration, [{"q": "x", "a": 1}]) == [{"q": "x", "a": 1}]
    assert str(refused(declaration, [{"q": "x", "a": 1}, {"q": "y"}])) == (
        "parameter 'examples' item 1 does not match its schema: 'a' is a required property"
    )
    assert str(refused(declaration, [{"q": 3, "a": 1}])) == (
        "parameter 'examples' item 0 does not match its schema at 'q': 3 is not of type 'string'"
    )


def test_long_schema_messages_are_shortened() -> None:
    error = refused({**OBJECT, "schema": {"maxProperties": 1}}, {f"key{i}": "v" * 50 for i in range(50)})
    assert str(error).startswith("parameter 'customer' does not match its schema: ")
    assert str(error).endswith("...") and len(str(error)) < 400


def test_an_invalid_schema_is_refused_when_declared() -> None:
    message = str(definition_error({**OBJECT, "schema": {"type": "thing"}}))
    assert message.startswith("schema of parameter 'customer' is not a valid JSON Schema at 'type': ")
    message = str(definition_error({**OBJECT, "schema": {"properties": {"a": {"pattern": "("}}}}))
    assert "not a valid JSON Schema" in message
    assert "unknown $schema" in str(definition_error({**OBJECT, "schema": {"$schema": "https://example.com/s"}}))
    assert "must be a JSON Schema object" in str(definition_error({**OBJECT, "schema": "object"}))
    assert "non-string key" in str(definition_error({**OBJECT, "schema": {"properties": {1: {}}}}))


def test_a_schema_for_another_draft_is_used_with_that_draft() -> None:
    schema = {"$schema": "http://json-schema.org/draft-04/schema#", "type": "object",
              "properties": {"n": {"type": "number", "maximum": 3, "exclusiveMaximum": True}}}
    declaration = {**OBJECT, "schema": schema}
    assert one(declaration, {"n": 2}) == {"n": 2}
    assert "does not match its schema at 'n'" in str(refused(declaration, {"n": 3}))


def test_a_schema_never_fetches_other_documents() -> None:
    declaration = {**OBJECT, "schema": {"$ref": "https://example.invalid/schema.json"}}
    message = str(refused(declaration, {"a": 1}))
    assert message.startswith("parameter 'customer' could not be checked against its schema")


def test_a_schema_may_refer_within_itself() -> None:
    schema = {"$defs": {"tier": {"enum": ["free", "pro"]}}, "properties": {"tier": {"$ref": "#/$defs/tier"}}}
    declaration = {**OBJECT, "schema": schema}
    assert one(declaration, {"tier": "free"}) == {"tier": "free"}
    assert "'gold' is not one of" in str(refused(declaration, {"tier": "gold"}))


def test_the_schema_validator_is_built_once_per_parameter(monkeypatch: pytest.MonkeyPatch) -> None:
    import jsonschema.validators  # type: ignore[import-untyped,unused-ignore]

    calls = []
    real = jsonschema.validators.validator_for

    def counting(schema: object, *args: object, **kwargs: object) -> Any:
        if schema == CUSTOMER_SCHEMA:  # (jsonschema calls it too, for its metaschemas)
            calls.append(schema)
        return real(schema, *args, **kwargs)

    monkeypatch.setattr(jsonschema.validators, "validator_for", counting)
    prompt = prepare("{{ customer.name }}", [{**OBJECT, "schema": CUSTOMER_SCHEMA}])
    built = len(calls)
    assert built >= 1
    for name in ("Ann", "Bob", "Cy"):
        assert prompt.render({"customer": {"name": name}}) == name
    with pytest.raises(ParameterError):
        prompt.render({"customer": {"name": 1}})
    assert len(calls) == built


def test_the_schema_is_kept_as_a_copy() -> None:
    schema = json.loads(json.dumps(CUSTOMER_SCHEMA))
    p = Parameter("customer", "object", schema=schema)
    schema["properties"]["tier"]["enum"].append("gold")
    assert one(p.to_dict(), {"name": "A", "tier": "pro"}) == {"name": "A", "tier": "pro"}
    assert "does not match" in str(refused(p.to_dict(), {"name": "A", "tier": "gold"}))
    d = p.to_dict()
    d["schema"]["required"].append("tier")
    assert p.schema == CUSTOMER_SCHEMA


def test_jsonschema_is_imported_only_for_a_schema() -> None:
    """parameters.py and coercion.py import jsonschema lazily: declarations and values without a schema never
    need it."""
    package = Path(__file__).parents[1] / "src/anvil_client/templates"
    sources = [(package / module).read_text() for module in ("parameters.py", "coercion.py")]
    top_level = [node for source in sources for node in ast.parse(source).body
                 if isinstance(node, (ast.Import, ast.ImportFrom))]
    names = [alias.name for node in top_level if isinstance(node, ast.Import) for alias in node.names]
    names += [node.module or "" for node in top_level if isinstance(node, ast.ImportFrom)]
    assert not [name for name in names if name.split(".")[0] in ("jsonschema", "referencing")]
    code = """if True:
        import sys
        import anvil_client.templates as tpl
        assert "jsonschema" not in sys.modules  # importing anvil_client does not import it
        for name in [*list(sys.modules), "jsonschema", "referencing"]:
            if name.split(".")[0] in ("jsonschema", "referencing"):
                sys.modules[name] = None  # importing it now fails
        params = [{"name": "n", "type": "integer"}, {"name": "o", "type": "object"},
                  {"name": "xs", "type": "list", "items": "object"}, {"name": "t", "type": "enum", "values": ["a"]}]
        print(tpl.render("{{ n }}{{ o.a }}{{ xs[0].b }}{{ t }}", {"n": "1", "o": {"a": 2}, "xs": [{"b": 3}], "t": "a"}, params))
        try:
            tpl.Parameter("o", "object", schema={})
        except ImportError:
            print("needs jsonschema")
    """
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["123a", "needs", "jsonschema"]


# --- fields on the wrong type ----------------------------------------------------

@pytest.mark.parametrize(
    ("declaration", "field"),
    [({"name": "x", "values": ["a"]}, "'values'"),
     ({"name": "x", "type": "list", "values": ["a"]}, "'values'"),
     ({"name": "x", "type": "integer", "items": "string"}, "'items'"),
     ({"name": "x", "type": "enum", "values": ["a"], "items": "string"}, "'items'"),
     ({"name": "x", "type": "object", "items": "object"}, "'items'"),
     ({"name": "x", "type": "number", "schema": {}}, "'schema'"),
     ({"name": "x", "type": "enum", "values": ["a"], "schema": {}}, "'schema'"),
     ({"name": "x", "type": "list", "schema": {}}, "'schema'"),
     ({"name": "x", "type": "list", "items": "integer", "schema": {}}, "'schema'")],
)
def test_fields_on_a_type_that_does_not_take_them_are_refused(declaration: dict[str, Any], field: str) -> None:
    message = str(definition_error(declaration))
    assert f"cannot have {field}" in message or f"cannot have a {field}" in message


def test_unknown_keys_are_still_refused_and_nulls_are_absent() -> None:
    assert "unknown field(s): value" in str(definition_error({"name": "tone", "type": "enum", "value": ["a"]}))
    assert "unknown field(s): item" in str(definition_error({"name": "xs", "type": "list", "item": "string"}))
    assert Parameter.from_dict({"name": "x", "values": None, "items": None, "schema": None}) == Parameter("x")
    assert Parameter.from_dict({"name": "xs", "type": "list", "items": None}).items == "string"


# --- to_dict -----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("declaration", "expected"),
    [({"name": "x"}, '{"name": "x", "type": "string", "description": "", "required": true, "default": null}'),
     ({"name": "n", "type": "number", "required": False, "default": "3", "description": "d"},
      '{"name": "n", "type": "number", "description": "d", "required": false, "default": 3}'),
     ({"name": "b", "type": "boolean", "required": False, "default": " TRUE ", "values": None},
      '{"name": "b", "type": "boolean", "description": "", "required": false, "default": true}')],
)
def test_to_dict_of_the_first_types_is_unchanged(declaration: dict[str, Any], expected: str) -> None:
    p = Parameter.from_dict(declaration)
    assert json.dumps(p.to_dict()) == expected
    assert list(p.to_dict()) == ["name", "type", "description", "required", "default"]
    assert p.is_v1
    assert hash(p) == hash(Parameter.from_dict(declaration))
    assert repr(Parameter("x")) == "Parameter(name='x', type='string', description='', required=True, default=None)"


@pytest.mark.parametrize(
    ("declaration", "keys"),
    [({"name": "n", "type": "integer", "required": False, "default": "5"}, []),
     (TONE, ["values"]),
     ({"name": "tags", "type": "list"}, ["items"]),
     ({"name": "tags", "type": "list", "items": "number", "required": False, "default": ["1", 2]}, ["items"]),
     ({**EXAMPLES, "schema": EXAMPLE_SCHEMA}, ["items", "schema"]),
     (EXAMPLES, ["items"]),
     (OBJECT, []),
     ({**OBJECT, "schema": CUSTOMER_SCHEMA, "required": False, "default": {"name": "Ann"}}, ["schema"])],
)
def test_to_dict_of_the_new_types_round_trips(declaration: dict[str, Any], keys: list[str]) -> None:
    p = Parameter.from_dict(declaration)
    d = p.to_dict()
    assert list(d) == ["name", "type", "description", "required", "default", *keys]
    assert json.loads(json.dumps(d)) == d
    assert Parameter.from_dict(d) == p
    assert Parameter.from_dict(d).to_dict() == d
    assert pickle.loads(pickle.dumps(p)) == p
    assert not p.is_v1


def test_a_pickled_schema_parameter_still_checks_values() -> None:
    p = pickle.loads(pickle.dumps(Parameter("customer", "object", schema=CUSTOMER_SCHEMA)))
    assert "'gold' is not one of" in str(refused(p.to_dict(), {"name": "A", "tier": "gold"}))
    with pytest.raises(ParameterError, match="'gold' is not one of"):
        coerce_values([p], {"customer": {"name": "A", "tier": "gold"}})


# --- defaults ------------------------------------------------------------------------

def test_defaults_are_coerced_like_inputs() -> None:
    assert Parameter("n", "integer", required=False, default="4").default == 4
    assert Parameter("n", "integer", required=False, default=4.0).default == 4
    assert Parameter("t", "enum", required=False, default="casual", values=("formal", "casual")).default == "casual"
    assert Parameter("xs", "list", required=False, default=("1", "2"), items="integer").default == [1, 2]
    assert Parameter("o", "object", required=False, default=MappingProxyType({"a": 1})).default == {"a": 1}
    values = coerce_values([Parameter("xs", "list", required=False, default=["a"])], {})
    assert values == {"xs": ["a"]}


@pytest.mark.parametrize(
    ("declaration", "text"),
    [({"name": "n", "type": "integer", "default": 2.5}, "must be an integer, got 2.5"),
     ({"name": "t", "type": "enum", "values": ["a"], "default": "b"}, "must be one of 'a', got 'b'"),
     ({"name": "xs", "type": "list", "default": "a,b"}, "must be a list"),
     ({"name": "xs", "type": "list", "items": "integer", "default": [1, "x"]}, "item 1 must be an integer"),
     ({"name": "o", "type": "object", "default": [1]}, "must be an object"),
     ({"name": "o", "type": "object", "schema": CUSTOMER_SCHEMA, "default": {"tier": "pro"}},
      "does not match its schema: 'name' is a required property")],
)
def test_bad_defaults_are_refused(declaration: dict[str, Any], text: str) -> None:
    message = str(definition_error({**declaration, "required": False}))
    assert message.startswith(f"default of parameter '{declaration['name']}' does not match its type")
    assert text in message


def test_a_list_or_object_default_is_handed_out_as_a_copy() -> None:
    p = Parameter("o", "object", required=False, default={"a": [1]})
    first = coerce_values([p], {})["o"]
    first["a"].append(2)  # type: ignore[index]
    assert coerce_values([p], {})["o"] == {"a": [1]}
    assert p.default == {"a": [1]}
    d = p.to_dict()
    d["default"]["a"].append(3)
    assert p.default == {"a": [1]}


# --- the first types ---------------------------------------------------------------------

def test_the_first_types_coerce_as_before() -> None:
    text = "some text"
    assert coerce_values([Parameter("s")], {"s": text})["s"] is text
    assert coerce_values([Parameter("s")], {"s": 3})["s"] == "3"
    with pytest.raises(ParameterError) as info:
        coerce_values([Parameter("x", "number")], {"x": "abc"})
    assert str(info.value) == "parameter 'x' must be a number, got 'abc' which is not a number"
    with pytest.raises(ParameterError) as info:
        coerce_values([Parameter("s")], {"s": [1]})
    assert str(info.value) == "parameter 's' must be a string, got a list"
