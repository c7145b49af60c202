"""Structured diff between two prompt-set snapshots (pure Python, no Django).

A snapshot is what a version freezes (see :mod:`.snapshots`)::

    {"name": str, "description": str, "metadata": dict,
     "prompts": {"<slug>": {"name": str, "description": str, "template": str,
                            "parameters": [{"name", "type", "description",
                                            "required", "default"}, ...],
                            "metadata": dict}}}

:func:`diff_snapshots` compares two of them (two versions, or a version and
the working copy) and returns a JSON-serialisable dict::

    {"set": {"changed_fields": {"name"|"description"|"metadata": {"from", "to"}}},
     "prompts": {"added": [slug, ...], "removed": [slug, ...], "unchanged": [slug, ...],
                 "changed": [{"slug": slug,
                              "fields": {"name"|"description"|"metadata": {"from", "to"}},
                              "template": None | {"unified": str, "lines": [line, ...]},
                              "parameters": {"added": [param, ...], "removed": [param, ...],
                                             "changed": [{"name": n, "changes": {field: {"from", "to"}}}]}},
                             ...]},
     "summary": {"added": n, "removed": n, "changed": n, "unchanged": n}}

where a ``line`` is ``{"op": "equal"|"add"|"remove", "old_no": int|None,
"new_no": int|None, "text": str}``: the whole template, line by line, in
order, with 1-based line numbers (``old_no`` for "equal"/"remove",
``new_no`` for "equal"/"add"); a replaced block is its removals followed by
its additions, as in a unified diff. :func:`side_by_side` pairs them up for a
two-column view.

Rules
    * Only the fields named above are compared; unknown keys are ignored and
      missing ones count as empty ("" / {} / []).
    * Values are compared as JSON: ``True`` differs from ``1``, ``1`` equals
      ``1.0``, key order does not matter.
    * Parameters are matched by name; their order in the list is not a change.
      (Names are unique in a valid prompt; if not, the first one counts.)
    * Templates are split into lines on ``"\\n"`` only; a change in the final
      newline shows as a changed last line, and the unified text marks a last
      line without newline with ``\\ No newline at end of file``, like git.
    * Everything is sorted (slugs, parameter names, field names), so the same
      inputs always give the same output. Values are deep copies.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["diff_snapshots", "side_by_side"]

SET_FIELDS = ("description", "metadata", "name")
PROMPT_FIELDS = ("description", "metadata", "name")

_NO_NEWLINE = "\\ No newline at end of file\n"


def _same(a: Any, b: Any) -> bool:
    """JSON equality: booleans are not numbers, ints equal floats by value, key order is irrelevant."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, (Mapping, list, tuple)) or isinstance(b, (Mapping, list, tuple)):
        return False
    return bool(a == b)


def _field(obj: Mapping[str, Any], name: str) -> Any:
    value = obj.get(name)
    if value is None:
        return {} if name == "metadata" else ""
    return value


