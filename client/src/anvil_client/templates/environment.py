"""The python-liquid environment for prompts, :class:`AnvilEnvironment`, and the
one instance of it, :data:`ENVIRONMENT`: its limits, its tags (no ``include``;
``render`` of other prompts, in an isolated scope) and its filters."""

from __future__ import annotations

import re
from typing import Any, Callable, ClassVar

from typing import TextIO

from liquid import Environment
from liquid.ast import Node
from liquid.builtin.expressions import StringLiteral
from liquid.builtin.tags.render_tag import RenderNode, RenderTag
from liquid.exceptions import LiquidError, LiquidSyntaxError
from liquid.tag import Tag

from .errors import PartialError, TemplateError, _convert_render_error, _PartialNotFound

from .filters import (
    _guard_filter,
    _make_date_filter,
    bullet_list,
    indent,
    json_filter,
    strip_blank_lines,
    token_count,
    truncate_tokens,
)
from .limits import MAX_LOCALS_SIZE, MAX_LOOP_ITERATIONS, MAX_NESTING_DEPTH, MAX_OUTPUT_SIZE
from .sandbox import _BoundTemplate, _RenderContext, _Undefined, _undefined_error

PARTIAL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}(?:\.[A-Za-z0-9_-]{1,64})?")
"""A partial's name: ``prompt`` (same prompt set) or ``prompt_set.prompt``."""


class _IncludeTag(Tag):
    """``include`` shares the including template's variables, so what it reads cannot be known from
    its arguments: refused at parse time (``render`` is the isolated form)."""

    name = "include"
    block = False

    def parse(self, stream: Any) -> Node:
        raise LiquidSyntaxError(
            "the 'include' tag is not supported: use {% render 'name', key: value %}, "
            "which passes the partial exactly the values it needs",
            token=stream.current,
        )


class _PartialNode(RenderNode):
    """``{% render 'name', key: value %}``: renders another prompt with only the given arguments.

    The partial comes from the render context's ``partials`` mapping (name → a prepared prompt,
    :class:`~anvil_client.templates.PreparedPrompt`), so nothing is ever loaded from a file.  Its
    arguments are checked and converted against the partial's declared parameters.  It writes into the
    same output buffer and shares the render's loop, time and depth budgets.
    """

    __slots__ = ()

    def render_to_output(self, context: Any, buffer: TextIO) -> int:
        name = _partial_name(self)
        partials = getattr(context, "partials", None) if isinstance(context, _RenderContext) else None
        partial = partials.get(name) if partials is not None else None
        if partial is None:
            raise _PartialNotFound(name, token=self.name.token)
        args: dict[str, object] = {}
        for arg in self.args:
            value = arg.value.evaluate(context)
            if type(value) is _Undefined:
                raise _undefined_error(value)
            args[arg.name] = value
        try:
            partial._render_partial(context, buffer, args)
        except TemplateError as err:
            raise PartialError(name, err) from err
        except Exception as err:  # noqa: BLE001 - liquid's, located in the partial's own source
            raise PartialError(name, _convert_render_error(err, partial.template.source)) from err
        return 1


def _partial_name(node: RenderNode) -> str:
    """The name of a parsed ``{% render %}`` (always a string literal: _PartialTag refuses the rest)."""
    name = node.name
    return str(name.value) if isinstance(name, StringLiteral) else str(name)


class _PartialTag(RenderTag):
    """Parses ``{% render 'name' %}`` and ``{% render 'name', key: value, ... %}``; the ``with``/``for``
    forms and inline snippets are refused (their inputs cannot be checked against the partial's
    parameters)."""

    node_class = _PartialNode

    def parse(self, stream: Any) -> Node:
        token = stream.current
        node = super().parse(stream)
        assert isinstance(node, RenderNode)
        if not isinstance(node.name, StringLiteral):
            raise LiquidSyntaxError("render needs the partial's name in quotes, e.g. {% render 'tone' %}",
                                    token=token)
        if node.var is not None:
            raise LiquidSyntaxError(
                "render's 'with' and 'for' forms are not supported: pass keyword arguments, "
                "e.g. {% render 'tone', tier: tier %}", token=token)
        if not PARTIAL_NAME.fullmatch(str(node.name.value)):
            raise LiquidSyntaxError(
                f"{str(node.name.value)[:80]!r} is not a partial name: use 'prompt' (same prompt set) "
                f"or 'prompt_set.prompt'", token=token)
        seen: set[str] = set()
        for arg in node.args:
            if arg.name in seen:
                raise LiquidSyntaxError(f"render passes '{arg.name}' twice", token=token)
            seen.add(arg.name)
        return node


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
        self.add_tag(_PartialTag)
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


ENVIRONMENT = AnvilEnvironment()
"""The one environment used by server and client."""
