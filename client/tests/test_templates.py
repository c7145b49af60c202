"""Tests for anvil_client.templates (the shared Liquid environment)."""

from __future__ import annotations

import json
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anvil_client import templates
from anvil_client.templates import (
    ENVIRONMENT,
    MAX_LOOP_ITERATIONS,
    MAX_NESTING_DEPTH,
    MAX_OUTPUT_SIZE,
    MAX_TEMPLATE_SIZE,
    PARAMETER_TYPES,
    AnvilEnvironment,
    CompiledTemplate,
    LimitExceeded,
    Parameter,
    ParameterCheck,
    ParameterDefinitionError,
    ParameterError,
    RenderError,
    TemplateError,
    TemplateSyntaxError,
    TemplateTooLarge,
    UndefinedVariableError,
    check_parameters,
    coerce_values,
    compile_template,
    estimate_tokens,
    parse_parameters,
    render,
    variables,
)

# ---------------------------------------------------------------------------
# Environment configuration
# ---------------------------------------------------------------------------


def test_environment_configuration() -> None:
    assert isinstance(ENVIRONMENT, AnvilEnvironment)
    assert ENVIRONMENT.loop_iteration_limit == MAX_LOOP_ITERATIONS
    assert ENVIRONMENT.output_stream_limit == MAX_OUTPUT_SIZE
    assert ENVIRONMENT.block_nesting_limit == MAX_NESTING_DEPTH
    assert ENVIRONMENT.local_namespace_limit is not None
    assert ENVIRONMENT.autoescape is False
    assert PARAMETER_TYPES == ("string", "number", "boolean", "integer", "enum", "list", "object")


def test_error_hierarchy() -> None:
    for cls in (
        TemplateSyntaxError,
        TemplateTooLarge,
        RenderError,
        UndefinedVariableError,
        LimitExceeded,
        ParameterError,
        ParameterDefinitionError,
    ):
        assert issubclass(cls, TemplateError)
    assert issubclass(UndefinedVariableError, RenderError)
    assert issubclass(LimitExceeded, RenderError)


def test_autoescape_is_off() -> None:
    assert render("{{ x }}", {"x": "<b>&'\"</b>"}) == "<b>&'\"</b>"


def test_carriage_returns_are_kept() -> None:
    assert render("a\r\nb\r{{ x }}", {"x": "\r\n"}) == "a\r\nb\r\r\n"


# ---------------------------------------------------------------------------
# Syntax errors
# ---------------------------------------------------------------------------

SYNTAX_CASES = [
    # (source, line, column, text in message)
    (
        "Dear {{ name }},\n\nYour order:\n{% for item in items %}\n"
        "  - {{ item.title | upcase }\n{% endfor %}\n",
        5,
        5,
        "'{{' is never closed",
    ),
    ("Hello\n{% if user.admin %}\n  {% assign = 1 %}\n{% endif %}", 3, 13, "expected"),
    ("Hi\n\n{% for x in xs %}\n  {{ x }}\n", 3, 4, "'for' block is never closed"),
    ("a\n  {{ x | nope: 1 }}", 2, 10, "unknown filter 'nope'"),
    ("line\n{% bogus %}", 2, 4, "unexpected tag 'bogus'"),
    ("x\n{% if a %}\n{% endfor %}", 3, 4, "unexpected tag 'endfor'"),
    ("one\ntwo {% raw %} never ends", 2, 5, "'raw' block is never closed"),
]


@pytest.mark.parametrize(("source", "line", "column", "text"), SYNTAX_CASES)
def test_syntax_errors_carry_line_and_column(
    source: str, line: int, column: int, text: str
) -> None:
    with pytest.raises(TemplateSyntaxError) as info:
        compile_template(source)
    err = info.value
    assert (err.line, err.column) == (line, column)
    assert text in err.message
    assert f"line {line}, column {column}" in str(err)
    assert str(err) == err.message


def test_render_of_bad_source_raises_syntax_error() -> None:
    with pytest.raises(TemplateSyntaxError):
        render("{% if %}", {})


def test_non_string_source() -> None:
    with pytest.raises(TemplateError):
        compile_template(123)  # type: ignore[arg-type]


def test_template_too_large() -> None:
    compile_template("x" * MAX_TEMPLATE_SIZE)
    with pytest.raises(TemplateTooLarge) as info:
        compile_template("x" * (MAX_TEMPLATE_SIZE + 1))
    assert str(MAX_TEMPLATE_SIZE) in str(info.value)


