"""The python-liquid environment for prompts, :class:`AnvilEnvironment`, and the
one instance of it, :data:`ENVIRONMENT`: its limits, its tags (no ``include`` or
``render``) and its filters."""

from __future__ import annotations

import re
from typing import Any, Callable, ClassVar

from liquid import Environment
from liquid.ast import Node
from liquid.exceptions import LiquidError, LiquidSyntaxError
from liquid.tag import Tag

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
from .sandbox import _BoundTemplate, _Undefined


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


ENVIRONMENT = AnvilEnvironment()
"""The one environment used by server and client."""
