"""The examples of docs/client.md's "Chat prompts and model configuration" run as written.

The python blocks between the ``<!-- docs-examples: begin … -->`` and ``<!-- docs-examples: end -->``
markers are run in order, in one namespace, statement by statement. A statement followed by a comment

* ``# -> VALUE`` (on its line, or on the next; a value may go on over comment lines indented by at least
  two spaces after the ``#``) is an expression whose result must equal the Python literal VALUE;
* ``# raises Name: message`` (continued the same way, the lines joined by one space) must raise an
  exception of that class name whose ``str()`` is exactly the message.

Every other statement must simply run.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "client.md"
BEGIN = "<!-- docs-examples: begin"
END = "<!-- docs-examples: end -->"


@dataclass
class Expectation:
    kind: str  # "->" or "raises"
    text: str
    line: int  # of the comment, 1-based within the block


def blocks() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    assert text.count(BEGIN) == 1 and text.count(END) == 1, f"{DOC} must mark its examples exactly once"
    section = text.split(BEGIN, 1)[1].split(END, 1)[0]
    found = re.findall(r"^```python\n(.*?)^```[ \t]*$", section, re.S | re.M)
    assert found, "no python blocks between the markers"
    return found


def _comments(source: str) -> dict[int, tuple[int, str]]:
    """Line → (column, text) of every comment (found by the tokenizer, so a '#' in a string is no comment)."""
    found = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            found[token.start[0]] = (token.start[1], token.string)
    return found


_START = re.compile(r"#\s*(->|raises)\s?(.*)$", re.S)
_GOES_ON = re.compile(r"#\s{2,}\S")


def expectations(source: str, statements: list[ast.stmt]) -> dict[int, Expectation]:
    """Statement index → what its trailing comment says it gives."""
    comments = _comments(source)
    lines = source.splitlines()
    result: dict[int, Expectation] = {}
    for index, statement in enumerate(statements):
        end = statement.end_lineno or statement.lineno
        candidates = [end, end + 1]
        for line in candidates:
            comment = comments.get(line)
            if comment is None:
                continue
            column, text = comment
            if line != end and lines[line - 1][:column].strip():
                continue  # a comment after another statement's code
            match = _START.match(text)
            if match is None:
                continue
            kind, parts = match.group(1), [match.group(2)]
            following = line + 1
            while following in comments and not lines[following - 1][:comments[following][0]].strip() \
                    and _GOES_ON.match(comments[following][1]):
                parts.append(comments[following][1][1:])
                following += 1
            joined = "\n".join(parts) if kind == "->" else " ".join(part.strip() for part in parts)
            result[index] = Expectation(kind, joined, line)
            break
    return result


def run_block(source: str, number: int, namespace: dict) -> int:
    """Run one block; returns how many expectations it checked."""
    name = f"docs/client.md, example {number}"
    statements = ast.parse(source, filename=name).body
    expected = expectations(source, statements)
    for index, statement in enumerate(statements):
        expectation = expected.get(index)
        where = f"{name}, line {statement.lineno}"
        if expectation is None:
            exec(compile(ast.Module(body=[statement], type_ignores=[]), name, "exec"), namespace)
            continue
        if expectation.kind == "->":
            assert isinstance(statement, ast.Expr), f"{where}: '# ->' follows something that is no expression"
            wanted = ast.literal_eval(expectation.text)
            got = eval(compile(ast.Expression(body=statement.value), name, "eval"), namespace)
            assert got == wanted, f"{where}: got {got!r}, the document says {wanted!r}"
            continue
        error_name, _, message = expectation.text.partition(": ")
        try:
            exec(compile(ast.Module(body=[statement], type_ignores=[]), name, "exec"), namespace)
        except Exception as exc:  # noqa: BLE001 - compared with what the document says
            assert type(exc).__name__ == error_name, f"{where}: raised {type(exc).__name__}: {exc}"
            assert str(exc) == message, f"{where}: the message is\n{exc}\nthe document says\n{message}"
        else:
            pytest.fail(f"{where}: raised nothing, the document says {error_name}")
    return len(expected)


@pytest.fixture
def outside_any_app(tmp_path, monkeypatch):
    """No ANVIL_* settings and no .anvil/client.json around: the examples must not need them."""
    import os

    for key in list(os.environ):
        if key.startswith("ANVIL_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def test_the_chat_examples_run_as_written(outside_any_app):
    namespace: dict = {"__name__": "docs_examples"}
    checked = 0
    try:
        for number, source in enumerate(blocks(), start=1):
            checked += run_block(source, number, namespace)
    finally:
        for value in namespace.values():
            stop = getattr(value, "stop", None)
            if type(value).__name__ == "Client" and callable(stop):
                stop()
    assert checked >= 10, f"only {checked} results checked: are the '# ->' comments still there?"


def test_the_checker_reads_results_and_errors():
    """The checker itself: a wrong result or message fails, a right one passes."""
    namespace: dict = {}
    assert run_block("x = [1,\n     2]\nx   # -> [1,\n    #     2]\nlen(x)\n# -> 2\n", 1, namespace) == 2
    assert run_block("{}['k']\n# raises KeyError: 'k'\n", 1, namespace) == 1
    with pytest.raises(AssertionError):
        run_block("1 + 1  # -> 3\n", 1, {})
    with pytest.raises(AssertionError):
        run_block("int('x')\n# raises ValueError: another\n#   message\n", 1, {})
    with pytest.raises(pytest.fail.Exception):
        run_block("1\n# raises ValueError: nothing\n", 1, {})
