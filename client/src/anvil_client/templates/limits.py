"""The limits every template and render is held to (all public constants are re-exported by the package)."""

from __future__ import annotations

import math


PARAMETER_TYPES: tuple[str, ...] = ("string", "number", "boolean", "integer", "enum", "list", "object")
"""The types a declared parameter can have."""

_V1_PARAMETER_TYPES: tuple[str, ...] = ("string", "number", "boolean")  # what the previous release knew
_LIST_ITEM_TYPES: tuple[str, ...] = ("string", "number", "integer", "boolean", "object")  # a list's "items"
_MAX_SCHEMA_MESSAGE = 300  # longest jsonschema message quoted in a ParameterError

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

MAX_PARTIAL_DEPTH = 10
"""Maximum depth of partials rendering partials (``{% render %}`` inside a partial)."""

MAX_MESSAGES = 100
"""Maximum number of messages (placeholders included) in a chat prompt."""
