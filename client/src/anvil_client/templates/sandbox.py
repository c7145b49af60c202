"""The classes a render runs on: strict undefined values, a character-limited
output buffer, a render context with a cumulative loop budget and a CPU-time
budget (and no ``now``/``today``), the bound template, and range literals that
refuse huge ranges."""

from __future__ import annotations

import json as _json
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from io import StringIO
from typing import Any

from liquid.builtin.expressions.path import Path
from liquid.builtin.expressions.primitive import RangeLiteral
from liquid.context import RenderContext
from liquid.exceptions import ContextDepthError, LoopIterationLimitError, OutputStreamLimitError
from liquid.output import LimitedStringIO
from liquid.template import BoundTemplate
from liquid.undefined import UNDEFINED, StrictUndefined
from liquid.utils import ReadOnlyChainMap

from .errors import _AnvilLimitError, _UndefinedVariable
from .limits import (
    _MAX_INTEGER_BITS,
    _TIME_CHECK_EVERY,
    MAX_LOOP_ITERATIONS,
    MAX_OUTPUT_SIZE,
    MAX_PARTIAL_DEPTH,
    MAX_RENDER_SECONDS,
)


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

    # partials: what `{% render 'name' %}` may render (names → prepared prompts, see
    # rendering.PreparedPrompt), set by whoever starts the render (render_values, render_partial);
    # partial_depth: how many partials deep this render is (unset: 0). Not set in __init__: the
    # plain render path does not pay for them.
    __slots__ = ("_iterations", "_deadline", "_wall_gate", "_ticks", "partials", "partial_depth")
    partials: Mapping[str, Any] | None
    partial_depth: int

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

    def loop(self, namespace: Mapping[str, object], forloop: Any) -> Any:
        return _LoopScope(self, namespace, forloop)

    def get_buffer(self, buf: Any = None) -> StringIO:
        carry = buf.size if isinstance(buf, LimitedStringIO) else 0
        return _OutputBuffer(limit=MAX_OUTPUT_SIZE - carry)


class Budget:
    """The limits several renders share as if they were one (the messages of a chat prompt): loop
    iterations counted and CPU time measured from the first render's start."""

    # (the names of the render context's own fields: _go_on and _hand_back copy between the two)
    __slots__ = ("_iterations", "_ticks", "_deadline", "_wall_gate")

    def __init__(self) -> None:
        self._iterations = 0
        self._ticks = 0
        self._deadline = time.thread_time() + MAX_RENDER_SECONDS
        self._wall_gate = time.perf_counter() + MAX_RENDER_SECONDS / 2


def _go_on(spent: Budget | _RenderContext, context: _RenderContext) -> None:
    """Let ``context`` go on from what ``spent`` has used: its loop count and its CPU-time deadline."""
    context._iterations, context._ticks = spent._iterations, spent._ticks
    context._deadline, context._wall_gate = spent._deadline, spent._wall_gate


def _hand_back(context: _RenderContext, spent: Budget | _RenderContext) -> None:
    """What ``context`` used, counted against ``spent`` (after :func:`_go_on`)."""
    spent._iterations, spent._ticks = context._iterations, context._ticks


class _BoundTemplate(BoundTemplate):
    context_class = _RenderContext

    def _get_buffer(self) -> StringIO:
        return _OutputBuffer(limit=MAX_OUTPUT_SIZE)

    def make_partial_namespace(
        self, partial: bool, render_args: Mapping[str, object]
    ) -> Mapping[str, object]:
        # liquid would inject a `partial` variable: a partial sees only the arguments it is given.
        return dict(render_args)

    def render_partial(self, parent: _RenderContext, buffer: StringIO, data: dict[str, object],
                       partials: Mapping[str, Any] | None) -> None:
        """Render as a partial of ``parent`` into its buffer, seeing only ``data`` (Liquid's isolated
        ``render`` scope), and sharing the parent's budgets: loop iterations, CPU time, output size
        (the same buffer), depth and the size of assigned variables."""
        depth = getattr(parent, "partial_depth", 0)
        if depth >= MAX_PARTIAL_DEPTH:
            raise _AnvilLimitError("partial_depth")
        carry = parent.loop_iteration_carry
        for loop in parent.loops:
            carry *= loop.length
        child = _RenderContext(self, globals=self.make_globals(data), copy_depth=parent._copy_depth + 1,
                               parent_context=parent, loop_iteration_carry=carry,
                               local_namespace_size_carry=parent.get_size_of_locals())
        child.partials = partials
        child.partial_depth = depth + 1
        _go_on(parent, child)
        try:
            self.render_with_context(child, buffer, partial=True, block_scope=True)
        finally:
            _hand_back(child, parent)

    def make_globals(self, render_args: Mapping[str, object]) -> Mapping[str, object]:
        # liquid chains the values with the template's front matter and
        # globals, which are always empty here: look the values up directly.
        if not self.matter and not self.globals:
            return render_args
        return super().make_globals(render_args)

    def render_values(self, data: dict[str, object], partials: Mapping[str, Any] | None = None,
                      budget: Budget | None = None) -> str:
        """``render(data)`` for a dict the caller owns (it is not copied); ``partials``: what
        ``{% render %}`` may render; ``budget``: the loop iterations and CPU time already spent by the
        other renders of one whole prompt (a chat prompt's messages), which this render goes on from."""
        context = _RenderContext(self, globals=self.make_globals(data))
        context.partials = partials
        buf = _OutputBuffer(limit=MAX_OUTPUT_SIZE)
        if budget is None:
            self.render_with_context(context, buf)
            return buf.getvalue()
        _go_on(budget, context)
        try:
            self.render_with_context(context, buf)
        finally:
            _hand_back(context, budget)
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
        # (list is invariant: a static path's segments are str/int only)
        return context.get(self.path, token=self.token)  # type: ignore[arg-type]