def test_deep_nesting_is_a_syntax_error() -> None:
    ok = "{% if x %}" * MAX_NESTING_DEPTH + "y" + "{% endif %}" * MAX_NESTING_DEPTH
    assert render(ok, {"x": True}) == "y"
    depth = MAX_NESTING_DEPTH + 1
    with pytest.raises(TemplateSyntaxError) as info:
        compile_template("{% if x %}" * depth + "y" + "{% endif %}" * depth)
    assert "nested too deeply" in str(info.value)
    assert info.value.line == 1


def test_deeply_nested_loops_within_limit_render() -> None:
    depth = MAX_NESTING_DEPTH
    src = "{% for i in (1..1) %}" * depth + "y" + "{% endfor %}" * depth
    assert render(src, {}) == "y"


def test_very_deep_expression_is_refused_cleanly() -> None:
    with pytest.raises(TemplateSyntaxError):
        compile_template("{% if " + "a or " * 19_000 + "b %}x{% endif %}")


@pytest.mark.parametrize(
    "source",
    [
        "{{" * 40_000,  # unclosed output statements
        "{% a " * 19_000,  # unclosed tags
        "{% raw %}" * 11_000,  # unclosed raw blocks
        "{% doc %}" * 11_000,  # unclosed doc blocks
        "{% if a " + "(" * 5_000 + " %}{% endif %}",  # quadratic range lexing
        "{{ a" + '["x"b' * 19_000 + " }}",  # quadratic index lexing
    ],
)
def test_pathological_sources_are_refused_fast(source: str) -> None:
    start = time.perf_counter()
    with pytest.raises(TemplateSyntaxError):
        compile_template(source)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    "source",
    [
        "{% include 'secrets.txt' %}",
        "{% render 'other' with x %}",
        "{% render 'other' for items as x %}",
        "{% include '/etc/passwd' %}",
        "{% liquid\ninclude 'x'\n%}",
    ],
)
def test_include_and_render_forms_that_read_the_callers_variables_are_refused(source: str) -> None:
    with pytest.raises(TemplateSyntaxError) as info:
        compile_template(source)
    assert "not supported" in str(info.value)
    assert info.value.line is not None


# ---------------------------------------------------------------------------
# Static analysis
# ---------------------------------------------------------------------------

VARIABLE_CASES = [
    ("{% for x in items %}{{ x.name }}{% endfor %}", ["items"]),
    ("{{ user.name }}", ["user"]),
    ("{% assign a = b %}{{ a }}", ["b"]),
    ("{{ a | default: b }}", ["a", "b"]),
    ("{% capture c %}{{ d }}{% endcapture %}{{ c }}", ["d"]),
    ("{% for x in xs %}{{ forloop.index }}{{ forloop.first }}{% endfor %}", ["xs"]),
    ("{{ user.address.city }} {{ user['name'] }} {{ list[0] }}", ["list", "user"]),
    ("{{ a[b.c] }}", ["a", "b"]),
    ("{% if a and b.c %}{{ d }}{% elsif e %}{% else %}{{ f }}{% endif %}", list("abdef")),
    ("{% for x in xs %}{% endfor %}{{ x }}", ["x", "xs"]),  # x is free after the loop
    ("{{ a }}{% assign a = 1 %}{{ a }}", ["a"]),  # read before it is assigned
    ("{% increment n %}{{ n }}", []),
    ("{% case k %}{% when v %}{{ w }}{% endcase %}", ["k", "v", "w"]),
    ("{% for i in (1..n) limit: m %}{{ i }}{% endfor %}", ["m", "n"]),
    ("{% tablerow t in ts %}{{ tablerowloop.col }}{{ t }}{% endtablerow %}", ["ts"]),
    ("{% liquid\nassign q = r\necho q | append: s\n%}", ["r", "s"]),
    ("{{ 'literal' | upcase }}{{ true }}{{ nil }}{{ empty }}", []),
    ("{{ now }}{{ today }}", ["now", "today"]),
    ("{% comment %}{{ hidden }}{% endcomment %}{% raw %}{{ raw }}{% endraw %}", []),
    ("plain text", []),
]


@pytest.mark.parametrize(("source", "expected"), VARIABLE_CASES)
def test_variables(source: str, expected: list[str]) -> None:
    assert variables(source) == expected
    assert variables(compile_template(source)) == expected


