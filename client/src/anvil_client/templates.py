"""The Liquid template environment shared by the FORGE server and ``anvil_client``.

Both sides import this one module, so a prompt renders byte-identically on the
server (previews, tests) and in a production application.  It wraps a single
python-liquid 2 environment, :data:`ENVIRONMENT`, configured for prompts:

* plain text output: HTML auto-escaping is off;
* undefined variables are errors (:class:`UndefinedVariableError`), never
  silent blanks; the only thing a template can do with an undefined value is
  pass it to the ``default`` filter;
* sandboxed: a template sees only the values given to :func:`render` (which
  must be JSON-like: dict, list, str, int, float, bool, None).  The builtin
  ``now``/``today`` variables are removed, the ``date`` filter does not read
  the clock, and ``{% include %}``/``{% render %}`` are rejected when the
  template is compiled, so nothing ever touches the file system;
* bounded: template size, loop iterations (cumulative over the whole render,
  nested loops included), range sizes, output size, block nesting, the size of
  assigned variables, integer size and CPU time are all limited; exceeding a
  limit raises :class:`LimitExceeded`;
* a few filters for LLM prompts: ``token_count``, ``truncate_tokens``,
  ``json``, ``bullet_list``, ``indent`` and ``strip_blank_lines``.

Every failure is reported as a subclass of :class:`TemplateError`; compiling and
rendering never leak a raw liquid or Python exception.

Typical use::

    params = parse_parameters([{"name": "user", "type": "string"}])
    compiled = compile_template("Hello {{ user }}!")   # cache this
    check_parameters(compiled, params).ok              # -> True
    render(compiled, {"user": "Ann"}, params)          # -> "Hello Ann!"
"""

from __future__ import annotations

import json as _json
import math
import re
import textwrap
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from io import StringIO
from typing import Any, Callable, ClassVar, Union

from liquid import Environment
from liquid.ast import BlockNode, Node
from liquid.builtin.content import ContentNode
from liquid.builtin.expressions.filtered import FilteredExpression
from liquid.builtin.expressions.path import Path
from liquid.builtin.output import OutputNode
from liquid.builtin.expressions.primitive import RangeLiteral
from liquid.context import RenderContext
from liquid.exceptions import (
    BlockNestingError,
    ContextDepthError,
    FilterArgumentError,
    LiquidError,
    LiquidSyntaxError,
    LocalNamespaceLimitError,
    LoopIterationLimitError,
    OutputStreamLimitError,
    ResourceLimitError,
    UndefinedError,
)
from liquid.expression import Expression
from liquid.output import LimitedStringIO, NullIO
from liquid.stringify import to_liquid_string
from liquid.tag import Tag
from liquid.template import BoundTemplate
from liquid.undefined import UNDEFINED, StrictUndefined, Undefined
from liquid.utils import ReadOnlyChainMap

__all__ = [
    "ENVIRONMENT",
    "MAX_INTEGER_DIGITS",
    "MAX_LOCALS_SIZE",
    "MAX_LOOP_ITERATIONS",
    "MAX_MARKUP_BRACKETS",
    "MAX_NESTING_DEPTH",
    "MAX_OUTPUT_SIZE",
    "MAX_RENDER_SECONDS",
    "MAX_TEMPLATE_SIZE",
    "PARAMETER_TYPES",
    "AnvilEnvironment",
    "CompiledTemplate",
    "PreparedPrompt",
    "LimitExceeded",
    "Parameter",
    "ParameterCheck",
    "ParameterDefinitionError",
    "ParameterError",
    "RenderError",
    "TemplateError",
    "TemplateSyntaxError",
    "TemplateTooLarge",
    "UndefinedVariableError",
    "check_parameters",
    "coerce_values",
    "compile_template",
    "estimate_tokens",
    "parse_parameters",
    "prepare",
    "render",
    "variables",
]

# ---------------------------------------------------------------------------
# Limits
# ---------------------------------------------------------------------------

PARAMETER_TYPES: tuple[str, ...] = ("string", "number", "boolean")
"""The types a declared parameter can have."""

MAX_TEMPLATE_SIZE = 100_000
"""Maximum template source length, in characters."""

MAX_LOOP_ITERATIONS = 100_000
"""Maximum number of loop iterations per render, counted over all ``for`` and
``tablerow`` loops together (nested loops included).  Also the maximum number
of items in a range such as ``(1..n)``."""

MAX_OUTPUT_SIZE = 1_000_000
"""Maximum rendered output, in characters.  Also applies to ``capture`` blocks
and to any single string or list produced by a filter."""

MAX_NESTING_DEPTH = 30
"""Maximum depth of nested blocks (``if``, ``for``, ``capture``, ...)."""

MAX_RENDER_SECONDS = 2.0
"""Maximum CPU time (of the rendering thread) one render may use, in seconds."""

MAX_LOCALS_SIZE = 16_000_000
"""Maximum total size, in bytes as measured (shallowly) by ``sys.getsizeof``, of
the variables a template creates with ``assign`` and ``capture``."""

MAX_INTEGER_DIGITS = 10_000
"""Approximate maximum number of decimal digits of an integer produced by a math
filter (the check is on the binary size)."""

_MAX_INTEGER_BITS = math.ceil(MAX_INTEGER_DIGITS * math.log2(10))
_MAX_VALUE_DEPTH = 100  # nesting depth of lists/dicts in input values
_MAX_NUMBER_STRING = 400  # longest string accepted for a "number" parameter
_TIME_CHECK_EVERY = 16  # check the CPU clock every N loop iterations / lookups

MAX_MARKUP_BRACKETS = 100
"""Maximum number of ``(`` and ``[`` characters in one tag or output statement.
python-liquid's expression lexer rescans the rest of an expression for each of
them (quadratic time), so this bounds the cost of compiling a template."""

# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


class TemplateError(Exception):
    """Base class of every error raised by this module.

    ``str(error)`` (equal to ``error.message``) is a complete, human-readable
    message.
    """

    message: str

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def _with_location(message: str, line: int | None, column: int | None) -> str:
    if line is None:
        return message
    if column is None:
        return f"{message} (line {line})"
    return f"{message} (line {line}, column {column})"


class _Located(TemplateError):
    """An error that may know where in the template it happened (1-based line and column)."""

    line: int | None
    column: int | None

    def __init__(
        self, message: str, line: int | None = None, column: int | None = None
    ) -> None:
        super().__init__(_with_location(message, line, column))
        self.line = line
        self.column = column


class TemplateSyntaxError(_Located):
    """The template source is not valid (for this environment).

    ``line`` and ``column`` are 1-based and point at the offending token when
    known; the message then ends with ``(line L, column C)``.  Also raised for
    blocks nested deeper than :data:`MAX_NESTING_DEPTH`, unknown filters and the
    forbidden ``include``/``render`` tags.
    """

    line: int | None
    column: int | None


