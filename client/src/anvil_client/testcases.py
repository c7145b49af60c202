"""Prompt tests: run a prompt's test cases offline, with the template engine that serves it.

A *test case* renders a prompt with some variables and checks the rendered output (a text prompt's text, a
chat prompt's messages; nothing calls a model) with *assertions*: ``equals``, ``contains``, ``icontains``,
``not-contains``, ``starts-with``, ``regex``, ``max-tokens``, ``is-json``, ``json-schema``, ``error`` and
``snapshot`` (promptfoo's names where they overlap). The format, each assertion's rule and the targets of
a chat prompt's assertions are documented in docs/prompt-tests.md; :func:`parse_test_cases` checks a
definition, :func:`run_test_cases` runs them, :func:`anvil_client.junit.junit_xml` reports them for CI.
"""

from __future__ import annotations

import difflib
import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Union

from . import templates as tpl
from .templates.errors import _describe  # how every error message of the package shows a value

ASSERTION_TYPES: tuple[str, ...] = (
    "equals",
    "contains",
    "icontains",
    "not-contains",
    "starts-with",
    "regex",
    "max-tokens",
    "is-json",
    "json-schema",
    "error",
    "snapshot",
)
"""Every assertion type, in the order the module docstring documents them."""

KINDS: tuple[str, ...] = ("text", "chat")

_STRING_TYPES = ("equals", "contains", "icontains", "not-contains", "starts-with")
_CASE_KEYS = ("name", "variables", "assert", "snapshot")
_ASSERTION_KEYS = ("type", "value", "target", "name")
_EXCERPT = 120  # characters of a long text a message shows

Target = Union[int, str, None]
Output = Union[str, list[dict[str, str]]]



class TestCaseError(ValueError):
    """A test definition is invalid: ``message`` in words, ``path`` where (``tests[1].assert[0].value``).

    ``str(error)`` is ``"<path>: <message>"``.
    """

    __test__: ClassVar[bool] = False  # not a pytest test class

    message: str
    path: str

    def __init__(self, message: str, path: str) -> None:
        super().__init__(f"{path}: {message}")
        self.message = message
        self.path = path


@dataclass(frozen=True)
class Assertion:
    """One check of a test case (see the module docstring for each ``type`` and its ``value``).

    ``target``: None for the whole output; for a chat prompt, a message index (negative from the end)
    or a role (the last message with that role).
    """

    type: str
    value: Any = field(default=None, hash=False)
    target: Target = None
    name: str | None = None


