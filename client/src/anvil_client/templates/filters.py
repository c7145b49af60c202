"""The filters added for LLM prompts (``token_count``, ``truncate_tokens``,
``json``, ``bullet_list``, ``indent``, ``strip_blank_lines``), the clock-free
``date`` filter, and the guard every filter runs behind (time, size and number
checks)."""

from __future__ import annotations

import json as _json
import re
import textwrap
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Callable

from liquid import Environment
from liquid.context import RenderContext
from liquid.exceptions import FilterArgumentError
from liquid.stringify import to_liquid_string
from liquid.undefined import Undefined

from .errors import _describe, _FilterLimitError
from .limits import _MAX_INTEGER_BITS, MAX_OUTPUT_SIZE
from .sandbox import _RenderContext


_TOKEN_PIECE = re.compile(r"[A-Za-z]+|[0-9]+|\S")
_LETTERS_PER_TOKEN = 5
_DIGITS_PER_TOKEN = 3


def _piece_size(piece: str) -> int:
    """Characters per token for a piece matched by ``_TOKEN_PIECE``."""
    if piece[0].isascii() and piece[0].isalpha():
        return _LETTERS_PER_TOKEN
    if piece[0].isascii() and piece[0].isdigit():
        return _DIGITS_PER_TOKEN
    return 1


_ELLIPSIS = "\u2026"


def _text(value: object) -> str:
    """Stringify a value exactly as ``{{ value }}`` would."""
    if isinstance(value, Undefined):
        str(value)  # raises for our strict undefined
        return ""
    if isinstance(value, str):
        return value
    return to_liquid_string(value, False)


def estimate_tokens(text: str) -> int:
    """Approximate the number of LLM tokens in ``text`` (deterministic).

    Heuristic, no tokenizer: every run of ASCII letters counts one token per
    started 5 letters, every run of ASCII digits one token per started 3
    digits, every other non-whitespace character (punctuation, symbols,
    letters outside ASCII such as ``é`` or ``中``) one token; whitespace is
    free.  ``"Hello, world!"`` -> 4.  It is close to real tokenizers for
    English prose and over-estimates accented and non-Latin text.
    """
    total = 0
    for match in _TOKEN_PIECE.finditer(text):
        piece = match.group()
        size = _piece_size(piece)
        total += (len(piece) + size - 1) // size
    return total


def _int_arg(value: object, filter_name: str, low: int, high: int) -> int:
    """Read an integer filter argument (an int or a string of digits)."""
    if isinstance(value, Undefined):
        _text(value)  # raises: undefined variable
    number: int | None = None
    if type(value) is int:
        number = value
    elif isinstance(value, str) and re.fullmatch(r"\s*[+-]?[0-9]{1,18}\s*", value):
        number = int(value)
    if number is None or not low <= number <= high:
        raise FilterArgumentError(
            f"{filter_name}: expected an integer from {low} to {high}, "
            f"found {_describe(value)}",
            token=None,
        )
    return number


def token_count(value: object) -> int:
    """``{{ text | token_count }}``: approximate token count of the text.

    The value is stringified as ``{{ value }}`` would print it, then counted
    with :func:`estimate_tokens` (runs of ASCII letters: one token per started
    5 letters; runs of digits: one per started 3 digits; any other non-space
    character: one token; whitespace: free).
    Example: ``{{ "Hello, world!" | token_count }}`` -> ``4``.
    """
    return estimate_tokens(_text(value))


def truncate_tokens(value: object, budget: object) -> str:
    """``{{ text | truncate_tokens: 500 }}``: cut text to about N tokens.

    Uses the :func:`estimate_tokens` heuristic.  If the text fits in N tokens it
    is returned unchanged.  Otherwise it is cut after as many tokens as fit in
    N - 1 (a long word may be cut inside, after a multiple of 5 letters) and
    "…" (one token) is appended, so ``token_count`` of the result is never more
    than N.  ``truncate_tokens: 0`` gives an empty string for text that has
    any tokens.  Example: ``{{ "one two three four" | truncate_tokens: 3 }}``
    -> ``one two…``.
    """
    text = _text(value)
    limit = _int_arg(budget, "truncate_tokens", 0, MAX_OUTPUT_SIZE)
    if estimate_tokens(text) <= limit:
        return text
    if limit == 0:
        return ""
    room = limit - 1
    used = 0
    end = 0
    for match in _TOKEN_PIECE.finditer(text):
        piece = match.group()
        size = _piece_size(piece)
        cost = (len(piece) + size - 1) // size
        if used + cost <= room:
            used += cost
            end = match.end()
            continue
        if room > used:  # cut inside a long run of letters or digits
            end = match.start() + size * (room - used)
        break
    return text[:end] + _ELLIPSIS