class TemplateTooLarge(TemplateError):
    """The template source is longer than :data:`MAX_TEMPLATE_SIZE` characters."""

    def __init__(self, size: int) -> None:
        super().__init__(
            f"template is too large: {size} characters "
            f"(the limit is {MAX_TEMPLATE_SIZE})"
        )
        self.size = size


class RenderError(_Located):
    """Something went wrong while rendering.

    ``line``/``column`` (1-based) locate the failing statement when known.
    """

    line: int | None
    column: int | None


class UndefinedVariableError(RenderError):
    """The template used a variable (or a key/index of one) that has no value.

    ``name`` is the top-level variable name (``user`` for ``{{ user.email }}``);
    ``path`` is the full expression that was undefined (``user.email``).
    """

    name: str
    path: str

    def __init__(
        self,
        name: str,
        path: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        path = path or name
        if path == name:
            message = f"undefined variable '{name}'"
        else:
            message = f"'{path}' is undefined (in variable '{name}')"
        super().__init__(message, line, column)
        self.name = name
        self.path = path


class LimitExceeded(RenderError):
    """A resource limit was hit while rendering.

    ``limit`` is one of ``"loop_iterations"``, ``"output_size"``,
    ``"nesting_depth"``, ``"render_time"``, ``"locals_size"`` or
    ``"number_size"``.
    """

    limit: str

    def __init__(
        self,
        limit: str,
        message: str,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(message, line, column)
        self.limit = limit


class ParameterError(TemplateError):
    """An input value is missing or invalid; ``parameter`` names it."""

    parameter: str

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


class ParameterDefinitionError(TemplateError):
    """A parameter declaration is invalid; ``parameter`` names it when known."""

    parameter: str | None

    def __init__(self, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter


_LIMIT_MESSAGES = {
    "loop_iterations": (
        f"loop iteration limit exceeded: a render may run at most "
        f"{MAX_LOOP_ITERATIONS} loop iterations in total, and a range may have "
        f"at most {MAX_LOOP_ITERATIONS} items"
    ),
    "output_size": (
        f"output size limit exceeded: the output, a captured block or a filter "
        f"result may be at most {MAX_OUTPUT_SIZE} characters"
    ),
    "nesting_depth": (
        f"nesting depth limit exceeded: at most {MAX_NESTING_DEPTH} nested "
        f"blocks or loops"
    ),
    "render_time": (
        f"render time limit exceeded: rendering took more than "
        f"{MAX_RENDER_SECONDS:g} seconds of CPU time"
    ),
    "locals_size": (
        f"variable size limit exceeded: assigned and captured variables may "
        f"use at most {MAX_LOCALS_SIZE} bytes"
    ),
    "number_size": (
        f"number size limit exceeded: integers may have at most about "
        f"{MAX_INTEGER_DIGITS} digits"
    ),
}


class _AnvilLimitError(ResourceLimitError):
    """Internal: raised inside liquid so that liquid attaches a token."""

    def __init__(self, limit: str) -> None:
        super().__init__(_LIMIT_MESSAGES[limit], token=None)
        self.limit = limit


class _FilterLimitError(_AnvilLimitError, FilterArgumentError):
    """Internal: a limit hit inside a filter (liquid then points at the filter)."""


class _UndefinedVariable(UndefinedError):
    """Internal: an undefined value was used."""

    def __init__(self, name: str, path: str, token: Any) -> None:
        super().__init__(f"'{path}' is undefined", token=token)
        self.name = name
        self.path = path


# ---------------------------------------------------------------------------
# Undefined, render context, template and environment classes
# ---------------------------------------------------------------------------

_UNDEFINED_ALLOWED = frozenset(
    ["__repr__", "force_liquid_default", "name", "hint", "obj", "msg", "path", "token"]
)


def _undefined_error(undef: _Undefined) -> _UndefinedVariable:
    get = object.__getattribute__
    return _UndefinedVariable(get(undef, "name"), get(undef, "path"), get(undef, "token"))


class _Undefined(StrictUndefined):
    """Strict undefined: any use raises, except passing it to ``default``."""

    __slots__ = ("path",)
    force_liquid_default = True
    allowed_properties = _UNDEFINED_ALLOWED

    def __init__(
        self,
        name: str,
        *,
        token: Any = None,
        obj: object = UNDEFINED,
        hint: str | None = None,
    ) -> None:
        super().__init__(name, token=token, obj=obj, hint=hint)
        object.__setattr__(self, "path", name)

    def __getattribute__(self, name: str) -> Any:
        if name in _UNDEFINED_ALLOWED:
            return object.__getattribute__(self, name)
        raise _undefined_error(self)

    def __contains__(self, item: object) -> bool:
        raise _undefined_error(self)

    def __eq__(self, other: object) -> bool:
        raise _undefined_error(self)

    def __getitem__(self, key: object) -> object:
        raise _undefined_error(self)

    def __len__(self) -> int:
        raise _undefined_error(self)

    def __iter__(self) -> Iterator[Any]:
        raise _undefined_error(self)

    def __str__(self) -> str:
        raise _undefined_error(self)

    def __bool__(self) -> bool:
        raise _undefined_error(self)

    def __int__(self) -> int:
        raise _undefined_error(self)

    def __hash__(self) -> int:
        raise _undefined_error(self)

    def __reversed__(self) -> Iterable[Any]:
        raise _undefined_error(self)


_IDENT_SEGMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def _path_str(path: Sequence[object]) -> str:
    it = iter(path)
    buf = [str(next(it))]
    for segment in it:
        if isinstance(segment, str) and _IDENT_SEGMENT.fullmatch(segment):
            buf.append(f".{segment}")
        elif isinstance(segment, str):
            buf.append(f"[{_json.dumps(segment, ensure_ascii=False)}]")
        else:
            buf.append(f"[{segment}]")
    return "".join(buf)


class _OutputBuffer(LimitedStringIO):
    """An output buffer limited in *characters* (liquid's counts UTF-8 bytes).

    It also keeps ``\r`` as is: liquid's own limited buffer uses universal
    newlines and would turn ``\r`` and ``\r\n`` into ``\n``.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(limit=limit, newline="")

    def write(self, s: str) -> int:
        if s:
            self.size += len(s)
            if self.size > self.limit:
                raise OutputStreamLimitError("output stream limit reached", token=None)
        return _stringio_write(self, s)


_stringio_write = StringIO.write


class _Scope(ReadOnlyChainMap):
    """liquid's chain of namespaces, without an exception per namespace missed.

    liquid's ``ReadOnlyChainMap`` tries each namespace and catches the
    ``KeyError``; most lookups miss two or three namespaces (the render's
    own, ``assign`` locals) before reaching the given values, and raising is
    the dominant cost of a lookup.  The lookup order and results are the same.
    """

    def __getitem__(self, key: str) -> object:
        for mapping in self._maps:
            if type(mapping) is dict:
                if key in mapping:
                    return mapping[key]
            else:
                try:
                    return mapping[key]
                except KeyError:
                    pass
        raise KeyError(key)


class _LoopScope:
    """``RenderContext.loop`` as a plain context manager (no generator), which
    also counts every iteration of the loop against the render's budget."""

    __slots__ = ("_context", "_namespace", "_forloop")

    def __init__(self, context: _RenderContext, namespace: Mapping[str, object], forloop: Any) -> None:
        self._context = context
        self._namespace = namespace
        self._forloop = forloop

    def __enter__(self) -> _RenderContext:
        context = self._context
        forloop = self._forloop
        # liquid refuses, before it starts, a loop whose length multiplied by
        # the lengths of the enclosing loops exceeds the limit.
        limit = context.env.loop_iteration_limit
        if limit:
            total = forloop.length * context.loop_iteration_carry
            for outer in context.loops:
                total *= outer.length
            if total > limit:
                raise LoopIterationLimitError("loop iteration limit reached", token=None)
        # ... and we also count every iteration actually run, across all loops.
        forloop.it = context._count_iterations(forloop.it)
        scope = context.scope
        if scope.size() > context.env.context_depth_limit:
            raise ContextDepthError(
                "maximum context depth reached, possible recursive include", token=None
            )
        context.loops.append(forloop)
        scope.push(self._namespace)
        return context

    def __exit__(self, *exc: object) -> None:
        context = self._context
        context.scope.pop()
        context.loops.pop()


class _RenderContext(RenderContext):
    """Render context with a cumulative loop counter, a CPU-time budget and no
    builtin ``now``/``today`` variables."""

    __slots__ = ("_iterations", "_deadline", "_wall_gate", "_ticks")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only the given values, local variables and counters: no `now`/`today`.
        self.scope = _Scope(self.locals, self.globals, self.counters)
        self._iterations = 0
        self._ticks = 0
        self._deadline = time.thread_time() + MAX_RENDER_SECONDS
        # A thread's CPU time cannot grow faster than the wall clock, so the
        # (slower) thread clock only needs reading once half the budget has
        # passed in wall time.
        self._wall_gate = time.perf_counter() + MAX_RENDER_SECONDS / 2

    def check_time(self) -> None:
        """Raise if this render has used up its CPU time budget."""
        if time.perf_counter() > self._wall_gate and time.thread_time() > self._deadline:
            raise _AnvilLimitError("render_time")

    def _tick(self) -> None:
        self._ticks += 1
        if self._ticks % _TIME_CHECK_EVERY == 0:
            self.check_time()

    def get(
        self, path: list[object], *, token: Any, default: object = UNDEFINED
    ) -> object:
        self._ticks += 1
        if self._ticks % _TIME_CHECK_EVERY == 0:
            self.check_time()
        if len(path) == 1:
            # The common case, `{{ name }}`: what RenderContext.get does for a
            # one-segment path, without its generic machinery.
            root = path[0]
            if type(root) is str:
                try:
                    return self.scope[root]
                except (KeyError, TypeError, IndexError):
                    pass
            return super().get(path, token=token, default=default)
        obj = super().get(path, token=token, default=default)
        if type(obj) is _Undefined:
            object.__setattr__(obj, "path", _path_str(path))
        return obj

    def _count_iterations(self, it: Iterator[Any]) -> Iterator[Any]:
        for item in it:
            self._iterations += 1
            if self._iterations > MAX_LOOP_ITERATIONS:
                raise LoopIterationLimitError("loop iteration limit reached", token=None)
            self._ticks += 1
            if self._ticks % _TIME_CHECK_EVERY == 0:
                self.check_time()
            yield item

    def loop(self, namespace: Mapping[str, object], forloop: Any) -> Any:  # type: ignore[override]
        return _LoopScope(self, namespace, forloop)

    def get_buffer(self, buf: Any = None) -> StringIO:
        carry = buf.size if isinstance(buf, LimitedStringIO) else 0
        return _OutputBuffer(limit=MAX_OUTPUT_SIZE - carry)


class _BoundTemplate(BoundTemplate):
    context_class = _RenderContext

    def _get_buffer(self) -> StringIO:
        return _OutputBuffer(limit=MAX_OUTPUT_SIZE)

    def make_partial_namespace(
        self, partial: bool, render_args: Mapping[str, object]
    ) -> Mapping[str, object]:
        # liquid would inject a `partial` variable; we have no partials.
        return dict(render_args)

    def make_globals(self, render_args: Mapping[str, object]) -> Mapping[str, object]:
        # liquid chains the values with the template's front matter and
        # globals, which are always empty here: look the values up directly.
        if not self.matter and not self.globals:
            return render_args
        return super().make_globals(render_args)

    def render_values(self, data: dict[str, object]) -> str:
        """``render(data)`` for a dict the caller owns (it is not copied)."""
        context = _RenderContext(self, globals=self.make_globals(data))
        buf = _OutputBuffer(limit=MAX_OUTPUT_SIZE)
        self.render_with_context(context, buf)
        return buf.getvalue()


class _BoundedRange(RangeLiteral):
    """A range literal refusing more than MAX_LOOP_ITERATIONS items."""

    __slots__ = ()

    def _make_range(self, start: Any, stop: Any) -> range:
        for bound in (start, stop):
            if isinstance(bound, int) and bound.bit_length() > _MAX_INTEGER_BITS:
                raise _AnvilLimitError("number_size")
        result = super()._make_range(start, stop)
        if result.stop - result.start > MAX_LOOP_ITERATIONS:
            raise _AnvilLimitError("loop_iterations")
        return result


class _StaticPath(Path):
    """A path with no nested paths (``user.name``, ``items[0]``): its segments
    are constant, so it is looked up without building a new list each time
    (the render context only reads the list)."""

    __slots__ = ()

    def evaluate(self, context: RenderContext) -> object:
        return context.get(self.path, token=self.token)


class _ForbiddenTag(Tag):
    """``include``/``render`` would load other templates: refused at parse time."""

    block = False

    def parse(self, stream: Any) -> Node:
        raise LiquidSyntaxError(
            f"the '{self.name}' tag is not supported: a prompt template cannot "
            f"include or render other templates",
            token=stream.current,
        )


class _IncludeTag(_ForbiddenTag):
    name = "include"


class _RenderTag(_ForbiddenTag):
    name = "render"


def _locating(get_node: Callable[[Any], Node]) -> Callable[[Any], Node]:
    """Give parse errors that liquid reports without a position (for example
    "end of template" inside a tag or an unclosed block) the position of the
    tag being parsed."""

    def located_get_node(stream: Any) -> Node:
        token = stream.current
        try:
            return get_node(stream)
        except LiquidError as err:
            if err.token is None or err.token.start_index < 0:
                err.token = token
                message = err.message
                if isinstance(message, str):
                    match = re.fullmatch(
                        r"expected tag (end\w+), found end of expression", message
                    )
                    if match:
                        err.args = (
                            f"'{token.value}' block is never closed "
                            f"(expected {{% {match.group(1)} %}})",
                        )
            raise

    return located_get_node


class AnvilEnvironment(Environment):
    """The python-liquid environment used for all Anvil prompt templates.

    Use the module-level :data:`ENVIRONMENT` (through :func:`compile_template`
    and :func:`render`) rather than creating another one.
    """

    block_nesting_limit: ClassVar[int] = MAX_NESTING_DEPTH
    # Parse-time block nesting is the real limit; allow the few scopes a
    # render pushes by itself on top of MAX_NESTING_DEPTH nested loops.
    context_depth_limit: ClassVar[int] = MAX_NESTING_DEPTH + 5
    loop_iteration_limit: ClassVar[int | None] = MAX_LOOP_ITERATIONS
    local_namespace_limit: ClassVar[int | None] = MAX_LOCALS_SIZE
    output_stream_limit: ClassVar[int | None] = MAX_OUTPUT_SIZE
    template_class = _BoundTemplate

    def __init__(self) -> None:
        super().__init__(
            undefined=_Undefined,
            strict_filters=True,
            autoescape=False,
            loader=None,  # an empty in-memory loader; never the file system
        )

    def setup_tags_and_filters(self, *, extra: bool = False) -> None:
        super().setup_tags_and_filters(extra=False)
        self.add_tag(_IncludeTag)
        self.add_tag(_RenderTag)
        for tag in self.tags.values():
            tag.get_node = _locating(tag.get_node)  # type: ignore[method-assign,assignment]
        self.filters["date"] = _make_date_filter(self.filters["date"])
        self.add_filter("token_count", token_count)
        self.add_filter("truncate_tokens", truncate_tokens)
        self.add_filter("json", json_filter)
        self.add_filter("bullet_list", bullet_list)
        self.add_filter("indent", indent)
        self.add_filter("strip_blank_lines", strip_blank_lines)
        for name, func in list(self.filters.items()):
            self.filters[name] = _guard_filter(name, func)


# ---------------------------------------------------------------------------
# Filters
# ---------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------
# The environment
# ---------------------------------------------------------------------------

ENVIRONMENT = AnvilEnvironment()
"""The one environment used by server and client."""


# ---------------------------------------------------------------------------
# Compiling and static analysis
# ---------------------------------------------------------------------------


def _line_column(source: str, index: int) -> tuple[int, int]:
    index = max(0, min(index, len(source)))
    line = source.count("\n", 0, index) + 1
    column = index - (source.rfind("\n", 0, index) + 1) + 1
    return line, column


_RAW_OR_DOC = re.compile(r"\{%-?\s*(raw|doc)\s*-?%\}")
_BLOCK_END = {
    "raw": re.compile(r"\{%-?\s*endraw\s*-?%\}"),
    "doc": re.compile(r"\{%-?\s*enddoc\s*-?%\}"),
}


def _prescan(source: str) -> None:
    """Reject sources that would make python-liquid's lexer take quadratic time.

    Runs in linear time, following the same delimiters as liquid's lexer:
    every ``{{``/``{%`` must be closed, ``raw``/``doc`` blocks must end, and
    one tag or output statement may not contain more than
    :data:`MAX_MARKUP_BRACKETS` ``(`` and ``[`` characters.
    """
    position = 0
    output = source.find("{{")
    tag = source.find("{%")
    while True:
        # Re-search only when the cached hit is behind us (keeps this linear).
        if 0 <= output < position:
            output = source.find("{{", position)
        if 0 <= tag < position:
            tag = source.find("{%", position)
        if output < 0 and tag < 0:
            return
        if tag < 0 or 0 <= output < tag:
            start, close = output, "}}"
        else:
            start, close = tag, "%}"
        end = source.find(close, start + 2)
        if end < 0:
            raise TemplateSyntaxError(
                f"'{source[start:start + 2]}' is never closed (expected '{close}')",
                *_line_column(source, start),
            )
        markup = source[start + 2 : end]
        if markup.count("(") + markup.count("[") > MAX_MARKUP_BRACKETS:
            raise TemplateSyntaxError(
                f"expression is too complex: at most {MAX_MARKUP_BRACKETS} '(' "
                f"and '[' characters are allowed in one tag or output statement",
                *_line_column(source, start),
            )
        position = end + 2
        if close == "%}":
            block = _RAW_OR_DOC.match(source, start)
            if block:
                name = block.group(1)
                block_end = _BLOCK_END[name].search(source, block.end())
                if block_end is None:
                    raise TemplateSyntaxError(
                        f"'{name}' block is never closed (expected {{% end{name} %}})",
                        *_line_column(source, start),
                    )
                position = block_end.end()


def _error_location(err: LiquidError, source: str) -> tuple[int | None, int | None]:
    token = err.token
    if token is None or not isinstance(getattr(token, "start_index", None), int):
        return None, None
    if token.start_index < 0:
        return None, None
    text = token.source if isinstance(token.source, str) else source
    return _line_column(text, token.start_index)


def _liquid_message(err: BaseException) -> str:
    if isinstance(err, LiquidError):
        message = err.message
        return str(message) if message is not None else type(err).__name__
    return str(err) or type(err).__name__


def _walk_expression(expr: Expression, seen: set[int]) -> None:
    if id(expr) in seen:
        return
    seen.add(id(expr))
    if type(expr) is RangeLiteral:
        expr.__class__ = _BoundedRange
    elif type(expr) is Path and not any(isinstance(segment, Path) for segment in expr.path):
        expr.__class__ = _StaticPath
    for child in expr.children():
        _walk_expression(child, seen)


def _render_block(self: BlockNode, context: RenderContext, buffer: Any) -> int:
    """``BlockNode.render_to_output`` with a loop instead of ``sum(generator)``."""
    if self.blank and context.env.suppress_blank_control_flow_blocks:
        null = NullIO()
        for node in self.nodes:
            node.render(context, null)
        return 0
    total = 0
    for node in self.nodes:
        total += node.render(context, buffer)
    return total


def _render_content(self: ContentNode, context: RenderContext, buffer: Any) -> int:
    """``ContentNode.render_to_output`` with ``_OutputBuffer.write`` inlined."""
    text = self.text
    if type(buffer) is _OutputBuffer:
        if text:
            buffer.size += len(text)
            if buffer.size > buffer.limit:
                raise OutputStreamLimitError("output stream limit reached", token=None)
        return _stringio_write(buffer, text)
    return buffer.write(text)


def _render_output(self: OutputNode, context: RenderContext, buffer: Any) -> int:
    """``OutputNode.render_to_output`` with ``_OutputBuffer.write`` inlined and,
    for an output without filters, ``FilteredExpression.evaluate`` (which then
    only evaluates its left side) skipped."""
    expression = self.expression
    if type(expression) is FilteredExpression and not expression.filters:
        value = expression.left.evaluate(context)
    else:
        value = expression.evaluate(context)
    autoescape = context.autoescape
    text = value if type(value) is str and not autoescape else to_liquid_string(value, autoescape)
    if type(buffer) is _OutputBuffer:
        if text:
            buffer.size += len(text)
            if buffer.size > buffer.limit:
                raise OutputStreamLimitError("output stream limit reached", token=None)
        return _stringio_write(buffer, text)
    return buffer.write(text)


_FAST_RENDER: dict[type, Callable[..., int]] = {
    ContentNode: _render_content,
    OutputNode: _render_output,
    BlockNode: _render_block,
}

_FAST_NODE_CLASSES: dict[type, type | None] = {}


def _fast_node_class(cls: type) -> type | None:
    """A subclass of a node class whose ``render`` is its ``render_to_output``.

    ``Node.render`` only checks the context's disabled tags (set by
    ``include``/``render``, which this environment refuses) before calling
    ``render_to_output``: skipping it saves a call per node rendered.
    """
    try:
        return _FAST_NODE_CLASSES[cls]
    except KeyError:
        pass
    fast: type | None = None
    if cls.render is Node.render:
        namespace: dict[str, Any] = {"__slots__": (), "__module__": cls.__module__,
                                     "render": cls.render_to_output}
        if cls in _FAST_RENDER:
            namespace["render"] = namespace["render_to_output"] = _FAST_RENDER[cls]
        elif cls.render_to_output is BlockNode.render_to_output:
            namespace["render"] = namespace["render_to_output"] = _render_block
        fast = type(cls.__name__, (cls,), namespace)
        _FAST_NODE_CLASSES[fast] = None  # already fast
    _FAST_NODE_CLASSES[cls] = fast
    return fast


def _bound_ranges(template: BoundTemplate) -> None:
    """Make every range literal in the parse tree refuse huge ranges, and give
    every node its fast class (see :func:`_fast_node_class`)."""
    static_context = RenderContext(template)
    seen: set[int] = set()
    stack: list[Node] = list(template.nodes)
    while stack:
        node = stack.pop()
        for expr in node.expressions():
            _walk_expression(expr, seen)
        stack.extend(node.children(static_context, include_partials=False))
        fast = _fast_node_class(type(node))
        if fast is not None:
            try:
                node.__class__ = fast
            except TypeError:  # pragma: no cover - a node class with an unusual layout
                _FAST_NODE_CLASSES[type(node)] = None


_PLAIN_VALUE_TYPES = frozenset([int, float, bool, type(None), list, dict])


def _plain_substitution(template: BoundTemplate) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """``(texts, names)`` if the template is only text and ``{{ name }}``
    outputs of top-level variables (no filters, no tags), else ``None``.

    The text pieces are liquid's own parsed text nodes, so whitespace control
    (``{{- name -}}``) has already been applied to them.  The output is
    ``texts[0] + value(names[0]) + texts[1] + … + texts[-1]``.
    """
    texts = [""]
    names: list[str] = []
    for node in template.nodes:
        kind = type(node)
        if kind is ContentNode:
            texts[-1] += node.text
        elif kind is OutputNode:
            expression = node.expression
            if type(expression) is not FilteredExpression or expression.filters:
                return None
            left = expression.left
            if type(left) is not Path or len(left.path) != 1 or type(left.path[0]) is not str:
                return None
            names.append(left.path[0])
            texts.append("")
        else:
            return None
    return tuple(texts), tuple(names)


class CompiledTemplate:
    """A parsed, validated template, safe to render from many threads at once.

    Create with :func:`compile_template`.  Immutable.

    A template that is plain substitution (text and ``{{ name }}`` only) is
    rendered by concatenation instead of liquid's renderer; the result is the
    same, byte for byte (``tests/test_templates_fastpath.py``).  Whenever that
    path meets anything unusual — an undefined variable, a value of another
    type, output over the limit — the general renderer runs instead and
    produces the result or the error.
    """

    __slots__ = ("_source", "_template", "_variables", "_texts", "_slots")

    def __init__(
        self,
        source: str,
        template: BoundTemplate,
        names: tuple[str, ...],
        plain: tuple[tuple[str, ...], tuple[str, ...]] | None = None,
    ) -> None:
        self._source = source
        self._template = template
        self._variables = names
        if plain is None:
            self._texts: tuple[str, ...] | None = None
            self._slots: tuple[tuple[str, str], ...] = ()
        else:
            texts, outputs = plain
            self._texts = texts
            self._slots = tuple(zip(outputs, texts[1:]))

    @property
    def source(self) -> str:
        """The template source text."""
        return self._source

    @property
    def variables(self) -> list[str]:
        """Sorted free variable names (see :func:`variables`)."""
        return list(self._variables)

    @property
    def is_plain_substitution(self) -> bool:
        """True if this template is rendered by the plain-substitution fast path."""
        return self._texts is not None

    def render(
        self,
        values: Mapping[str, object],
        parameters: Sequence[Parameter | Mapping[str, Any]] | None = None,
    ) -> str:
        """Same as ``render(self, values, parameters)``."""
        return render(self, values, parameters)

    def _render(self, data: dict[str, object]) -> str:
        """Render checked values (a dict owned by the caller)."""
        texts = self._texts
        if texts is not None:
            text = self._substitute(texts, data)
            if text is not None:
                return text
        try:
            return self._template.render_values(data)
        except Exception as err:  # noqa: BLE001 - converted, never leaked
            raise _convert_render_error(err, self._source) from err

    def _substitute(self, texts: tuple[str, ...], data: dict[str, object]) -> str | None:
        """The plain-substitution fast path; ``None`` means "use the general renderer"."""
        parts = [texts[0]]
        append = parts.append
        for name, text in self._slots:
            try:
                value = data[name]
            except KeyError:
                return None  # undefined: the general renderer raises the exact error
            kind = type(value)
            if kind is not str:
                if kind not in _PLAIN_VALUE_TYPES:
                    return None
                try:
                    value = to_liquid_string(value, False)
                except Exception:  # noqa: BLE001 - e.g. an int too long for str()
                    return None
            append(value)
            append(text)
        result = "".join(parts)
        if len(result) > MAX_OUTPUT_SIZE:
            return None
        return result

    def __repr__(self) -> str:
        preview = self._source[:40] + ("..." if len(self._source) > 40 else "")
        return f"CompiledTemplate({preview!r})"


def compile_template(source: str) -> CompiledTemplate:
    """Parse and validate a template.

    Raises :class:`TemplateTooLarge` if ``source`` is longer than
    :data:`MAX_TEMPLATE_SIZE` characters and :class:`TemplateSyntaxError`
    (with 1-based ``line``/``column``) for syntax errors, blocks nested more
    than :data:`MAX_NESTING_DEPTH` deep, unknown filters, ``include``/
    ``render`` tags, tags or output statements with more than
    :data:`MAX_MARKUP_BRACKETS` ``(``/``[``, and input variables whose names
    could not be declared as parameters (e.g. ``{{ user-name }}``, or
    ``forloop`` outside a loop).  Nothing is cached here; callers should cache
    the result.
    """
    return _compile(source, check_names=True)


def _compile(source: str, *, check_names: bool) -> CompiledTemplate:
    if not isinstance(source, str):
        raise TemplateError(
            f"template source must be a string, not {type(source).__name__}"
        )
    if len(source) > MAX_TEMPLATE_SIZE:
        raise TemplateTooLarge(len(source))
    _prescan(source)
    try:
        template = ENVIRONMENT.from_string(source)
    except BlockNestingError as err:
        line, column = _error_location(err, source)
        raise TemplateSyntaxError(
            f"blocks are nested too deeply (at most {MAX_NESTING_DEPTH} levels)",
            line,
            column,
        ) from err
    except LiquidError as err:
        line, column = _error_location(err, source)
        cause = err.__cause__
        if isinstance(cause, RecursionError):
            raise TemplateSyntaxError("template is nested too deeply to parse") from err
        raise TemplateSyntaxError(_liquid_message(err), line, column) from err
    except RecursionError as err:
        raise TemplateSyntaxError("template is nested too deeply to parse") from err
    except Exception as err:  # noqa: BLE001 - never leak a raw exception
        raise TemplateSyntaxError(f"template could not be parsed: {err}") from err

    plain = _plain_substitution(template)
    try:
        _bound_ranges(template)
        analysis = template.analyze(include_partials=False)
    except RecursionError as err:
        raise TemplateSyntaxError("template is nested too deeply to analyze") from err
    except Exception as err:  # noqa: BLE001
        raise TemplateSyntaxError(f"template could not be analyzed: {err}") from err

    for filter_name, spans in analysis.filters.items():
        if filter_name not in ENVIRONMENT.filters:
            line, column = _line_column(source, min(span.index for span in spans))
            raise TemplateSyntaxError(f"unknown filter '{filter_name}'", line, column)

    names = tuple(sorted(str(name) for name in analysis.globals))
    if check_names:
        for name in names:
            if _IDENTIFIER.fullmatch(name) and _usable_as_variable(name):
                continue
            line, column = _line_column(
                source, min(var.span.index for var in analysis.globals[name])
            )
            if name in _RESERVED_NAMES:
                message = f"'{name}' is only available inside a loop"
            else:
                message = (
                    f"variable name {name!r} is not allowed: variables read from "
                    f"the input must be names made of letters, digits and "
                    f"underscores, not starting with a digit and not a Liquid "
                    f"keyword, so that they can be declared as parameters"
                )
            raise TemplateSyntaxError(message, line, column)
    return CompiledTemplate(source, template, names, plain)


def _compiled(source_or_compiled: str | CompiledTemplate) -> CompiledTemplate:
    if isinstance(source_or_compiled, CompiledTemplate):
        return source_or_compiled
    return compile_template(source_or_compiled)


def variables(source_or_compiled: str | CompiledTemplate) -> list[str]:
    """Return the sorted top-level names a template reads from its input.

    Found by liquid's static analysis, not by regex: names the template binds
    itself (``assign``, ``capture``, ``for`` loop variables, ``forloop``,
    ``increment``/``decrement`` counters) are left out, but a name read
    *before* the template assigns it counts.  Only the root of a path is
    reported: ``{{ user.name }}`` gives ``["user"]``.
    """
    return _compiled(source_or_compiled).variables


# ---------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RESERVED_NAMES = frozenset(["forloop", "tablerowloop"])
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"[+-]?[0-9]+")
Scalar = Union[str, int, float, bool]


@lru_cache(maxsize=4096)
def _usable_as_variable(name: str) -> bool:
    """True if ``{{ name }}`` reads a variable called ``name`` (not a keyword
    or a literal such as ``true``, ``nil``, ``empty``)."""
    if name in _RESERVED_NAMES:
        return False
    try:
        return _compile("{{ " + name + " }}", check_names=False).variables == [name]
    except TemplateError:
        return False


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return repr(shown)
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        text = str(value) if not isinstance(value, int) or value.bit_length() < 128 else "a huge integer"
        return text
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    return f"a value of type {type(value).__name__}"


def _coerce(name: str, type_: str, value: object) -> Scalar:
    """Coerce one non-None value to a parameter type (raises ParameterError)."""
    if type_ == "number":
        if isinstance(value, bool):
            raise ParameterError(name, f"parameter '{name}' must be a number, got {_describe(value)}")
        if isinstance(value, int):
            if value.bit_length() > _MAX_INTEGER_BITS:
                raise ParameterError(name, f"parameter '{name}' is too large a number")
            return int(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise ParameterError(name, f"parameter '{name}' must be a finite number, got {value}")
            return value
        if isinstance(value, str):
            text = value.strip()
            if len(text) <= _MAX_NUMBER_STRING and _NUMBER.fullmatch(text):
                if _INTEGER.fullmatch(text):
                    return int(text)
                number = float(text)
                if math.isfinite(number):
                    return number
                raise ParameterError(name, f"parameter '{name}' must be a finite number, got {_describe(value)}")
            raise ParameterError(name, f"parameter '{name}' must be a number, got {_describe(value)} which is not a number")
        raise ParameterError(name, f"parameter '{name}' must be a number, got {_describe(value)}")
    if type_ == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise ParameterError(
            name, f"parameter '{name}' must be a boolean (true or false), got {_describe(value)}"
        )
    # string
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if value.bit_length() > _MAX_INTEGER_BITS:
            raise ParameterError(name, f"parameter '{name}' is too large a number")
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ParameterError(name, f"parameter '{name}' must be a string, got {value}")
        return str(value)
    raise ParameterError(name, f"parameter '{name}' must be a string, got {_describe(value)}")


@dataclass(frozen=True)
class Parameter:
    """A declared template input.

    * ``name``: an identifier ``[A-Za-z_][A-Za-z0-9_]*`` usable as a Liquid
      variable (not a keyword or literal such as ``for``, ``true``, ``empty``,
      and not ``forloop``/``tablerowloop``);
    * ``type``: one of :data:`PARAMETER_TYPES` (default ``"string"``);
    * ``required``: must be given at render time (default ``True``); a
      required parameter cannot have a default;
    * ``default``: value used when an optional parameter is not given; it is
      coerced to ``type`` with the same rules as input values (so ``"3"`` for
      a number becomes ``3``).

    Construction validates and raises :class:`ParameterDefinitionError`.
    """

    name: str
    type: str = "string"
    description: str = ""
    required: bool = True
    default: Scalar | None = None

    def __post_init__(self) -> None:
        name = self.name
        if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
            raise ParameterDefinitionError(
                f"invalid parameter name {name!r}: use letters, digits and "
                f"underscores, not starting with a digit",
                name if isinstance(name, str) else None,
            )
        if not _usable_as_variable(name):
            raise ParameterDefinitionError(
                f"invalid parameter name '{name}': it is a reserved word in templates",
                name,
            )
        if self.type not in PARAMETER_TYPES:
            raise ParameterDefinitionError(
                f"parameter '{name}' has unknown type {self.type!r} "
                f"(expected one of: {', '.join(PARAMETER_TYPES)})",
                name,
            )
        if not isinstance(self.description, str):
            raise ParameterDefinitionError(
                f"description of parameter '{name}' must be a string", name
            )
        if not isinstance(self.required, bool):
            raise ParameterDefinitionError(
                f"'required' of parameter '{name}' must be true or false", name
            )
        if self.default is not None:
            if self.required:
                raise ParameterDefinitionError(
                    f"parameter '{name}' is required, so it cannot have a default "
                    f"(make it optional to use a default)",
                    name,
                )
            try:
                default = _coerce(name, self.type, self.default)
            except ParameterError as err:
                raise ParameterDefinitionError(
                    f"default of parameter '{name}' does not match its type "
                    f"{self.type}: {err.message}",
                    name,
                ) from None
            object.__setattr__(self, "default", default)

    _FIELDS: ClassVar[frozenset[str]] = frozenset(
        ["name", "type", "description", "required", "default"]
    )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Parameter:
        """Build and validate a parameter from a mapping.

        Keys: ``name`` (required), ``type``, ``description``, ``required``,
        ``default``; a missing or null ``type``/``description``/``required``
        takes the dataclass default.  Unknown keys are refused (they are
        usually typos such as ``requried``).
        """
        if not isinstance(d, Mapping):
            raise ParameterDefinitionError(
                f"a parameter must be an object, not {type(d).__name__}"
            )
        name = d.get("name")
        if name is None:
            raise ParameterDefinitionError("a parameter needs a 'name'")
        unknown = sorted(str(key) for key in d if key not in cls._FIELDS)
        if unknown:
            raise ParameterDefinitionError(
                f"parameter {name!r} has unknown field(s): {', '.join(unknown)}",
                name if isinstance(name, str) else None,
            )
        kwargs: dict[str, Any] = {"name": name}
        for key in ("type", "description", "required"):
            if d.get(key) is not None:
                kwargs[key] = d[key]
        kwargs["default"] = d.get("default")
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """``{"name", "type", "description", "required", "default"}``."""
        return {
            "name": self.name,
            "type": self.type,
            "description": self.description,
            "required": self.required,
            "default": self.default,
        }


def parse_parameters(items: Iterable[Mapping[str, Any] | Parameter]) -> list[Parameter]:
    """Validate a list of parameter declarations (mappings or :class:`Parameter`).

    Raises :class:`ParameterDefinitionError` for an invalid declaration or a
    duplicate name.  Order is preserved.
    """
    if isinstance(items, (str, bytes, Mapping)):
        raise ParameterDefinitionError("parameters must be a list of declarations")
    result: list[Parameter] = []
    seen: set[str] = set()
    for item in items:
        parameter = item if isinstance(item, Parameter) else Parameter.from_dict(item)
        if parameter.name in seen:
            raise ParameterDefinitionError(
                f"parameter '{parameter.name}' is declared more than once",
                parameter.name,
            )
        seen.add(parameter.name)
        result.append(parameter)
    return result


@dataclass(frozen=True)
class ParameterCheck:
    """Declared parameters compared with the variables a template reads.

    ``missing``: read by the template but not declared; ``unused``: declared
    but not read; ``matched``: both.  Each list is sorted.
    """

    missing: list[str]
    unused: list[str]
    matched: list[str]

    @property
    def ok(self) -> bool:
        """True when no variable is missing (unused parameters are allowed)."""
        return not self.missing


def check_parameters(
    source_or_compiled: str | CompiledTemplate,
    parameters: Iterable[Parameter | Mapping[str, Any] | str],
) -> ParameterCheck:
    """Compare declared parameters with :func:`variables` of the template.

    ``parameters`` may hold :class:`Parameter` objects, declaration mappings,
    or plain names.  Raises :class:`TemplateSyntaxError`/
    :class:`TemplateTooLarge` for a bad template and
    :class:`ParameterDefinitionError` for bad declarations.
    """
    used = set(_compiled(source_or_compiled).variables)
    declared: set[str] = set()
    for item in parameters:
        if isinstance(item, str):
            declared.add(item)
        elif isinstance(item, Parameter):
            declared.add(item.name)
        else:
            declared.add(Parameter.from_dict(item).name)
    return ParameterCheck(
        missing=sorted(used - declared),
        unused=sorted(declared - used),
        matched=sorted(used & declared),
    )


def _plain(name: str, value: object, depth: int = 0) -> object:
    """Copy ``value`` keeping only JSON-like types (the sandbox boundary)."""
    if value is None or type(value) is str or type(value) is bool:
        return value
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ParameterError(name, f"value of '{name}' contains a non-finite number ({value})")
        return float(value)
    if depth >= _MAX_VALUE_DEPTH:
        raise ParameterError(
            name, f"value of '{name}' is nested more than {_MAX_VALUE_DEPTH} levels deep"
        )
    if isinstance(value, Mapping):
        result: dict[str, object] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ParameterError(
                    name, f"value of '{name}' has a non-string key {key!r}"
                )
            result[str(key)] = _plain(name, item, depth + 1)
        return result
    if isinstance(value, (list, tuple)):
        return [_plain(name, item, depth + 1) for item in value]
    raise ParameterError(
        name,
        f"value of '{name}' has unsupported type {type(value).__name__} "
        f"(use strings, numbers, booleans, null, lists and objects)",
    )


def _check_values(values: object) -> Mapping[str, object]:
    if not isinstance(values, Mapping):
        raise RenderError(
            f"values must be a mapping of names to values, not {type(values).__name__}"
        )
    for key in values:
        if not isinstance(key, str):
            raise ParameterError(str(key), f"parameter names must be strings, got {key!r}")
    return values


def coerce_values(
    parameters: Sequence[Parameter | Mapping[str, Any]],
    values: Mapping[str, object],
) -> dict[str, object]:
    """Validate and convert input values against declared parameters.

    Rules (errors are :class:`ParameterError` naming the parameter):

    * ``None`` counts as "not given".
    * A required parameter not given: ``missing required parameter 'name'``.
    * An optional parameter not given gets its default; with no default it is
      set to ``None`` (Liquid ``nil``): it prints as an empty string, is false
      in ``{% if %}`` and works with the ``default`` filter.  (An empty string
      would be *true* in Liquid conditions.)
    * ``number``: int and float (not bool) pass (floats must be finite,
      integers at most about :data:`MAX_INTEGER_DIGITS` digits); strings
      such as ``"3"``, ``" -1 "``, ``"+4"``, ``"2.5"``, ``".5"``, ``"-1e3"``
      (ASCII digits, optional sign, fraction and exponent) are parsed,
      integers stay ``int`` (``"3"`` -> ``3``), anything with a fraction or
      exponent becomes ``float``; anything else is refused.
    * ``boolean``: ``True``/``False`` and the strings ``"true"``/``"false"``
      (any case, surrounding spaces ignored) only; ``1``, ``"yes"`` ... are
      refused.
    * ``string``: strings pass unchanged; ints and floats are converted with
      ``str()`` (``3`` -> ``"3"``, ``2.5`` -> ``"2.5"``), booleans to
      ``"true"``/``"false"``; lists and objects are refused.
    * Values for names that are not declared parameters are passed through
      (they must still be JSON-like: dict with string keys, list, str, int,
      float, bool, None); a template can use them, and any variable that is
      truly undefined still fails at render time.
    """
    return _Coercion(parse_parameters(parameters)).coerce(_check_values(values))


class _Coercion:
    """:func:`coerce_values` for one list of parameters, parsed once."""

    __slots__ = ("parameters", "_plan", "_names")

    def __init__(self, parameters: Sequence[Parameter]) -> None:
        self.parameters = tuple(parameters)
        self._plan = tuple((p.name, p.type, p.required, p.default) for p in self.parameters)
        self._names = frozenset(p.name for p in self.parameters)

    def coerce(self, values: Mapping[str, object]) -> dict[str, object]:
        """Coerce values already checked by ``_check_values``."""
        names = self._names
        result: dict[str, object] = {
            key: _plain(key, value) for key, value in values.items() if key not in names
        }
        for name, type_, required, default in self._plan:
            value = values.get(name)
            if value is None:
                if required:
                    raise ParameterError(name, f"missing required parameter '{name}'")
                result[name] = default
            elif type_ == "string" and type(value) is str:
                result[name] = value
            else:
                result[name] = _coerce(name, type_, value)
        return result


class PreparedPrompt:
    """A compiled template and its parsed parameters, ready to render many times.

    ``prepare(source_or_compiled, parameters).render(values)`` gives the same
    result (or error) as ``render(source_or_compiled, values, parameters)``,
    without parsing the parameters again on every call.  Immutable and
    thread-safe.
    """

    __slots__ = ("template", "_coercion")

    def __init__(
        self,
        source_or_compiled: str | CompiledTemplate,
        parameters: Iterable[Parameter | Mapping[str, Any]] = (),
    ) -> None:
        self.template = _compiled(source_or_compiled)
        self._coercion = _Coercion(parse_parameters(parameters))

    @property
    def parameters(self) -> tuple[Parameter, ...]:
        return self._coercion.parameters

    def render(self, values: Mapping[str, object]) -> str:
        """Validate and convert ``values`` (see :func:`coerce_values`), then render."""
        return self.template._render(self._coercion.coerce(_check_values(values)))

    def render_keywords(self, values: dict[str, object]) -> str:
        """:meth:`render` for a ``**kwargs`` dict (its keys are known to be strings)."""
        return self.template._render(self._coercion.coerce(values))


def prepare(
    source_or_compiled: str | CompiledTemplate,
    parameters: Iterable[Parameter | Mapping[str, Any]] = (),
) -> PreparedPrompt:
    """Compile (if needed) and bind parameters once; see :class:`PreparedPrompt`."""
    return PreparedPrompt(source_or_compiled, parameters)


# ---------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------


def _convert_render_error(err: BaseException, source: str) -> TemplateError:
    if isinstance(err, TemplateError):
        return err
    if isinstance(err, LiquidError):
        line, column = _error_location(err, source)
        if isinstance(err, _UndefinedVariable):
            return UndefinedVariableError(err.name, err.path, line, column)
        if isinstance(err, UndefinedError):
            return UndefinedVariableError("?", _liquid_message(err), line, column)
        if isinstance(err, _AnvilLimitError):
            return LimitExceeded(err.limit, _LIMIT_MESSAGES[err.limit], line, column)
        if isinstance(err, LoopIterationLimitError):
            limit = "loop_iterations"
        elif isinstance(err, OutputStreamLimitError):
            limit = "output_size"
        elif isinstance(err, (ContextDepthError, BlockNestingError)):
            limit = "nesting_depth"
        elif isinstance(err, LocalNamespaceLimitError):
            limit = "locals_size"
        else:
            return RenderError(_liquid_message(err), line, column)
        return LimitExceeded(limit, _LIMIT_MESSAGES[limit], line, column)
    if isinstance(err, RecursionError):
        return LimitExceeded("nesting_depth", _LIMIT_MESSAGES["nesting_depth"])
    if isinstance(err, MemoryError):
        return LimitExceeded("output_size", "out of memory while rendering")
    return RenderError(f"error while rendering: {type(err).__name__}: {err}")


def render(
    source_or_compiled: str | CompiledTemplate,
    values: Mapping[str, object],
    parameters: Sequence[Parameter | Mapping[str, Any]] | None = None,
) -> str:
    """Render a template with the given values.

    If ``parameters`` is given, values are first validated and converted by
    :func:`coerce_values`; otherwise they are only checked to be JSON-like.
    Reading a variable that has no value raises
    :class:`UndefinedVariableError`; exceeding a limit raises
    :class:`LimitExceeded`.  Only :class:`TemplateError` subclasses are ever
    raised.
    """
    compiled = _compiled(source_or_compiled)
    if parameters is not None:
        data = coerce_values(parameters, values)
    else:
        data = {key: _plain(key, value) for key, value in _check_values(values).items()}
    return compiled._render(data)