@dataclass(frozen=True)
class TestCase:
    """A prompt rendered with ``variables`` (a JSON object) and checked by ``assertions``."""

    __test__: ClassVar[bool] = False  # not a pytest test class

    name: str
    variables: Mapping[str, Any] = field(default_factory=dict, hash=False)
    assertions: tuple[Assertion, ...] = ()
    snapshot: str | None = None
    """The stored rendering its ``snapshot`` assertion compares with (None: none stored yet)."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError("a test case's name must be a non-empty string")


@dataclass(frozen=True)
class AssertionResult:
    """How one assertion went: ``message`` is empty when it passed, else what was expected and got."""

    type: str
    target: Target
    passed: bool
    message: str
    name: str | None = None

    @property
    def label(self) -> str:
        """The assertion as a report names it: ``contains``, ``contains [-1]``, ``'greets' (contains)``."""
        text = self.type if self.target is None else f"{self.type} [{self.target}]"
        return f"{self.name!r} ({text})" if self.name else text


@dataclass
class CaseResult:
    """How one test case went.

    ``output``: what the prompt rendered (a text prompt's string, a chat prompt's list of messages), None
    when the render failed; ``error``: the render's error message, or None; ``snapshot``: the case's new
    snapshot text when running with ``update_snapshots`` (None otherwise, or if the case has no
    ``snapshot`` assertion or did not render); ``seconds``: time spent rendering and checking.
    """

    name: str
    passed: bool
    output: Output | None
    error: str | None
    assertions: list[AssertionResult]
    snapshot: str | None
    seconds: float

    @property
    def failures(self) -> list[str]:
        """Why the case failed, one line per reason (empty when it passed)."""
        lines = [f"{r.label}: {r.message}" for r in self.assertions if not r.passed]
        if self.error is not None and not any(r.type == "error" for r in self.assertions):
            lines.insert(0, f"the render failed: {self.error}")
        return lines


# --- parsing ---------------------------------------------------------------------------------------


def _unknown_key(key: object, known: Sequence[str], path: str) -> TestCaseError:
    text = str(key)
    close = difflib.get_close_matches(text, known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return TestCaseError(f"unknown key {text[:60]!r}{hint} (the keys are {', '.join(known)})", f"{path}.{text[:60]}")


def _schema_validator(schema: object, path: str) -> Any:
    """A validator for ``schema``, which must be a valid JSON Schema (else TestCaseError at ``path``)."""
    import referencing
    from jsonschema.exceptions import SchemaError  # type: ignore[import-untyped,unused-ignore]
    from jsonschema.validators import validator_for  # type: ignore[import-untyped,unused-ignore]

    if not isinstance(schema, (Mapping, bool)):
        raise TestCaseError(f"must be a JSON Schema (an object), not {_describe(schema)}", path)
    if isinstance(schema, Mapping) and "$schema" in schema and validator_for(schema, default=None) is None:
        raise TestCaseError(f"unknown $schema {_describe(schema['$schema'])}", path)
    cls = validator_for(schema)
    try:
        cls.check_schema(schema)
    except SchemaError as err:
        where = _json_path(err.absolute_path)
        raise TestCaseError(f"not a valid JSON Schema{f' at {where!r}' if where else ''}: "
                            f"{_shorten(err.message, 200)}", path) from None
    return cls(schema, registry=referencing.Registry())


def _parse_assertion(item: object, kind: str, path: str) -> Assertion:
    if not isinstance(item, Mapping):
        raise TestCaseError(f"an assertion must be an object with a 'type', not {_describe(item)}", path)
    for key in item:
        if key not in _ASSERTION_KEYS:
            raise _unknown_key(key, _ASSERTION_KEYS, path)
    if "type" not in item:
        raise TestCaseError("an assertion needs a 'type'", path)
    kind_ = item["type"]
    if kind_ not in ASSERTION_TYPES:
        close = difflib.get_close_matches(str(kind_), ASSERTION_TYPES, n=1) if isinstance(kind_, str) else []
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise TestCaseError(f"unknown assertion type {_describe(kind_)}{hint} (the types are "
                            f"{', '.join(ASSERTION_TYPES)})", f"{path}.type")
    type_ = str(kind_)
    value = item.get("value")
    where = f"{path}.value"
    if type_ in _STRING_TYPES:
        if not isinstance(value, str):
            raise TestCaseError(f"'{type_}' needs a string value, not {_describe(value)}", where)
        if type_ == "not-contains" and not value:
            raise TestCaseError("'not-contains' needs a non-empty string (every text contains '')", where)
        value = str(value)
    elif type_ == "regex":
        if not isinstance(value, str):
            raise TestCaseError(f"'regex' needs a regular expression (a string), not {_describe(value)}", where)
        try:
            re.compile(value)
        except re.error as err:
            raise TestCaseError(f"invalid regular expression {_describe(value)}: {err}", where) from None
        value = str(value)
    elif type_ == "max-tokens":
        if type(value) is not int or value < 1:
            raise TestCaseError(f"'max-tokens' needs an integer >= 1, not {_describe(value)}", where)
    elif type_ == "is-json":
        if value is not None:
            _schema_validator(value, where)
    elif type_ == "json-schema":
        if value is None:
            raise TestCaseError("'json-schema' needs a JSON Schema as its value", where)
        _schema_validator(value, where)
    elif type_ == "error":
        if value is not None and not isinstance(value, str):
            raise TestCaseError(f"'error' takes a string (a part of the error message) or null, not "
                                f"{_describe(value)}", where)
    elif type_ == "snapshot":
        if value is not None:
            raise TestCaseError("'snapshot' takes no value: the stored rendering is the test's 'snapshot' key", where)

    target = item.get("target")
    where = f"{path}.target"
    if target is not None:
        if kind != "chat":
            raise TestCaseError("a text prompt's output is one text: 'target' is only for chat prompts", where)
        if type_ == "error":
            raise TestCaseError("an 'error' assertion is about the whole render: it has no 'target'", where)
        if isinstance(target, bool) or not isinstance(target, (int, str)):
            raise TestCaseError(f"'target' must be a message index or a role, not {_describe(target)}", where)
        if isinstance(target, str) and target not in tpl.ROLES:
            raise TestCaseError(f"'target' {_describe(target)} is not a role ({', '.join(tpl.ROLES)}) or "
                                f"a message index", where)
    name = item.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise TestCaseError(f"an assertion's name must be a non-empty string, not {_describe(name)}",
                            f"{path}.name")
    return Assertion(type_, value, target, name)


def parse_test_cases(items: object, *, kind: str) -> list[TestCase]:
    """Validate a prompt's test definitions (a JSON-like list, see the module docstring).

    ``kind`` is the prompt's kind, ``"text"`` or ``"chat"``.  Raises :class:`TestCaseError` naming
    where the first problem is (``tests[1].assert[0].value``).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Sequence):
        raise TestCaseError(f"tests must be a list of test objects, not {_describe(items)}", "tests")
    cases: list[TestCase] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        path = f"tests[{index}]"
        if not isinstance(item, Mapping):
            raise TestCaseError(f"a test must be an object with a 'name', not {_describe(item)}", path)
        for key in item:
            if key not in _CASE_KEYS:
                raise _unknown_key(key, _CASE_KEYS, path)
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise TestCaseError(f"a test needs a name, a non-empty string (got {_describe(name)})", f"{path}.name")
        if name in seen:
            raise TestCaseError(f"duplicate test name {name!r} (also tests[{seen[name]}])", f"{path}.name")
        seen[name] = index
        variables = item.get("variables", {})
        if not isinstance(variables, Mapping) or not all(isinstance(key, str) for key in variables):
            raise TestCaseError(f"variables must be a JSON object, not {_describe(variables)}",
                                f"{path}.variables")
        raw = item.get("assert", [])
        if isinstance(raw, (str, bytes, Mapping)) or not isinstance(raw, Sequence):
            raise TestCaseError(f"'assert' must be a list of assertions, not {_describe(raw)}", f"{path}.assert")
        assertions = tuple(_parse_assertion(a, kind, f"{path}.assert[{i}]") for i, a in enumerate(raw))
        types = [a.type for a in assertions]
        if "error" in types:
            other = next((i for i, t in enumerate(types) if t != "error"), None)
            if other is not None:
                raise TestCaseError(f"a test expecting a render error cannot check the output too "
                                    f"('{types[other]}'): make it a separate test", f"{path}.assert[{other}]")
        if types.count("snapshot") > 1:
            second = [i for i, t in enumerate(types) if t == "snapshot"][1]
            raise TestCaseError("a test has at most one 'snapshot' assertion (snapshots are stored by "
                                "test name)", f"{path}.assert[{second}]")
        snapshot = item.get("snapshot")
        if snapshot is not None and not isinstance(snapshot, str):
            raise TestCaseError(f"'snapshot' is the stored rendering, a string, not {_describe(snapshot)}",
                                f"{path}.snapshot")
        if snapshot is not None and "snapshot" not in types:
            raise TestCaseError("a stored 'snapshot' needs a 'snapshot' assertion to compare it with",
                                f"{path}.snapshot")
        cases.append(TestCase(str(name), dict(variables), assertions, snapshot))
    return cases