def _jsonable(value: object) -> object:
    if isinstance(value, Undefined):
        _text(value)
    if isinstance(value, Mapping):
        return {str(key): value[key] for key in value}
    if isinstance(value, (range, tuple)):
        return list(value)
    raise TypeError(f"cannot encode a value of type {type(value).__name__}")


def json_filter(value: object, indent: object = None) -> str:
    """``{{ value | json }}``: encode a value as JSON.

    Non-ASCII characters are kept as is (``ensure_ascii=False``); object keys
    keep their order.  An optional indent (0-16) pretty-prints:
    ``{{ user | json: 2 }}``.  Without it the output is on one line with
    ``", "`` and ``": "`` separators: ``{{ tags | json }}`` -> ``["a", "b"]``.
    """
    if isinstance(value, Undefined):
        _text(value)
    width = None if indent is None else _int_arg(indent, "json", 0, 16)
    try:
        return _json.dumps(
            value, ensure_ascii=False, indent=width, allow_nan=False, default=_jsonable
        )
    except (TypeError, ValueError) as err:
        raise FilterArgumentError(f"json: {err}", token=None) from err


def bullet_list(value: object, marker: object = "- ") -> str:
    """``{{ items | bullet_list }}``: one bullet line per item.

    A list gives one line per item (each item stringified like ``{{ item }}``);
    a string gives one line per non-blank line (stripped); an object gives one
    ``key: value`` line per entry.  The marker defaults to ``"- "``; lines of a
    multi-line item after the first are indented to align with the text.
    Lines are joined with ``\\n``, without a trailing newline.
    Example: ``{{ "a,b" | split: "," | bullet_list: "* " }}`` -> ``* a\\n* b``.
    """
    prefix = _text(marker)
    if len(prefix) > 100:
        raise FilterArgumentError("bullet_list: marker is longer than 100 characters", token=None)
    if isinstance(value, Undefined):
        _text(value)
    if value is None:
        return ""
    if isinstance(value, str):
        items = [line.strip() for line in value.splitlines() if line.strip()]
    elif isinstance(value, Mapping):
        items = [f"{key}: {_text(value[key])}" for key in value]
    elif isinstance(value, (list, tuple, range)):
        items = [_text(item) for item in value]
    else:
        items = [_text(value)]
    pad = " " * len(prefix)
    lines = []
    for item in items:
        first, *rest = item.split("\n") if item else [""]
        lines.append(prefix + first)
        lines.extend(pad + line if line.strip() else line for line in rest)
    return "\n".join(lines)


def indent(value: object, width: object = 2) -> str:
    """``{{ text | indent: 4 }}``: prefix every non-blank line with N spaces.

    N defaults to 2 and must be from 0 to 100; blank lines are left as they
    are.  Example: ``{{ "a\\n\\nb" | indent: 2 }}`` -> ``"  a\\n\\n  b"``.
    """
    text = _text(value)
    spaces = _int_arg(width, "indent", 0, 100)
    if len(text) + spaces * (text.count("\n") + 1) > MAX_OUTPUT_SIZE:
        raise _FilterLimitError("output_size")
    return textwrap.indent(text, " " * spaces)


def strip_blank_lines(value: object) -> str:
    """``{{ text | strip_blank_lines }}``: remove lines that are empty or only
    whitespace (handy after tags that leave blank lines behind).

    A final newline is kept if the text had one.
    Example: ``"a\\n\\n  \\nb\\n"`` -> ``"a\\nb\\n"``.
    """
    text = _text(value)
    kept = [line for line in text.split("\n") if line.strip()]
    result = "\n".join(kept)
    if kept and text.endswith("\n"):
        result += "\n"
    return result