@pytest.mark.parametrize(
    ("source", "line", "column", "text"),
    [
        ("x\n {{ user-name }}", 2, 5, "'user-name' is not allowed"),
        ('{{ ["a b"] }}', 1, 4, "'a b' is not allowed"),
        ("{{ café }}", 1, 4, "'café' is not allowed"),
        ("x\n {{ forloop.index }}", 2, 5, "only available inside a loop"),
    ],
)
def test_variables_must_be_declarable(source: str, line: int, column: int, text: str) -> None:
    with pytest.raises(TemplateSyntaxError) as info:
        compile_template(source)
    assert (info.value.line, info.value.column) == (line, column)
    assert text in str(info.value)


def test_locally_bound_names_may_use_any_liquid_form() -> None:
    assert variables("{% assign my-var = x %}{{ my-var }}") == ["x"]
    assert render("{% assign my-var = x %}{{ my-var }}", {"x": 1}) == "1"


def test_variables_of_bad_template() -> None:
    with pytest.raises(TemplateSyntaxError):
        variables("{{ a ")


def test_compiled_template_object() -> None:
    compiled = compile_template("Hi {{ b }} {{ a }}")
    assert isinstance(compiled, CompiledTemplate)
    assert compiled.source == "Hi {{ b }} {{ a }}"
    assert compiled.variables == ["a", "b"]
    assert compiled.render({"a": 1, "b": 2}) == "Hi 2 1"


def test_check_parameters() -> None:
    src = "{{ greeting }}, {{ user.name }}! {% for t in topics %}{{ t }}{% endfor %}"
    params = parse_parameters(
        [{"name": "greeting"}, {"name": "topics"}, {"name": "extra", "required": False}]
    )
    result = check_parameters(src, params)
    assert result == ParameterCheck(
        missing=["user"], unused=["extra"], matched=["greeting", "topics"]
    )
    assert not result.ok
    assert check_parameters(src, ["greeting", "user", "topics"]).ok
    assert check_parameters(src, [{"name": "user"}, "greeting", "topics"]).missing == []
    assert check_parameters("static", []) == ParameterCheck([], [], [])


# ---------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------


def test_parameter_defaults_and_round_trip() -> None:
    p = Parameter("topic")
    assert p.to_dict() == {
        "name": "topic",
        "type": "string",
        "description": "",
        "required": True,
        "default": None,
    }
    q = Parameter.from_dict(
        {"name": "n", "type": "number", "required": False, "default": "3", "description": "d"}
    )
    assert q.default == 3
    assert Parameter.from_dict(q.to_dict()) == q
    assert Parameter.from_dict({"name": "x", "type": None, "description": None}) == Parameter("x")


@pytest.mark.parametrize(
    ("declaration", "text"),
    [
        ({"name": "1abc"}, "invalid parameter name"),
        ({"name": "a-b"}, "invalid parameter name"),
        ({"name": "a b"}, "invalid parameter name"),
        ({"name": ""}, "invalid parameter name"),
        ({"name": 5}, "invalid parameter name"),
        ({"name": "for"}, "reserved"),
        ({"name": "true"}, "reserved"),
        ({"name": "empty"}, "reserved"),
        ({"name": "forloop"}, "reserved"),
        ({"name": "x", "type": "float"}, "unknown type"),
        ({"name": "x", "type": "number", "required": False, "default": "abc"}, "default"),
        ({"name": "x", "type": "boolean", "required": False, "default": "yes"}, "default"),
        ({"name": "x", "type": "string", "required": False, "default": [1]}, "default"),
        ({"name": "x", "default": "a"}, "required"),
        ({"name": "x", "required": "no"}, "required"),
        ({"name": "x", "description": 3}, "description"),
        ({"name": "x", "requried": False}, "unknown field"),
        ({"type": "string"}, "needs a 'name'"),
    ],
)
def test_parameter_definition_errors(declaration: dict, text: str) -> None:
    with pytest.raises(ParameterDefinitionError) as info:
        Parameter.from_dict(declaration)
    assert text in str(info.value)
    if isinstance(declaration.get("name"), str) and declaration["name"]:
        assert info.value.parameter == declaration["name"]