def to_json(cases: Sequence[TestCase]) -> list[dict[str, Any]]:
    """The canonical JSON form of test cases, as stored and exchanged: ``parse_test_cases`` reads it back
    to equal cases, and ``to_json(parse_test_cases(to_json(c)))`` is ``to_json(c)``. Keys in a fixed
    order; ``variables`` and ``assert`` always present; an assertion's ``value``, ``target`` and
    ``name`` and a case's ``snapshot`` only when set."""
    out: list[dict[str, Any]] = []
    for case in cases:
        item: dict[str, Any] = {"name": case.name, "variables": dict(case.variables), "assert": []}
        for a in case.assertions:
            entry: dict[str, Any] = {"type": a.type}
            if a.value is not None:
                entry["value"] = a.value
            if a.target is not None:
                entry["target"] = a.target
            if a.name is not None:
                entry["name"] = a.name
            item["assert"].append(entry)
        if case.snapshot is not None:
            item["snapshot"] = case.snapshot
        out.append(item)
    return out


def with_snapshots(cases: Sequence[TestCase], results: Sequence[CaseResult]) -> list[TestCase]:
    """``cases`` with the snapshots a run with ``update_snapshots`` recorded (results in the same order)."""
    return [replace(c, snapshot=r.snapshot) if r.snapshot is not None else c for c, r in zip(cases, results)]


