"""Rendering: :func:`render`, and :class:`PreparedPrompt` (a compiled template
with its parameters parsed once, as the LIVE client serves prompts)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from io import StringIO
from typing import Any

from .compiler import CompiledTemplate, _compiled
from .parameters import Parameter, _check_values, _Coercion, parse_parameters
from .sandbox import _RenderContext


class PreparedPrompt:
    """A compiled template and its parsed parameters, ready to render many times.

    ``prepare(source_or_compiled, parameters).render(values)`` gives the same
    result (or error) as ``render(source_or_compiled, values, parameters)``,
    without parsing the parameters again on every call.  Immutable and
    thread-safe.

    ``partials`` maps the names ``{% render %}`` tags use (``'tone'``,
    ``'common.tone'``) to the prepared prompts they render; a name it does not
    have fails the render (``partial 'x' not found``).  It is read at render
    time, so it may be a mapping that prepares partials lazily.  A partial sees
    only the arguments the tag passes, checked and converted against its own
    parameters, and shares the render's limits.
    """

    __slots__ = ("template", "_coercion", "partials")

    def __init__(
        self,
        source_or_compiled: str | CompiledTemplate,
        parameters: Iterable[Parameter | Mapping[str, Any]] = (),
        partials: Mapping[str, PreparedPrompt] | None = None,
    ) -> None:
        self.template = _compiled(source_or_compiled)
        self._coercion = _Coercion(parse_parameters(parameters))
        self.partials = partials

    @property
    def parameters(self) -> tuple[Parameter, ...]:
        return self._coercion.parameters

    def render(self, values: Mapping[str, object]) -> str:
        """Validate and convert ``values`` (see :func:`coerce_values`), then render."""
        return self.template._render(self._coercion.coerce(_check_values(values)), self.partials)

    def render_keywords(self, values: dict[str, object]) -> str:
        """:meth:`render` for a ``**kwargs`` dict (its keys are known to be strings)."""
        partials = self.partials
        if partials is None:  # (most prompts: the call prompt() always made)
            return self.template._render(self._coercion.coerce(values))
        return self.template._render(self._coercion.coerce(values), partials)

    def _render_partial(self, parent: _RenderContext, buffer: StringIO, arguments: dict[str, object]) -> None:
        """Render as the partial of a ``{% render %}`` tag in ``parent``'s render (see sandbox)."""
        self.template._template.render_partial(parent, buffer, self._coercion.coerce(arguments), self.partials)


def prepare(
    source_or_compiled: str | CompiledTemplate,
    parameters: Iterable[Parameter | Mapping[str, Any]] = (),
    partials: Mapping[str, PreparedPrompt] | None = None,
) -> PreparedPrompt:
    """Compile (if needed) and bind parameters once; see :class:`PreparedPrompt`."""
    return PreparedPrompt(source_or_compiled, parameters, partials)


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