def test_parse_parameters() -> None:
    params = parse_parameters([Parameter("a"), {"name": "b", "type": "boolean"}])
    assert [p.name for p in params] == ["a", "b"]
    assert params[1].type == "boolean"
    with pytest.raises(ParameterDefinitionError) as info:
        parse_parameters([{"name": "a"}, {"name": "a", "type": "number"}])
    assert info.value.parameter == "a"
    assert "more than once" in str(info.value)
    with pytest.raises(ParameterDefinitionError):
        parse_parameters(["a"])  # type: ignore[list-item]
    with pytest.raises(ParameterDefinitionError):
        parse_parameters({"name": "a"})  # type: ignore[arg-type]


NUMBER = Parameter("n", "number")
BOOLEAN = Parameter("b", "boolean")
STRING = Parameter("s", "string")

COERCIONS = [
    (NUMBER, 3, 3),
    (NUMBER, 2.5, 2.5),
    (NUMBER, "3", 3),
    (NUMBER, " 42 ", 42),
    (NUMBER, "2.5", 2.5),
    (NUMBER, "-1e3", -1000.0),
    (NUMBER, "-7", -7),
    (NUMBER, "0.0", 0.0),
    (BOOLEAN, True, True),
    (BOOLEAN, False, False),
    (BOOLEAN, "true", True),
    (BOOLEAN, "FALSE", False),
    (BOOLEAN, " True ", True),
    (STRING, "text", "text"),
    (STRING, "", ""),
    (STRING, 3, "3"),
    (STRING, 2.5, "2.5"),
    (STRING, True, "true"),
]


@pytest.mark.parametrize(("parameter", "value", "expected"), COERCIONS)
def test_coercion(parameter: Parameter, value: object, expected: object) -> None:
    result = coerce_values([parameter], {parameter.name: value})[parameter.name]
    assert result == expected
    assert type(result) is type(expected)


REFUSALS = [
    (NUMBER, True),
    (NUMBER, "abc"),
    (NUMBER, "3 apples"),
    (NUMBER, "nan"),
    (NUMBER, "inf"),
    (NUMBER, "1e999"),
    (NUMBER, float("nan")),
    (NUMBER, [1]),
    (NUMBER, {"a": 1}),
    (NUMBER, "9" * 1000),
    (BOOLEAN, 1),
    (BOOLEAN, 0),
    (BOOLEAN, "yes"),
    (BOOLEAN, "1"),
    (BOOLEAN, [True]),
    (STRING, ["a"]),
    (STRING, {"a": "b"}),
    (STRING, float("inf")),
]


@pytest.mark.parametrize(("parameter", "value"), REFUSALS)
def test_coercion_refusals_name_the_parameter(parameter: Parameter, value: object) -> None:
    with pytest.raises(ParameterError) as info:
        coerce_values([parameter], {parameter.name: value})
    assert info.value.parameter == parameter.name
    assert f"'{parameter.name}'" in str(info.value)


def test_required_defaults_and_extras() -> None:
    params = [
        Parameter("topic"),
        Parameter("count", "number", required=False, default=3),
        Parameter("formal", "boolean", required=False, default="false"),
        Parameter("note", required=False),
    ]
    with pytest.raises(ParameterError) as info:
        coerce_values(params, {})
    assert info.value.parameter == "topic"
    assert str(info.value) == "missing required parameter 'topic'"
    with pytest.raises(ParameterError):
        coerce_values(params, {"topic": None})  # None counts as not given
    assert coerce_values(params, {"topic": "x", "extra": [1, {"k": None}]}) == {
        "topic": "x",
        "count": 3,
        "formal": False,
        "note": None,
        "extra": [1, {"k": None}],
    }
    assert coerce_values(params, {"topic": "x", "count": "7", "note": None})["count"] == 7


def test_optional_without_default_is_nil() -> None:
    params = [Parameter("note", required=False)]
    src = "[{{ note }}]{% if note %}yes{% else %}no{% endif %}{{ note | default: 'd' }}"
    assert render(src, {}, params) == "[]nod"


def test_render_with_parameters_coerces() -> None:
    params = [Parameter("n", "number"), Parameter("flag", "boolean")]
    src = "{{ n | plus: 1 }} {% if flag %}on{% else %}off{% endif %}"
    assert render(src, {"n": "41", "flag": "False"}, params) == "42 off"
    assert render(src, {"n": 1.5, "flag": True}, [p.to_dict() for p in params]) == "2.5 on"
    with pytest.raises(ParameterError):
        render(src, {"n": "x", "flag": True}, params)