def _make_date_filter(builtin_date: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap liquid's ``date`` filter so it is deterministic.

    ``"now"``/``"today"`` are refused (a template must not read the clock;
    pass the date as a parameter), integer timestamps are interpreted as UTC,
    and strings must be ISO 8601 (other strings are returned unchanged).
    """

    def date(value: object, fmt: object, *, environment: Environment) -> object:
        if isinstance(value, Undefined) or isinstance(fmt, Undefined):
            return builtin_date(value, fmt, environment=environment)
        if isinstance(value, str) and value.strip().lower() in ("now", "today"):
            raise FilterArgumentError(
                "date: 'now' and 'today' are not available in prompt templates; "
                "pass the date as a parameter",
                token=None,
            )
        when: object = value
        if isinstance(value, bool):
            return to_liquid_string(value, False)
        if isinstance(value, (int, float)) or (
            isinstance(value, str) and value.isascii() and value.isdigit()
        ):
            try:
                when = datetime.fromtimestamp(float(value), tz=timezone.utc)
            except (ValueError, OverflowError, OSError) as err:
                raise FilterArgumentError(f"date: invalid timestamp {value!r}", token=None) from err
        elif isinstance(value, str):
            try:
                when = datetime.fromisoformat(value.strip())
            except ValueError:
                return value
        if isinstance(fmt, str) and len(fmt) > 200:
            raise FilterArgumentError("date: format is longer than 200 characters", token=None)
        if isinstance(fmt, str) and re.search(r"%[-_0^#]*\d{3,}", fmt):
            raise FilterArgumentError("date: format field width too large", token=None)
        return builtin_date(when, fmt, environment=environment)

    date.with_environment = True  # type: ignore[attr-defined]
    date.__doc__ = _make_date_filter.__doc__
    return date


_MATH_FILTERS = frozenset(
    ["abs", "at_least", "at_most", "ceil", "divided_by", "floor", "minus",
     "modulo", "plus", "round", "times", "sum"]
)


_PRECHECKED_FILTERS = _MATH_FILTERS | {"join", "replace"}  # the filters _precheck looks at


def _too_big(value: object) -> bool:
    return type(value) is int and value.bit_length() > _MAX_INTEGER_BITS


def _precheck(name: str, left: object, args: tuple[object, ...]) -> None:
    """Refuse filter calls whose result would obviously be too large."""
    if name in _MATH_FILTERS:
        if _too_big(left) or any(_too_big(arg) for arg in args):
            raise _FilterLimitError("number_size")
        if name == "times" and args and type(left) is int and type(args[0]) is int:
            if left.bit_length() + args[0].bit_length() > _MAX_INTEGER_BITS:
                raise _FilterLimitError("number_size")
    elif name == "join" and type(left) in (list, tuple, range) and args:
        sep = args[0]
        if type(sep) is str and len(left) * len(sep) > MAX_OUTPUT_SIZE:  # type: ignore[arg-type]
            raise _FilterLimitError("output_size")
    elif name == "replace" and type(left) is str and len(args) >= 2:
        old, new = args[0], args[1]
        if type(old) is str and type(new) is str and len(new) > len(old):
            count = len(left) + 1 if not old else left.count(old)
            if len(left) + count * (len(new) - len(old)) > MAX_OUTPUT_SIZE:
                raise _FilterLimitError("output_size")


def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a filter with time, size and number checks."""
    wants_context = bool(getattr(func, "with_context", False))
    wants_environment = bool(getattr(func, "with_environment", False))
    prechecked = name in _PRECHECKED_FILTERS

    def guarded(left: object, *args: object, context: RenderContext, **kwargs: object) -> object:
        if isinstance(context, _RenderContext):
            context.check_time()
        if prechecked:
            _precheck(name, left, args)
        if wants_context:
            kwargs["context"] = context
        if wants_environment:
            kwargs["environment"] = context.env
        result = func(left, *args, **kwargs)
        kind = type(result)
        if (kind is str or kind is list) and len(result) > MAX_OUTPUT_SIZE:
            raise _FilterLimitError("output_size")
        if kind is int and result.bit_length() > _MAX_INTEGER_BITS:
            raise _FilterLimitError("number_size")
        return result

    guarded.with_context = True  # type: ignore[attr-defined]
    guarded.__name__ = f"guarded_{name}"
    guarded.__doc__ = func.__doc__
    return guarded
