"""The plain-substitution fast path renders exactly what the general renderer renders.

A template made only of text and ``{{ name }}`` outputs is rendered by
concatenation (``CompiledTemplate._substitute``) instead of liquid's renderer.
These properties compare the two on generated templates and values: same
text, byte for byte, or the same error (type, message, attributes).
"""

from __future__ import annotations

import math
import string

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from anvil_client import templates
from anvil_client.templates import (
    MAX_OUTPUT_SIZE,
    CompiledTemplate,
    LimitExceeded,
    TemplateError,
    UndefinedVariableError,
    compile_template,
    prepare,
    render,
)

NAMES = ["a", "b", "name", "x_1", "Role", "_t"]

# Text between outputs: braces, percent signs, dashes and every kind of white
# space (including \r, which the renderer must keep), plus non-ASCII.
TEXT_ALPHABET = string.ascii_letters + string.digits + " \t\n\r{}%-.,:!'\"\\" + "éß中😀\u00a0"
text = st.text(alphabet=TEXT_ALPHABET, max_size=12)


@st.composite
def outputs(draw) -> str:
    name = draw(st.sampled_from(NAMES))
    space = st.sampled_from(["", " ", "  ", "\n", "\t", " \n "])
    left = draw(st.sampled_from(["{{", "{{-"]))
    right = draw(st.sampled_from(["}}", "-}}"]))
    return f"{left}{draw(space)}{name}{draw(space)}{right}"


sources = st.lists(st.one_of(text, outputs()), max_size=10).map("".join)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1e20, 1e16, 1e-7, 2.5, 1.0, 123456789.125]),
    st.text(alphabet=TEXT_ALPHABET, max_size=8),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(alphabet=TEXT_ALPHABET, max_size=4), children, max_size=4),
    ),
    max_leaves=12,
)
value_maps = st.dictionaries(st.sampled_from(NAMES), json_values, max_size=len(NAMES))


def general(compiled: CompiledTemplate) -> CompiledTemplate:
    """The same parsed template with the fast path turned off."""
    return CompiledTemplate(compiled.source, compiled._template, tuple(compiled.variables), None)


def outcome(fn, *args):
    try:
        return ("ok", fn(*args))
    except TemplateError as err:
        attrs = {k: getattr(err, k, None) for k in ("line", "column", "name", "path", "limit", "parameter")}
        return ("error", type(err).__name__, str(err), attrs)


def plain(source: str) -> CompiledTemplate:
    try:
        compiled = compile_template(source)
    except TemplateError:
        assume(False)
        raise
    assume(compiled.is_plain_substitution)
    return compiled


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(source=sources, values=value_maps)
def test_fast_path_matches_the_general_renderer(source: str, values: dict) -> None:
    compiled = plain(source)
    slow = general(compiled)
    assert outcome(render, compiled, values) == outcome(render, slow, values)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(source=sources, values=value_maps)
def test_fast_path_matches_with_declared_parameters(source: str, values: dict) -> None:
    compiled = plain(source)
    declared = [{"name": "a", "type": "string", "required": False},
                {"name": "b", "type": "number", "required": False, "default": 3},
                {"name": "name", "type": "boolean", "required": False}]
    expected = outcome(render, general(compiled), values, declared)
    assert outcome(render, compiled, values, declared) == expected
    assert outcome(prepare(compiled, declared).render, values) == expected


@settings(max_examples=200, deadline=None)
@given(value=json_values)
def test_values_print_as_liquid_prints_them(value: object) -> None:
    compiled = compile_template("[{{ v }}]")
    assert compiled.is_plain_substitution
    assert render(compiled, {"v": value}) == render(general(compiled), {"v": value})


@pytest.mark.parametrize(
    ("value", "printed"),
    [(None, ""), (True, "true"), (False, "false"), (3, "3"), (2.0, "2.0"), (1e20, "1e+20"),
     (-0.0, "-0.0"), (["a", None, 1, True], "aNone1True"), ({"k": [1]}, "{'k': [1]}"), ("é\r\n", "é\r\n")],
)
def test_examples(value: object, printed: str) -> None:
    compiled = compile_template("{{ v }}")
    assert render(compiled, {"v": value}) == printed == render(general(compiled), {"v": value})


def test_whitespace_control_is_applied() -> None:
    compiled = compile_template("a \n {{- x -}} \n b {{ y -}}\n\n")
    assert compiled.is_plain_substitution
    assert render(compiled, {"x": 1, "y": 2}) == "a1b 2" == render(general(compiled), {"x": 1, "y": 2})


@pytest.mark.parametrize(
    "source",
    ["{{ x | upcase }}", "{{ x.y }}", "{{ x[0] }}", "{% if x %}{% endif %}", "{{ 'lit' }}", "{{ true }}",
     "{% # note %}{{ x }}", "{{ x }}{% comment %}c{% endcomment %}"],
)
def test_only_plain_substitution_takes_the_fast_path(source: str) -> None:
    assert not compile_template(source).is_plain_substitution


@pytest.mark.parametrize("source", ["", "text only", "{{ x }}", "a {{x}} b {{ y }}", "{{- x -}}",
                                    "{% raw %}{{ x }}{% endraw %}"])
def test_plain_templates_take_the_fast_path(source: str) -> None:
    compiled = compile_template(source)  # (liquid turns a raw block into text)
    assert compiled.is_plain_substitution
    values = {"x": "X", "y": 2}
    assert render(compiled, values) == render(general(compiled), values)


def test_undefined_variable_error_is_the_general_one() -> None:
    compiled = compile_template("Hello\n  {{ name }} and {{ other }}")
    with pytest.raises(UndefinedVariableError) as fast:
        render(compiled, {"name": "Ann"})
    with pytest.raises(UndefinedVariableError) as slow:
        render(general(compiled), {"name": "Ann"})
    assert (fast.value.name, str(fast.value)) == (slow.value.name, str(slow.value))
    assert fast.value.name == "other" and (fast.value.line, fast.value.column) == (slow.value.line, slow.value.column)
    assert fast.value.line == 2


def test_output_limit_is_the_general_one() -> None:
    compiled = compile_template("{{ s }}{{ t }}!")
    values = {"s": "é" * (MAX_OUTPUT_SIZE - 2), "t": "x"}
    assert render(compiled, values) == render(general(compiled), values)  # exactly at the limit
    values["t"] = "xy"
    with pytest.raises(LimitExceeded) as fast:
        render(compiled, values)
    assert fast.value.limit == "output_size"
    assert outcome(render, compiled, values) == outcome(render, general(compiled), values)


def test_huge_integers_fail_the_same_way() -> None:
    compiled = compile_template("{{ n }}")
    values = {"n": 10**5000}
    assert outcome(render, compiled, values) == outcome(render, general(compiled), values)


def test_str_subclasses_go_to_the_general_renderer() -> None:
    class Loud(str):
        pass

    compiled = compile_template("{{ s }}")
    declared = [{"name": "s"}]
    assert render(compiled, {"s": Loud("hi")}, declared) == "hi"
    assert type(render(compiled, {"s": Loud("hi")}, declared)) is str


def test_floats_print_identically() -> None:
    compiled = compile_template("{{ f }}")
    for f in (0.1, 1 / 3, 1e-320, 1.7976931348623157e308, -math.pi):
        assert render(compiled, {"f": f}) == render(general(compiled), {"f": f})


def test_general_renderer_still_used_for_other_templates() -> None:
    assert templates.render("{% for i in (1..3) %}{{ i }}{% endfor %}", {}) == "123"