# ---------------------------------------------------------------------------
# Undefined variables and sandboxing
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("Hello {{ who }}", "who"),
        ("{% if flag %}x{% endif %}", "flag"),
        ("{% for x in items %}{% endfor %}", "items"),
        ("{{ who | upcase }}", "who"),
        ("{{ who | token_count }}", "who"),
        ("{{ 'a' | append: who }}", "who"),
        ("{{ now }}", "now"),  # no builtin clock variables
        ("{{ partial }}", "partial"),
    ],
)
def test_undefined_variables_raise(source: str, name: str) -> None:
    with pytest.raises(UndefinedVariableError) as info:
        render(source, {})
    assert info.value.name == name
    assert f"'{name}'" in str(info.value)
    assert info.value.line == 1


def test_undefined_property_names_path() -> None:
    with pytest.raises(UndefinedVariableError) as info:
        render("line one\n  {{ user.nmae }}", {"user": {"name": "Ann"}})
    err = info.value
    assert (err.name, err.path) == ("user", "user.nmae")
    assert (err.line, err.column) == (2, 6)
    with pytest.raises(UndefinedVariableError) as info:
        render("{{ items[3] }}", {"items": [1]})
    assert info.value.path == "items[3]"


def test_default_filter_is_the_only_escape_hatch() -> None:
    assert render("{{ missing | default: 'n/a' }}", {}) == "n/a"
    assert render("{{ user.nick | default: user.name }}", {"user": {"name": "Ann"}}) == "Ann"


class _Secretive:
    password = "hunter2"

    def __getitem__(self, key: str) -> str:
        return "leak"


@pytest.mark.parametrize(
    "value", [_Secretive(), object(), b"bytes", {1: "int key"}, {"a": {1, 2}}, float("nan")]
)
def test_only_json_like_values_are_accepted(value: object) -> None:
    with pytest.raises(ParameterError) as info:
        render("{{ v.password }}{{ v['x'] }}", {"v": value})
    assert info.value.parameter == "v"


def test_deeply_nested_values_are_refused() -> None:
    value: object = "leaf"
    for _ in range(200):
        value = [value]
    with pytest.raises(ParameterError):
        render("{{ v }}", {"v": value})


def test_values_must_be_a_mapping() -> None:
    with pytest.raises(RenderError):
        render("x", ["not", "a", "mapping"])  # type: ignore[arg-type]


def test_tuples_and_nested_values() -> None:
    src = "{% for p in people %}{{ p.name }}:{{ p.tags | join: '+' }};{% endfor %}"
    people = ({"name": "a", "tags": ("x", "y")}, {"name": "b", "tags": []})
    assert render(src, {"people": people}) == "a:x+y;b:;"


def test_self_is_an_ordinary_name() -> None:
    assert render("{{ self }}", {"self": "me"}) == "me"


# ---------------------------------------------------------------------------
# Limits
# ---------------------------------------------------------------------------


def test_nested_loops_fail_fast() -> None:
    src = "{% for a in (1..10000) %}{% for b in (1..10000) %}x{% endfor %}{% endfor %}"
    start = time.perf_counter()
    with pytest.raises(LimitExceeded) as info:
        render(src, {})
    elapsed = time.perf_counter() - start
    assert info.value.limit == "loop_iterations"
    assert elapsed < 1.0


def test_loop_iterations_are_cumulative() -> None:
    half = MAX_LOOP_ITERATIONS // 2 + 1
    one = f"{{% for i in (1..{half}) %}}{{% endfor %}}"
    render(one, {})
    with pytest.raises(LimitExceeded) as info:
        render(one + one, {})
    assert info.value.limit == "loop_iterations"
    assert info.value.line == 1
    # the same holds for a loop over a value
    big = list(range(MAX_LOOP_ITERATIONS + 1))
    with pytest.raises(LimitExceeded):
        render("{% for i in xs %}{% endfor %}", {"xs": big})


def test_break_stops_counting() -> None:
    src = "{% for i in (1..60000) %}{% if i > 2 %}{% break %}{% endif %}{% endfor %}"
    assert render(src + src + src, {}) == ""


@pytest.mark.parametrize(
    "source",
    [
        "{{ (1..100000000) | join: ',' }}",
        "{% for i in (1..100000000) reversed %}{% endfor %}",
        "{% assign r = (1..n) %}{{ r | size }}",
    ],
)
def test_huge_ranges_are_refused(source: str) -> None:
    start = time.perf_counter()
    with pytest.raises(LimitExceeded) as info:
        render(source, {"n": 10**30})
    assert info.value.limit == "loop_iterations"
    assert time.perf_counter() - start < 1.0


