"""Parsing a source with :data:`ENVIRONMENT`: the linear-time prescan, liquid's
parse and static analysis with every failure turned into a
:class:`TemplateSyntaxError`, and which names can be template variables."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple, cast

from liquid.exceptions import BlockNestingError, LiquidError
from liquid.static_analysis import TemplateAnalysis

from .environment import ENVIRONMENT
from .errors import (
    TemplateError,
    TemplateSyntaxError,
    TemplateTooLarge,
    _error_location,
    _line_column,
    _liquid_message,
)
from .limits import MAX_MARKUP_BRACKETS, MAX_NESTING_DEPTH, MAX_TEMPLATE_SIZE
from .parsetree import _bound_ranges, _plain_substitution
from .sandbox import _BoundTemplate


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


class _Parsed(NamedTuple):
    """A parsed, analysed source (see :func:`_parse`)."""

    template: _BoundTemplate
    analysis: TemplateAnalysis
    names: tuple[str, ...]  # the sorted free variables
    plain: tuple[tuple[str, ...], tuple[str, ...]] | None  # see _plain_substitution
    partials: tuple[tuple[str, tuple[str, ...], int], ...]  # {% render %} tags: name, arguments, index


def _parse(source: str) -> _Parsed:
    """Parse and analyse ``source``; every failure is a :class:`TemplateError`.

    All of compiling except the check that the free variables can be declared
    as parameters (which needs :func:`_usable_as_variable`, itself a parse).
    """
    if not isinstance(source, str):
        raise TemplateError(
            f"template source must be a string, not {type(source).__name__}"
        )
    if len(source) > MAX_TEMPLATE_SIZE:
        raise TemplateTooLarge(len(source))
    _prescan(source)
    try:
        template = cast(_BoundTemplate, ENVIRONMENT.from_string(source))  # its template_class
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
        partials = _bound_ranges(template)
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
    return _Parsed(template, analysis, names, plain, tuple(partials))


# --- names that can be template variables (and so parameters) ------------------

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RESERVED_NAMES = frozenset(["forloop", "tablerowloop"])


@lru_cache(maxsize=4096)
def _usable_as_variable(name: str) -> bool:
    """True if ``{{ name }}`` reads a variable called ``name`` (not a keyword
    or a literal such as ``true``, ``nil``, ``empty``)."""
    if name in _RESERVED_NAMES:
        return False
    try:
        return _parse("{{ " + name + " }}").names == (name,)
    except TemplateError:
        return False
