"""What compiling does to liquid's parse tree once it is parsed: range literals
are bounded, constant paths are looked up without copying, every node gets a
class whose ``render`` skips a call, and a template that is only text and
``{{ name }}`` is spotted for the plain-substitution fast path."""

from __future__ import annotations

from typing import Any, Callable, TextIO

from liquid.ast import BlockNode, Node
from liquid.builtin.content import ContentNode
from liquid.builtin.expressions.filtered import FilteredExpression
from liquid.builtin.expressions.path import Path
from liquid.builtin.expressions.primitive import RangeLiteral
from liquid.builtin.output import OutputNode
from liquid.context import RenderContext
from liquid.exceptions import OutputStreamLimitError
from liquid.expression import Expression
from liquid.output import NullIO
from liquid.stringify import to_liquid_string
from liquid.template import BoundTemplate

from .environment import _partial_name, _PartialNode
from .sandbox import _BoundedRange, _OutputBuffer, _StaticPath, _stringio_write


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


def _render_block(self: BlockNode, context: RenderContext, buffer: TextIO) -> int:
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


def _render_content(self: ContentNode, context: RenderContext, buffer: TextIO) -> int:
    """``ContentNode.render_to_output`` with ``_OutputBuffer.write`` inlined."""
    text = self.text
    if type(buffer) is _OutputBuffer:
        if text:
            buffer.size += len(text)
            if buffer.size > buffer.limit:
                raise OutputStreamLimitError("output stream limit reached", token=None)
        return _stringio_write(buffer, text)
    return buffer.write(text)


def _render_output(self: OutputNode, context: RenderContext, buffer: TextIO) -> int:
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

_FAST_NODE_CLASSES: dict[type[Node], type[Node] | None] = {}


def _fast_node_class(cls: type[Node]) -> type[Node] | None:
    """A subclass of a node class whose ``render`` is its ``render_to_output``.

    ``Node.render`` only checks the context's disabled tags (set by liquid's
    own ``include``/``render``, which this environment does not use: its
    partials never disable tags) before calling ``render_to_output``:
    skipping it saves a call per node rendered.
    """
    try:
        return _FAST_NODE_CLASSES[cls]
    except KeyError:
        pass
    fast: type[Node] | None = None
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


def _bound_ranges(template: BoundTemplate) -> list[tuple[str, tuple[str, ...], int]]:
    """Make every range literal in the parse tree refuse huge ranges, and give
    every node its fast class (see :func:`_fast_node_class`).  Returns the
    ``{% render %}`` tags met: ``(name, argument names, index in the source)``,
    in source order."""
    static_context = RenderContext(template)
    seen: set[int] = set()
    stack: list[Node] = list(template.nodes)
    partials: list[tuple[str, tuple[str, ...], int]] = []
    while stack:
        node = stack.pop()
        if isinstance(node, _PartialNode):
            partials.append((_partial_name(node), tuple(arg.name for arg in node.args), node.token.start_index))
        for expr in node.expressions():
            _walk_expression(expr, seen)
        stack.extend(node.children(static_context, include_partials=False))
        fast = _fast_node_class(type(node))
        if fast is not None:
            try:
                node.__class__ = fast
            except TypeError:  # pragma: no cover - a node class with an unusual layout
                _FAST_NODE_CLASSES[type(node)] = None
    partials.sort(key=lambda partial: partial[2])
    return partials


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
        if type(node) is ContentNode:
            texts[-1] += node.text
        elif type(node) is OutputNode:
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