def test_huge_output() -> None:
    with pytest.raises(LimitExceeded) as info:
        render("{% for i in (1..99999) %}{{ big }}{% endfor %}", {"big": "x" * 100})
    assert info.value.limit == "output_size"
    assert str(MAX_OUTPUT_SIZE) in str(info.value)
    # exactly at the limit is fine (counted in characters, not bytes)
    assert len(render("{{ s }}", {"s": "é" * MAX_OUTPUT_SIZE})) == MAX_OUTPUT_SIZE
    with pytest.raises(LimitExceeded):
        render("{{ s }}!", {"s": "é" * MAX_OUTPUT_SIZE})


@pytest.mark.parametrize(
    "source",
    [
        "{% capture c %}{% for i in (1..99999) %}{{ big }}{% endfor %}{% endcapture %}",
        "{% assign s = 'ab' %}{% for i in (1..40) %}{% assign s = s | append: s %}{% endfor %}",
        "{{ s | replace: 'a', t }}",
        "{{ s | split: '' | join: t }}",
        "{{ s | indent: 100 }}",
    ],
)
def test_memory_blowups_are_refused(source: str) -> None:
    values = {"big": "x" * 100, "s": "a\n" * 25_000, "t": "b" * 50_000}
    start = time.perf_counter()
    with pytest.raises(LimitExceeded) as info:
        render(source, values)
    assert info.value.limit in ("output_size", "locals_size")
    assert time.perf_counter() - start < 1.0


def test_huge_numbers_are_refused() -> None:
    src = "{% assign x = 99999 %}{% for i in (1..50) %}{% assign x = x | times: x %}{% endfor %}"
    with pytest.raises(LimitExceeded) as info:
        render(src, {})
    assert info.value.limit == "number_size"


def test_render_time_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(templates, "MAX_RENDER_SECONDS", 0.05)
    src = "{% for i in (1..99999) %}{% assign l = big | split: '' | sort | join %}{% endfor %}"
    with pytest.raises(LimitExceeded) as info:
        render(src, {"big": "qwertyuiop" * 1000})
    assert info.value.limit == "render_time"


# ---------------------------------------------------------------------------
# Filters
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("", 0),
        ("   \n\t", 0),
        ("Hello, world!", 4),
        ("The quick brown fox jumps over the lazy dog.", 10),
        ("internationalization", 4),
        ("2024", 2),
        ("café", 2),
        ("中文", 2),
    ],
)
def test_estimate_tokens(text: str, tokens: int) -> None:
    assert estimate_tokens(text) == tokens
    assert render("{{ t | token_count }}", {"t": text}) == str(tokens)


def test_token_count_of_non_strings() -> None:
    assert render("{{ n | token_count }}", {"n": 12345}) == "2"
    assert render("{{ xs | token_count }}", {"xs": ["ab", "cd"]}) == "1"  # printed "abcd"
    assert render("{{ nothing | token_count }}", {"nothing": None}) == "0"


def test_truncate_tokens() -> None:
    assert render("{{ t | truncate_tokens: 3 }}", {"t": "one two three four"}) == "one two…"
    assert render("{{ t | truncate_tokens: 4 }}", {"t": "one two three four"}) == (
        "one two three four"
    )
    assert render("{{ t | truncate_tokens: 0 }}", {"t": "one"}) == ""
    assert render("{{ t | truncate_tokens: 2 }}", {"t": "abcdefghijklmnop"}) == "abcde…"
    with pytest.raises(RenderError):
        render("{{ 'x' | truncate_tokens: -1 }}", {})
    with pytest.raises(RenderError):
        render("{{ 'x' | truncate_tokens: 'lots' }}", {})


@given(st.text(max_size=200), st.integers(min_value=0, max_value=60))
@settings(max_examples=150, deadline=None)
def test_truncate_tokens_respects_budget(text: str, budget: int) -> None:
    result = render("{{ t | truncate_tokens: n }}", {"t": text, "n": budget})
    assert estimate_tokens(result) <= budget
    if estimate_tokens(text) <= budget:
        assert result == text
    else:
        assert result == "" if budget == 0 else result.endswith("…")
        assert text.startswith(result.removesuffix("…"))