def summary(results: Sequence[CaseResult]) -> dict[str, Any]:
    """``{"total", "passed", "failed", "failing": [names of failing tests]}`` of a run."""
    failing = [r.name for r in results if not r.passed]
    return {"total": len(results), "passed": len(results) - len(failing), "failed": len(failing),
            "failing": failing}


# --- running ---------------------------------------------------------------------------------------


def conversation_text(messages: Sequence[Mapping[str, str]]) -> str:
    """A chat prompt's rendered messages as one text: ``role: content``, joined by a blank line."""
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in messages)


def _shorten(text: str, limit: int = _EXCERPT) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _quote(text: str, limit: int = _EXCERPT) -> str:
    """``text`` for a message: quoted, its start only if long (saying how long it is)."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


def _around(text: str, index: int, width: int = _EXCERPT // 2) -> str:
    """The part of ``text`` around ``index``, quoted, with ``...`` where it is cut."""
    start = max(0, index - width // 2)
    end = min(len(text), start + width)
    return f"{'...' if start else ''}{text[start:end]!r}{'...' if end < len(text) else ''}"


def _difference(expected: str, got: str) -> str:
    """Where two texts first differ, shown around that place."""
    index = next((i for i, (a, b) in enumerate(zip(expected, got)) if a != b), min(len(expected), len(got)))
    line = got.count("\n", 0, index) + 1
    column = index - (got.rfind("\n", 0, index) + 1) + 1
    if index == len(got):
        detail = f"the text ends early ({len(got)} characters of {len(expected)}), before {_around(expected, index)}"
    elif index == len(expected):
        detail = f"the text goes on ({len(got)} characters, {len(expected)} expected): {_around(got, index)}"
    else:
        detail = f"expected {_around(expected, index)}, got {_around(got, index)}"
    return f"first difference at character {index} (line {line}, column {column}): {detail}"


def _json_path(path: Iterable[object]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _select(output: Output, target: Target) -> tuple[str | None, str]:
    """The text an assertion looks at and how to name it, or (None, why there is none)."""
    if isinstance(output, str):
        if target is not None:
            return None, f"a text prompt has no messages: target {target!r} cannot be used"
        return output, "the output"
    if target is None:
        return conversation_text(output), "the conversation"
    if isinstance(target, int):
        if not -len(output) <= target < len(output):
            return None, f"there is no message [{target}]: the conversation has {len(output)} messages"
        message = output[target]
        position = target % len(output)
        return message["content"], f"messages[{position}] ({message['role']})"
    for position in range(len(output) - 1, -1, -1):
        if output[position]["role"] == target:
            return output[position]["content"], f"the last {target} message (messages[{position}])"
    roles = ", ".join(sorted({m["role"] for m in output})) or "none"
    return None, f"there is no {target} message (the conversation's roles: {roles})"


def _check_json(text: str, schema: object | None, subject: str) -> str:
    """'' if ``text`` is JSON (matching ``schema`` if given), else what is wrong."""
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as err:
        return f"expected {subject} to be JSON; it is not ({_shorten(str(err))}): got {_quote(text)}"
    if schema is None:
        return ""
    from jsonschema.exceptions import best_match  # type: ignore[import-untyped,unused-ignore]

    try:
        validator = _schema_validator(schema, "value")
    except TestCaseError as err:
        return f"the JSON Schema is invalid: {err.message}"
    try:
        error = best_match(validator.iter_errors(document))
    except Exception as err:  # an unresolvable $ref, a schema recursing forever...
        return f"{subject} could not be checked against the schema: {_shorten(str(err))}"
    if error is None:
        return ""
    where = _json_path(error.absolute_path)
    return (f"expected {subject} to match the JSON Schema; it does not{f' at {where!r}' if where else ''}: "
            f"{_shorten(error.message, 200)}; got {_quote(text)}")


def _check(assertion: Assertion, text: str, subject: str) -> str:
    """'' if ``assertion`` (not error/snapshot) holds for ``text``, else what was expected and got."""
    type_, value = assertion.type, assertion.value
    if type_ == "equals":
        return "" if text == value else f"expected {subject} to equal {_quote(value)}; {_difference(value, text)}"
    if type_ == "contains":
        return "" if value in text else f"expected {subject} to contain {_quote(value)}; got {_quote(text)}"
    if type_ == "icontains":
        if value.casefold() in text.casefold():
            return ""
        return f"expected {subject} to contain {_quote(value)} (ignoring case); got {_quote(text)}"
    if type_ == "not-contains":
        found = text.find(value)
        if found < 0:
            return ""
        return (f"expected {subject} not to contain {_quote(value)}; found at character {found}: "
                f"{_around(text, found + len(value) // 2)}")
    if type_ == "starts-with":
        if text.startswith(value):
            return ""
        return f"expected {subject} to start with {_quote(value)}; got {_quote(text)}"
    if type_ == "regex":
        if re.search(value, text):
            return ""
        return f"expected {subject} to match the regular expression {_quote(value)}; got {_quote(text)}"
    if type_ == "max-tokens":
        count = tpl.estimate_tokens(text)
        if count <= value:
            return ""
        return f"expected {subject} to have at most {value} tokens; it has {count}: {_quote(text)}"
    if type_ in ("is-json", "json-schema"):
        if not isinstance(value, (Mapping, bool)) and value is not None:
            return f"the JSON Schema must be an object, not {_describe(value)}"
        return _check_json(text, value, subject)
    return f"unknown assertion type {type_!r}"


def _run_case(
    prepared: tpl.PreparedPrompt | tpl.PreparedChat,
    case: TestCase,
    snapshots: Mapping[str, str],
    update_snapshots: bool,
) -> CaseResult:
    start = time.perf_counter()
    output: Output | None = None
    error: str | None = None
    try:
        output = prepared.render(case.variables)
    except tpl.TemplateError as err:
        error = str(err)
    results: list[AssertionResult] = []
    new_snapshot: str | None = None
    for assertion in case.assertions:
        message = ""
        if assertion.type == "error":
            expected = assertion.value
            wanted = "the render to fail" + (f" with an error containing {_quote(expected)}" if expected else "")
            if error is None:
                shown = output if isinstance(output, str) else conversation_text(output or [])
                message = f"expected {wanted}; it succeeded: {_quote(shown)}"
            elif expected is not None and expected not in error:
                message = f"expected {wanted}; got the error {_quote(error, 300)}"
        elif error is not None or output is None:
            message = f"the render failed: {error}"
        else:
            text, subject = _select(output, assertion.target)
            if text is None:
                message = subject
            elif assertion.type == "snapshot":
                stored = snapshots.get(case.name, case.snapshot)
                if update_snapshots:
                    new_snapshot = text
                elif stored is None:
                    message = (f"no snapshot is stored for test {case.name!r}: run with snapshot updating "
                               f"(update_snapshots) to record {subject}")
                elif text != stored:
                    message = f"expected {subject} to equal its snapshot; {_difference(stored, text)}"
            else:
                message = _check(assertion, text, subject)
        results.append(AssertionResult(assertion.type, assertion.target, not message, message, assertion.name))
    expected_error = any(a.type == "error" for a in case.assertions)
    passed = all(r.passed for r in results) and (error is None or expected_error)
    return CaseResult(case.name, passed, output, error, results, new_snapshot, time.perf_counter() - start)


def run_test_cases(
    prepared: tpl.PreparedPrompt | tpl.PreparedChat,
    cases: Sequence[TestCase],
    snapshots: Mapping[str, str] | None = None,
    *,
    update_snapshots: bool = False,
) -> list[CaseResult]:
    """Render ``prepared`` for each case and evaluate its assertions; one result per case, in order.

    ``snapshots``: the stored snapshot texts, by test name (a case's own ``snapshot`` when absent).  With ``update_snapshots``, ``snapshot``
    assertions pass and each result's ``snapshot`` is the text to store.  Never raises for a failing
    render: it is the case's ``error``.
    """
    stored = snapshots if snapshots is not None else {}
    return [_run_case(prepared, case, stored, update_snapshots) for case in cases]


__all__ = [
    "ASSERTION_TYPES",
    "Assertion",
    "AssertionResult",
    "CaseResult",
    "TestCase",
    "TestCaseError",
    "conversation_text",
    "parse_test_cases",
    "run_test_cases",
    "summary",
    "to_json",
    "with_snapshots",
]
