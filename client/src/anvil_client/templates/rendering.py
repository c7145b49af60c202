"""Rendering: :func:`render`, and :class:`PreparedPrompt` (a compiled template
with its parameters parsed once, as the LIVE client serves prompts)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .compiler import CompiledTemplate, _compiled
from .parameters import Parameter, _check_values, _Coercion, parse_parameters


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
    return _compiled(source_or_compiled).render(values, parameters)