def _changed_fields(old: Mapping[str, Any], new: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in sorted(names):
        a, b = _field(old, name), _field(new, name)
        if not _same(a, b):
            out[name] = {"from": copy.deepcopy(a), "to": copy.deepcopy(b)}
    return out


# ---------------------------------------------------------------- templates


def _split(text: str) -> list[str]:
    """Lines with their "\\n" kept; a last line without "\\n" stays as it is."""
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _strip(line: str) -> str:
    return line[:-1] if line.endswith("\n") else line


def _range(start: int, length: int) -> str:
    # as difflib's unified_diff: "start,length" with 1-based start, "start" alone for length 1
    beginning = start + 1
    if length == 1:
        return f"{beginning}"
    if not length:
        beginning -= 1
    return f"{beginning},{length}"


def _unified(a: list[str], b: list[str], matcher: difflib.SequenceMatcher[str], slug: str, context: int) -> str:
    out = [f"--- old/{slug}\n", f"+++ new/{slug}\n"]

    def emit(prefix: str, line: str) -> None:
        out.append(prefix + line)
        if not line.endswith("\n"):
            out.append("\n" + _NO_NEWLINE)

    for group in matcher.get_grouped_opcodes(context):
        first, last = group[0], group[-1]
        out.append(f"@@ -{_range(first[1], last[2] - first[1])} +{_range(first[3], last[4] - first[3])} @@\n")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                for line in a[i1:i2]:
                    emit(" ", line)
                continue
            for line in a[i1:i2]:
                emit("-", line)
            for line in b[j1:j2]:
                emit("+", line)
    return "".join(out)


def _template_diff(old: str, new: str, slug: str, context: int) -> dict[str, Any] | None:
    if old == new:
        return None
    a, b = _split(old), _split(new)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    lines: list[dict[str, Any]] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for k in range(i2 - i1):
                lines.append({"op": "equal", "old_no": i1 + k + 1, "new_no": j1 + k + 1, "text": _strip(a[i1 + k])})
            continue
        for i in range(i1, i2):
            lines.append({"op": "remove", "old_no": i + 1, "new_no": None, "text": _strip(a[i])})
        for j in range(j1, j2):
            lines.append({"op": "add", "old_no": None, "new_no": j + 1, "text": _strip(b[j])})
    return {"unified": _unified(a, b, matcher, slug, context), "lines": lines}


# ---------------------------------------------------------------- parameters


def _by_name(params: Any) -> dict[str, Mapping[str, Any]]:
    out: dict[str, Mapping[str, Any]] = {}
    for p in params or ():
        if isinstance(p, Mapping):
            out.setdefault(str(p.get("name", "")), p)
    return out


def _parameter_diff(old: Any, new: Any) -> dict[str, list[Any]]:
    a, b = _by_name(old), _by_name(new)
    changed = []
    for name in sorted(a.keys() & b.keys()):
        changes = {}
        for field in sorted(a[name].keys() | b[name].keys()):
            x, y = a[name].get(field), b[name].get(field)  # a missing field counts as None
            if not _same(x, y):
                changes[field] = {"from": copy.deepcopy(x), "to": copy.deepcopy(y)}
        if changes:
            changed.append({"name": name, "changes": changes})
    return {
        "added": [copy.deepcopy(b[n]) for n in sorted(b.keys() - a.keys())],
        "removed": [copy.deepcopy(a[n]) for n in sorted(a.keys() - b.keys())],
        "changed": changed,
    }


# ---------------------------------------------------------------- snapshots


def diff_snapshots(old: Mapping[str, Any], new: Mapping[str, Any], *, context: int = 3) -> dict[str, Any]:
    """Structured, JSON-serialisable diff from snapshot *old* to snapshot *new*.

    *context* is the number of unchanged lines around each hunk of the
    ``unified`` template text (``lines`` always holds every line). See the
    module docstring for the shape of the result.
    """
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        raise TypeError("diff_snapshots() compares two snapshot dicts")
    if isinstance(context, bool) or not isinstance(context, int) or context < 0:
        raise ValueError("context must be a non-negative integer")
    old_prompts: Mapping[str, Any] = old.get("prompts") or {}
    new_prompts: Mapping[str, Any] = new.get("prompts") or {}

    changed = []
    unchanged = []
    for slug in sorted(old_prompts.keys() & new_prompts.keys()):
        a, b = old_prompts[slug] or {}, new_prompts[slug] or {}
        fields = _changed_fields(a, b, PROMPT_FIELDS)
        template = _template_diff(a.get("template") or "", b.get("template") or "", slug, context)
        parameters = _parameter_diff(a.get("parameters"), b.get("parameters"))
        if fields or template is not None or any(parameters.values()):
            changed.append({"slug": slug, "fields": fields, "template": template, "parameters": parameters})
        else:
            unchanged.append(slug)

    added = sorted(new_prompts.keys() - old_prompts.keys())
    removed = sorted(old_prompts.keys() - new_prompts.keys())
    return {
        "set": {"changed_fields": _changed_fields(old, new, SET_FIELDS)},
        "prompts": {"added": added, "removed": removed, "unchanged": unchanged, "changed": changed},
        "summary": {"added": len(added), "removed": len(removed), "changed": len(changed), "unchanged": len(unchanged)},
    }


def side_by_side(lines: Iterable[Mapping[str, Any]] | None) -> list[tuple[dict[str, Any] | None, dict[str, Any] | None]]:
    """Pair a template diff's ``lines`` into rows for a two-column view.

    Each row is ``(left, right)``, each side ``{"no": int, "text": str,
    "op": "equal"|"remove"|"add"}`` or None. Unchanged lines sit on both
    sides; within a changed block the n-th removed line is paired with the
    n-th added line, and the longer side's extra lines face None.
    ``side_by_side(None)`` (an unchanged template) is ``[]``.
    """
    rows: list[tuple[dict[str, Any] | None, dict[str, Any] | None]] = []
    removes: list[dict[str, Any]] = []
    adds: list[dict[str, Any]] = []

    def flush() -> None:
        for k in range(max(len(removes), len(adds))):
            rows.append((removes[k] if k < len(removes) else None, adds[k] if k < len(adds) else None))
        removes.clear()
        adds.clear()

    for line in lines or ():
        op = line["op"]
        if op == "remove":
            removes.append({"no": line["old_no"], "text": line["text"], "op": "remove"})
        elif op == "add":
            adds.append({"no": line["new_no"], "text": line["text"], "op": "add"})
        elif op == "equal":
            flush()
            rows.append((
                {"no": line["old_no"], "text": line["text"], "op": "equal"},
                {"no": line["new_no"], "text": line["text"], "op": "equal"},
            ))
        else:
            raise ValueError(f"unknown line op {op!r}")
    flush()
    return rows