def test_json_filter() -> None:
    value = {"name": "Zoë", "tags": ["a", "b"], "n": 1.5, "ok": True, "none": None}
    assert render("{{ v | json }}", {"v": value}) == json.dumps(value, ensure_ascii=False)
    assert render("{{ v | json: 2 }}", {"v": value}) == json.dumps(
        value, ensure_ascii=False, indent=2
    )
    assert render("{{ 'say \"hi\"' | json }}", {}) == '"say \\"hi\\""'
    assert render("{{ (1..3) | json }}", {}) == "[1, 2, 3]"
    with pytest.raises(RenderError):
        render("{{ v | json: 99 }}", {"v": 1})


def test_bullet_list_filter() -> None:
    assert render("{{ xs | bullet_list }}", {"xs": ["a", "b\nc", 3]}) == "- a\n- b\n  c\n- 3"
    assert render("{{ xs | bullet_list: '* ' }}", {"xs": "one\n\n  two  \n"}) == "* one\n* two"
    assert render("{{ d | bullet_list }}", {"d": {"k": "v", "n": 1}}) == "- k: v\n- n: 1"
    assert render("{{ xs | bullet_list }}", {"xs": []}) == ""


def test_indent_filter() -> None:
    assert render("{{ t | indent: 2 }}", {"t": "a\n\nb"}) == "  a\n\n  b"
    assert render("{{ t | indent }}", {"t": "a"}) == "  a"
    with pytest.raises(RenderError):
        render("{{ t | indent: 1000 }}", {"t": "a"})


def test_strip_blank_lines_filter() -> None:
    assert render("{{ t | strip_blank_lines }}", {"t": "a\n\n  \nb\n"}) == "a\nb\n"
    assert render("{{ t | strip_blank_lines }}", {"t": "\n \n"}) == ""
    src = "Items:\n{% for x in xs %}\n{% if x %}\n- {{ x }}\n{% endif %}\n{% endfor %}\n"
    captured = "{% capture c %}" + src + "{% endcapture %}{{ c | strip_blank_lines }}"
    assert render(captured, {"xs": ["a", None, "b"]}) == "Items:\n- a\n- b\n"


def test_date_filter_is_deterministic() -> None:
    assert render("{{ 0 | date: '%Y-%m-%d %H:%M' }}", {}) == "1970-01-01 00:00"
    assert render("{{ d | date: '%b %d, %Y' }}", {"d": "2024-03-05"}) == "Mar 05, 2024"
    assert render("{{ d | date: '%Y' }}", {"d": "not a date"}) == "not a date"
    for clock in ("now", "today"):
        with pytest.raises(RenderError) as info:
            render(f"{{{{ '{clock}' | date: '%Y' }}}}", {})
        assert "parameter" in str(info.value)
    with pytest.raises(RenderError):
        render("{{ 0 | date: '%99999Y' }}", {})


def test_standard_filters_still_work() -> None:
    src = "{{ name | upcase }} {{ xs | join: ', ' }} {{ n | times: 2 }} {{ s | truncate: 5 }}"
    values = {"name": "ann", "xs": ["a", "b"], "n": 21, "s": "abcdefgh"}
    assert render(src, values) == "ANN a, b 42 ab..."


def test_filter_errors_are_render_errors() -> None:
    with pytest.raises(RenderError) as info:
        render("{{ 1 | divided_by: 0 }}", {})
    assert not isinstance(info.value, LimitExceeded)
    with pytest.raises(RenderError):
        render("{{ 'x' | upcase: 1, 2, 3 }}", {})


def test_break_outside_loop_is_a_render_error() -> None:
    with pytest.raises(RenderError):
        render("{% break %}", {})


# ---------------------------------------------------------------------------
# Concurrency
# ---------------------------------------------------------------------------


def test_concurrent_rendering_of_one_compiled_template() -> None:
    compiled = compile_template(
        "{% for x in xs %}{% cycle 'a', 'b' %}{{ x }}{{ forloop.index }}{% endfor %}"
        "{% assign total = xs | size %}{{ total }}{% increment c %}{{ c }}"
    )
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for i in range(30):
                xs = [k, i]
                expected = f"a{k}1b{i}2" + "2" + "01"  # size, increment, counter
                assert render(compiled, {"xs": xs}) == expected
        except BaseException as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


# ---------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------

