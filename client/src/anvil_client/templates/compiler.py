"""Compiling: :func:`compile_template` and the :class:`CompiledTemplate` it
returns (with the plain-substitution fast path), and static analysis:
:func:`variables` and :func:`check_parameters`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from liquid.stringify import to_liquid_string

from .errors import TemplateSyntaxError, _convert_render_error, _line_column
from .limits import MAX_OUTPUT_SIZE
from .parameters import Parameter, _check_values, _plain, coerce_values
from .parsetree import _PLAIN_VALUE_TYPES
from .parsing import _IDENTIFIER, _RESERVED_NAMES, _parse, _usable_as_variable
from .sandbox import Budget, _BoundTemplate


@dataclass(frozen=True)
class PartialReference:
    """One ``{% render 'name', key: value %}`` tag: the partial's ``name`` (``prompt`` or
    ``prompt_set.prompt``), the ``arguments`` it passes (in order) and where the tag starts
    (1-based ``line`` and ``column``)."""

    name: str
    arguments: tuple[str, ...]
    line: int
    column: int


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

    __slots__ = ("_source", "_template", "_variables", "_texts", "_slots", "_partials")

    def __init__(
        self,
        source: str,
        template: _BoundTemplate,
        names: tuple[str, ...],
        plain: tuple[tuple[str, ...], tuple[str, ...]] | None = None,
        partials: tuple[PartialReference, ...] = (),
    ) -> None:
        self._source = source
        self._template = template
        self._variables = names
        self._partials = partials
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
    def partials(self) -> list[PartialReference]:
        """The ``{% render %}`` tags, in source order (see :class:`PartialReference`)."""
        return list(self._partials)

    @property
    def is_plain_substitution(self) -> bool:
        """True if this template is rendered by the plain-substitution fast path."""
        return self._texts is not None

    def render(
        self,
        values: Mapping[str, object],
        parameters: Sequence[Parameter | Mapping[str, Any]] | None = None,
    ) -> str:
        """Same as ``render(self, values, parameters)``: values are validated and
        converted by :func:`coerce_values` if ``parameters`` is given, otherwise
        only checked to be JSON-like."""
        if parameters is not None:
            data = coerce_values(parameters, values)
        else:
            data = {key: _plain(key, value) for key, value in _check_values(values).items()}
        return self._render(data)

    def _render(self, data: dict[str, object], partials: Mapping[str, Any] | None = None,
                budget: Budget | None = None) -> str:
        """Render checked values (a dict owned by the caller); ``partials``: what ``{% render %}``
        may render (names → :class:`~anvil_client.templates.PreparedPrompt`)."""
        texts = self._texts
        if texts is not None:
            text = self._substitute(texts, data)
            if text is not None:
                return text
        try:
            return self._template.render_values(data, partials, budget)
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
            if type(value) is not str:
                if type(value) not in _PLAIN_VALUE_TYPES:
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
    template, analysis, names, plain, found = _parse(source)
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
    # (liquid's token is the tag's name: point at the tag's opening "{%")
    partials = tuple(PartialReference(name, arguments, *_line_column(source, max(0, source.rfind("{%", 0, index + 1))))
                     for name, arguments, index in found)
    return CompiledTemplate(source, template, names, plain, partials)


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


# --- static analysis against declared parameters ------------------------------


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
