"""The errors templates raise, and how liquid's own errors are translated into them.

Every failure a caller sees is a :class:`TemplateError`.  The underscored
classes are raised *inside* liquid (so that liquid attaches the token, hence the
position, of the failing statement) and are converted on the way out by
:func:`_convert_render_error`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from liquid.exceptions import (
    BlockNestingError,
    ContextDepthError,
    FilterArgumentError,
    LiquidError,
    LocalNamespaceLimitError,
    LoopIterationLimitError,
    OutputStreamLimitError,
    ResourceLimitError,
    UndefinedError,
)

from .limits import (
    MAX_INTEGER_DIGITS,
    MAX_LOCALS_SIZE,
    MAX_LOOP_ITERATIONS,
    MAX_NESTING_DEPTH,
    MAX_OUTPUT_SIZE,
    MAX_PARTIAL_DEPTH,
    MAX_RENDER_SECONDS,
    MAX_TEMPLATE_SIZE,
)


class TemplateError(Exception):
    """Base class of every error raised by this module.

    ``str(error)`` (equal to ``error.message``) is a complete, human-readable
    message.
    """

    message: str
    message_index: int | None = None  # in a chat prompt: the (0-based) message it happened in

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
    blocks nested deeper than :data:`MAX_NESTING_DEPTH`, unknown filters, the
    refused ``include`` tag and ``render`` in its ``with``/``for`` forms.
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
    ``"nesting_depth"``, ``"render_time"``, ``"locals_size"``,
    ``"partial_depth"`` or ``"number_size"``.
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


class PartialError(RenderError):
    """A partial (``{% render 'name' %}``) failed while rendering.

    ``partial`` is the chain of partials, outermost first (``"tone"``, or ``"common.base → tone"``
    for a partial's partial); ``error`` is the error as the innermost partial saw it, with the line
    and column in that partial's own source.
    """

    partial: str
    error: TemplateError

    def __init__(self, name: str, error: TemplateError) -> None:
        inner = error.error if isinstance(error, PartialError) else error
        chain = f"{name} → {error.partial}" if isinstance(error, PartialError) else name
        super().__init__(f"in partial '{chain}': {inner.message}")
        self.partial = chain
        self.error = inner


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
    "partial_depth": (
        f"partial depth limit exceeded: partials may render partials at most "
        f"{MAX_PARTIAL_DEPTH} levels deep"
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


class _PartialNotFound(LiquidError):
    """Internal: ``{% render 'name' %}`` named nothing this render can render."""

    def __init__(self, name: str, token: Any) -> None:
        super().__init__(f"partial '{name}' not found", token=token)
        self.name = name


class _UndefinedVariable(UndefinedError):
    """Internal: an undefined value was used."""

    def __init__(self, name: str, path: str, token: Any) -> None:
        super().__init__(f"'{path}' is undefined", token=token)
        self.name = name
        self.path = path


# --- locating and translating liquid's errors ---------------------------------


def _line_column(source: str, index: int) -> tuple[int, int]:
    """The 1-based line and column of ``index`` in ``source``."""
    index = max(0, min(index, len(source)))
    line = source.count("\n", 0, index) + 1
    column = index - (source.rfind("\n", 0, index) + 1) + 1
    return line, column


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


def _describe(value: object) -> str:
    """A value as an error message shows it (``'abc'``, ``true``, ``a list``, …)."""
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


def _convert_render_error(err: BaseException, source: str) -> TemplateError:
    """The :class:`TemplateError` a failed render raises for ``err`` (never a raw exception)."""
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