FRAGMENTS = st.sampled_from(
    [
        "{{", "}}", "{%", "%}", "{{-", "-}}", " for ", " in ", " if ", " endif ", " endfor ",
        " else ", " elsif ", " unless ", " case ", " when ", " assign ", " capture ",
        " endcapture ", " = ", " | ", " : ", ", ", "..", ".", "(", ")", "[", "]", "'", '"',
        " x ", " y ", " items ", " n ", "(1..5)", "(1..n)", " upcase ", " default ",
        " json ", " truncate_tokens ", " token_count ", " bullet_list ", " indent ",
        " strip_blank_lines ", " date ", " times ", " append ", " join ", " split ",
        " size ", " first ", " forloop.index ", " break ", " continue ", " cycle ",
        " tablerow ", " endtablerow ", " raw ", " endraw ", " comment ", " endcomment ",
        " liquid ", "\n", " include ", " render ", " now ", " and ", " or ", " == ",
        " contains ", " 0 ", " -1 ", " 1e3 ", " nil ", " true ", " limit: ", " reversed ",
        " increment ", " echo ", "#",
    ]
)

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**6), max_value=10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=12,
)


@given(
    st.lists(FRAGMENTS | st.text(max_size=4), max_size=25).map("".join),
    st.dictionaries(st.sampled_from(["x", "y", "items", "n", "now"]), JSON_VALUES),
)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_only_template_errors_escape(source: str, values: dict) -> None:
    try:
        compiled = compile_template(source)
    except TemplateError:
        return
    try:
        result = render(compiled, values)
    except TemplateError:
        return
    assert isinstance(result, str)


FREE = ["alpha", "beta", "gamma", "delta", "eps"]
BOUND = ["loc1", "loc2", "loc3"]


@st.composite
def analysed_templates(draw: st.DrawFn) -> tuple[str, set[str]]:
    """A template plus the exact set of free variables it reads."""
    parts: list[str] = []
    free: set[str] = set()
    bound: list[str] = []

    def use_free() -> str:
        name = draw(st.sampled_from(FREE))
        free.add(name)
        return name

    for _ in range(draw(st.integers(min_value=0, max_value=8))):
        kind = draw(st.sampled_from(["out", "prop", "default", "assign", "for", "capture", "if", "bound", "text"]))
        if kind == "out":
            parts.append(f"{{{{ {use_free()} }}}}")
        elif kind == "prop":
            parts.append(f"{{{{ {use_free()}.name.first }}}}")
        elif kind == "default":
            parts.append(f"{{{{ {use_free()} | default: {use_free()} }}}}")
        elif kind == "assign":
            target = draw(st.sampled_from(BOUND))
            parts.append(f"{{% assign {target} = {use_free()} | upcase %}}")
            bound.append(target)
        elif kind == "capture":
            target = draw(st.sampled_from(BOUND))
            parts.append(f"{{% capture {target} %}}{{{{ {use_free()} }}}}{{% endcapture %}}")
            bound.append(target)
        elif kind == "for":
            var = draw(st.sampled_from(BOUND))
            parts.append(
                f"{{% for {var} in {use_free()} %}}{{{{ {var}.x }}}}{{{{ forloop.index }}}}"
                f"{{% endfor %}}"
            )
        elif kind == "if":
            parts.append(f"{{% if {use_free()} %}}yes{{% else %}}{{{{ {use_free()} }}}}{{% endif %}}")
        elif kind == "bound" and bound:
            parts.append(f"{{{{ {draw(st.sampled_from(bound))} }}}}")
        else:
            parts.append(draw(st.text(alphabet="abc \n.,", max_size=5)))
    return "".join(parts), free


@given(analysed_templates())
@settings(max_examples=120, deadline=None)
def test_variables_returns_exactly_the_free_names(case: tuple[str, set[str]]) -> None:
    source, free = case
    assert variables(source) == sorted(free)


TEXT = st.text(alphabet=st.characters(blacklist_characters="{}%"), max_size=15)


@given(
    st.lists(st.tuples(TEXT, st.sampled_from(FREE)), max_size=6),
    TEXT,
    st.fixed_dictionaries(
        {name: st.text(max_size=10) | st.integers(-1000, 1000) for name in FREE}
    ),
)
@settings(max_examples=120, deadline=None)
def test_plain_substitution(
    pieces: list[tuple[str, str]], tail: str, values: dict[str, object]
) -> None:
    source = "".join(f"{text}{{{{ {name} }}}}" for text, name in pieces) + tail
    expected = "".join(f"{text}{values[name]}" for text, name in pieces) + tail
    assert render(source, values) == expected


def test_parameter_names_that_are_plain_identifiers_are_accepted() -> None:
    for name in ["a", "_x", "user_name", "X1", "now", "today", "size", "first"]:
        assert Parameter(name).name == name
