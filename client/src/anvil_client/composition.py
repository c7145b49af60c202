"""Composition: which prompt a ``{% render %}`` name means, and checking every reference before it ships.

Shared by the FORGE (save-time checks, previews, versions) and the LIVE client (serving a bundle), so a
name resolves the same way everywhere (docs/templates.md, "Partials"):

* ``{% render 'tone' %}`` is the prompt ``tone`` of the same prompt set, at the same version;
* ``{% render 'common.tone' %}`` is the prompt ``tone`` of the set ``common``, at the version the
  rendering set *locks* ``common`` to (a working copy locks each dependency to its newest matching
  version, a version records the exact one it resolved to).

A :class:`Library` holds the set versions a render may reach (:class:`SetVersion`) and prepares their
prompts on first use. :meth:`Library.problems` finds, without rendering, what would fail: a partial that
does not exist, a dependency not declared, a chat prompt used as a partial, a required parameter of the
partial not passed, a cycle, partials nested deeper than the render allows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

from . import templates as tpl

KINDS = ("text", "chat")
Prepared = Union[tpl.PreparedPrompt, tpl.PreparedChat]


@dataclass(frozen=True)
class SetVersion:
    """One prompt set at one version (``label`` None: its working copy): its prompts by slug, each
    ``{"kind"?, "template", "messages"?, "parameters", ...}``, and its locks: dependency slug → label."""

    slug: str
    label: str | None
    prompts: Mapping[str, Mapping[str, Any]]
    locks: Mapping[str, str] = field(default_factory=dict)
    # Declared dependencies that could not be locked, and why ("no version of 'common' matches ^2").
    unresolved: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.slug, self.label)

    def __str__(self) -> str:
        return self.slug if self.label is None else f"{self.slug}@{self.label}"


@dataclass(frozen=True)
class Problem:
    """Something that would fail: ``message`` in words; where: the prompt (``set.prompt``), the message
    index for a chat prompt, the 1-based line and column of the ``{% render %}`` tag."""

    prompt: str
    message: str
    message_index: int | None = None
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = f"messages[{self.message_index}] " if self.message_index is not None else ""
        at = f" (line {self.line}, column {self.column})" if self.line is not None else ""
        return f"{where}{self.message}{at}"


def kind_of(prompt: Mapping[str, Any]) -> str:
    kind = prompt.get("kind") or "text"
    return str(kind)


def prepare_document(prompt: Mapping[str, Any], partials: Mapping[str, tpl.PreparedPrompt] | None = None) -> Prepared:
    """A prompt as a snapshot or bundle holds it, prepared: text or chat. Raises a TemplateError."""
    parameters = prompt.get("parameters", [])
    if kind_of(prompt) == "chat":
        return tpl.PreparedChat(prompt.get("messages", []), parameters, partials)
    return tpl.PreparedPrompt(str(prompt.get("template", "")), parameters, partials)


def references(prepared: Prepared) -> list[tuple[int | None, tpl.PartialReference]]:
    """Every ``{% render %}`` of a prepared prompt, with its message index (None for a text prompt)."""
    if isinstance(prepared, tpl.PreparedChat):
        return [(index, ref) for index, ref in prepared.partial_references]
    return [(None, ref) for ref in prepared.template.partials]


class _Partials(Mapping[str, tpl.PreparedPrompt]):
    """The partials a prompt of one set version may render, prepared when first rendered."""

    __slots__ = ("_library", "_set")

    def __init__(self, library: Library, set_version: SetVersion) -> None:
        self._library = library
        self._set = set_version

    def get(self, name: str, default: Any = None) -> Any:
        found = self._library.find(self._set, name)
        if found is None:
            return default
        target, slug = found
        prepared = self._library.prepared(target, slug)
        return prepared if isinstance(prepared, tpl.PreparedPrompt) else default

    def __getitem__(self, name: str) -> tpl.PreparedPrompt:
        prepared = self.get(name)
        if prepared is None:
            raise KeyError(name)
        return prepared  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[str]:
        return iter(self._set.prompts)

    def __len__(self) -> int:
        return len(self._set.prompts)


class Library:
    """The set versions a render may reach, keyed by (slug, label). Prepares each prompt once, on first
    use; safe to share between threads (two may prepare the same prompt at once: same result)."""

    def __init__(self, sets: Iterable[SetVersion] = ()) -> None:
        self._sets: dict[tuple[str, str | None], SetVersion] = {}
        for set_version in sets:
            self._sets[set_version.key] = set_version
        self._prepared: dict[tuple[str, str | None, str], Prepared] = {}

    def add(self, set_version: SetVersion) -> None:
        self._sets[set_version.key] = set_version

    def get(self, slug: str, label: str | None) -> SetVersion | None:
        return self._sets.get((slug, label))

    def find(self, origin: SetVersion, name: str) -> tuple[SetVersion, str] | None:
        """The set version and prompt slug a partial name means when rendered from ``origin``."""
        set_slug, dot, prompt_slug = name.rpartition(".")
        if not dot or set_slug == origin.slug:
            target: SetVersion | None = origin
        else:
            label = origin.locks.get(set_slug)
            target = self._sets.get((set_slug, label)) if label is not None else None
        if target is None or prompt_slug not in target.prompts:
            return None
        return target, prompt_slug

    def prepared(self, set_version: SetVersion, prompt_slug: str) -> Prepared:
        """The prompt prepared with its partials (raises a TemplateError if it does not compile)."""
        key = (set_version.slug, set_version.label, prompt_slug)
        prepared = self._prepared.get(key)
        if prepared is None:
            prompt = set_version.prompts[prompt_slug]
            partials = _Partials(self, set_version) if may_render_partials(prompt) else None
            prepared = self._prepared[key] = prepare_document(prompt, partials)
        return prepared

    # --- checking ------------------------------------------------------------------------------

    def problems(self, set_version: SetVersion, prompt_slug: str) -> list[Problem]:
        """What would fail in this prompt's partials, found without rendering (empty: nothing)."""
        problems: list[Problem] = []
        origin = f"{set_version.slug}.{prompt_slug}"
        try:
            prepared = self.prepared(set_version, prompt_slug)
        except tpl.TemplateError:
            return problems  # the prompt's own syntax error is reported by whoever compiles it
        for index, ref in references(prepared):
            def add(message: str, index: int | None = index, ref: tpl.PartialReference = ref) -> None:
                problems.append(Problem(origin, message, index, ref.line, ref.column))

            message = self._unresolvable(set_version, ref.name)
            if message:
                add(message)
                continue
            found = self.find(set_version, ref.name)
            assert found is not None
            target, slug = found
            try:
                partial = self.prepared(target, slug)
            except tpl.TemplateError as exc:
                add(f"partial '{ref.name}' ({target}) does not compile: {exc}")
                continue
            if isinstance(partial, tpl.PreparedChat):
                add(f"partial '{ref.name}' is a chat prompt: only text prompts can be rendered as partials")
                continue
            needed = [p.name for p in partial.parameters if p.required and p.name not in ref.arguments]
            if needed:
                names = ", ".join(f"'{n}'" for n in needed)
                example = ", ".join(f"{n}: {n}" for n in needed)
                add(f"partial '{ref.name}' needs parameter{'s' if len(needed) > 1 else ''} {names}: "
                    f"{{% render '{ref.name}', {example} %}}")
        cycle = self._cycle(set_version, prompt_slug)
        if cycle:
            problems.append(Problem(origin, f"partials form a cycle: {' → '.join(cycle)}"))
        else:
            depth = self._depth(set_version, prompt_slug, 0)
            if depth > tpl.MAX_PARTIAL_DEPTH:
                problems.append(Problem(origin, f"partials are nested more than {tpl.MAX_PARTIAL_DEPTH} levels "
                                                f"deep (a render allows {tpl.MAX_PARTIAL_DEPTH})"))
        return problems

    def _unresolvable(self, origin: SetVersion, name: str) -> str | None:
        set_slug, dot, prompt_slug = name.rpartition(".")
        if not dot or set_slug == origin.slug:
            if prompt_slug not in origin.prompts:
                return f"partial '{name}' not found: prompt set '{origin.slug}' has no prompt '{prompt_slug}'"
            return None
        label = origin.locks.get(set_slug)
        if label is None and set_slug in origin.unresolved:
            return f"partial '{name}' cannot be rendered: {origin.unresolved[set_slug]}"
        if label is None:
            return (f"partial '{name}' not found: prompt set '{origin.slug}' has no dependency on "
                    f"'{set_slug}' (declare it in the set's dependencies)")
        target = self._sets.get((set_slug, label))
        if target is None:
            return f"partial '{name}' not found: version {label} of '{set_slug}' is not available"
        if prompt_slug not in target.prompts:
            return f"partial '{name}' not found: {set_slug}@{label} has no prompt '{prompt_slug}'"
        return None

    def _edges(self, set_version: SetVersion, prompt_slug: str) -> list[tuple[SetVersion, str]]:
        try:
            prepared = self.prepared(set_version, prompt_slug)
        except tpl.TemplateError:
            return []
        edges = []
        for _, ref in references(prepared):
            found = self.find(set_version, ref.name)
            if found is not None:
                edges.append(found)
        return edges

    def _cycle(self, start: SetVersion, prompt_slug: str) -> list[str] | None:
        """The first cycle reachable from the prompt, as names (``set.prompt``), or None."""
        path: list[tuple[SetVersion, str]] = []
        on_path: set[tuple[str, str | None, str]] = set()
        done: set[tuple[str, str | None, str]] = set()

        def visit(node: tuple[SetVersion, str]) -> list[str] | None:
            key = (node[0].slug, node[0].label, node[1])
            if key in on_path:
                loop = path[[(p[0].slug, p[0].label, p[1]) for p in path].index(key):] + [node]
                return [f"{s.slug}.{p}" for s, p in loop]
            if key in done:
                return None
            on_path.add(key)
            path.append(node)
            for edge in self._edges(*node):
                found = visit(edge)
                if found:
                    return found
            path.pop()
            on_path.discard(key)
            done.add(key)
            return None

        return visit((start, prompt_slug))

    def _depth(self, set_version: SetVersion, prompt_slug: str, depth: int) -> int:
        if depth > tpl.MAX_PARTIAL_DEPTH:
            return depth
        deepest = depth
        for edge in self._edges(set_version, prompt_slug):
            deepest = max(deepest, self._depth(*edge, depth + 1))
        return deepest


RENDER_TAG = re.compile(r"\brender\s*['\"]")
"""What any ``{% render 'name' %}`` tag contains (the name is always quoted): text without it renders no
partial. (Prose such as "render HTML" does not match; a false match only costs a closer look.)"""


def may_render_partials(prompt: Mapping[str, Any]) -> bool:
    """Cheap test, without compiling: can this prompt have a ``{% render %}`` tag?"""
    if kind_of(prompt) == "chat":
        return any(RENDER_TAG.search(str(m.get("content", ""))) for m in prompt.get("messages", ())
                   if isinstance(m, Mapping))
    return RENDER_TAG.search(str(prompt.get("template", ""))) is not None


def dependency_cycle(dependencies: Mapping[str, Iterable[str]], start: str) -> list[str] | None:
    """A cycle of prompt-set dependencies through ``start`` (``["a", "b", "a"]``), or None. ``dependencies``:
    each set's slug → the slugs it depends on. Used wherever dependencies are checked (the FORGE's set
    settings, archive imports)."""
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        if node in path:
            return path[path.index(node):] + [node] if node == start else None
        path.append(node)
        for following in sorted(dependencies.get(node, ())):
            found = visit(following)
            if found:
                return found
        path.pop()
        return None

    return visit(start)
