"""Structured diff between two prompt-set snapshots (pure Python, no Django).

A snapshot is what a version freezes (see :mod:`.snapshots`)::

    {"name": str, "description": str, "metadata": dict,
     "config": dict, "dependencies": {slug: specifier}, "locks": {slug: label},
     "prompts": {"<slug>": {"name": str, "description": str, "template": str,
                            "parameters": [{"name", "type", "description",
                                            "required", "default"}, ...],
                            "metadata": dict, "kind": "text"|"chat",
                            "messages": [{"role", "content"} | {"placeholder"}, ...],
                            "config": dict}}}

``config``, ``dependencies``, ``locks``, ``kind``, ``messages`` and a prompt's
``config`` came later and are optional: a missing one has its default ("text"
for ``kind``, ``[]`` for ``messages``, ``{}`` for the others), so a snapshot
stored before them diffs as it always did.

:func:`diff_snapshots` compares two of them (two versions, or a version and
the working copy) and returns a JSON-serialisable dict::

    {"set": {"changed_fields": {"name"|"description"|"metadata": {"from", "to"}},
             "config": mapping_diff, "dependencies": mapping_diff, "locks": mapping_diff},
     "prompts": {"added": [slug, ...], "removed": [slug, ...], "unchanged": [slug, ...],
                 "changed": [{"slug": slug,
                              "fields": {"name"|"description"|"metadata": {"from", "to"}},
                              "template": None | text_diff,
                              "parameters": {"added": [param, ...], "removed": [param, ...],
                                             "changed": [{"name": n, "changes": {field: {"from", "to"}}}]},
                              "kind": None | {"from", "to"},
                              "config": mapping_diff,
                              "messages": None | {"ops": [op, ...]},
                              "tests": None | text_diff}},
                             ...]},
     "summary": {"added": n, "removed": n, "changed": n, "unchanged": n}}

where

* a ``text_diff`` is ``{"unified": str, "lines": [line, ...]}`` and a
  ``line`` is ``{"op": "equal"|"add"|"remove", "old_no": int|None,
  "new_no": int|None, "text": str}``: the whole text, line by line, in
  order, with 1-based line numbers (``old_no`` for "equal"/"remove",
  ``new_no`` for "equal"/"add"); a replaced block is its removals followed by
  its additions, as in a unified diff. :func:`side_by_side` pairs them up for
  a two-column view.
* a ``mapping_diff`` (model configuration, dependencies, locks) is
  ``{"added": {key: value}, "removed": {key: value}, "changed": {key:
  {"from", "to"}}}`` over the top-level keys; all three are ``{}`` when
  nothing changed.
* an ``op`` is one message of the aligned message lists, in order, with
  0-based list indices: ``{"op": "equal", "old_index", "new_index",
  "message"}``, ``{"op": "add", "new_index", "message"}``, ``{"op":
  "remove", "old_index", "message"}`` or ``{"op": "change", "old_index",
  "new_index", "from": message, "to": message, "content": None |
  text_diff}``. Messages of a replaced block are paired by position into
  "change" ops (the longer side's extra ones become "add"/"remove");
  ``content`` is the line diff of two role messages' ``content`` (None when
  it is the same, e.g. only the role changed, or either is a placeholder).
  Its unified text is headed ``old/<slug>/messages/<old_index>`` and
  ``new/<slug>/messages/<new_index>``.

Rules
    * Only the fields named above are compared; unknown keys are ignored and
      missing ones count as their default.
    * Values are compared as JSON: ``True`` differs from ``1``, ``1`` equals
      ``1.0``, key order does not matter. Messages are matched as JSON too.
    * A prompt is changed if any of its fields, template, parameters, kind,
      messages or config changed. ``messages`` is None when the message lists
      are the same; a text prompt has none (its ``messages`` key, if any, is
      ignored), so it is None for a text prompt and a kind change from/to
      "chat" shows every message as added/removed.
    * Parameters are matched by name; their order in the list is not a change.
      (Names are unique in a valid prompt; if not, the first one counts.)
    * Templates (and message contents) are split into lines on ``"\\n"`` only;
      a change in the final newline shows as a changed last line, and the
      unified text marks a last line without newline with ``\\ No newline at
      end of file``, like git.
    * Everything is sorted (slugs, parameter names, field and config keys), so
      the same inputs always give the same output. Values are deep copies.
"""

from __future__ import annotations

import copy
import difflib
import json
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


def _unified(a: list[str], b: list[str], matcher: difflib.SequenceMatcher[str], names: tuple[str, str],
             context: int) -> str:
    out = [f"--- old/{names[0]}\n", f"+++ new/{names[1]}\n"]

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


def _template_diff(old: str, new: str, slug: str, context: int, *, new_slug: str | None = None) -> dict[str, Any] | None:
    """Line diff of two texts; the unified text is headed ``old/<slug>`` and ``new/<new_slug or slug>``."""
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
    return {"unified": _unified(a, b, matcher, (slug, new_slug or slug), context), "lines": lines}


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


# ---------------------------------------------------------------- configuration, dependencies, locks


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _mapping_diff(old: Any, new: Any) -> dict[str, dict[str, Any]]:
    """Top-level keys added, removed and changed (values compared as JSON); a missing or non-dict side is {}."""
    a, b = _mapping(old), _mapping(new)
    changed = {}
    for key in sorted(a.keys() & b.keys()):
        if not _same(a[key], b[key]):
            changed[key] = {"from": copy.deepcopy(a[key]), "to": copy.deepcopy(b[key])}
    return {
        "added": {k: copy.deepcopy(b[k]) for k in sorted(b.keys() - a.keys())},
        "removed": {k: copy.deepcopy(a[k]) for k in sorted(a.keys() - b.keys())},
        "changed": changed,
    }


# ---------------------------------------------------------------- chat messages


def _kind(prompt: Mapping[str, Any]) -> Any:
    return prompt.get("kind") or "text"


def _messages(prompt: Mapping[str, Any]) -> list[Any]:
    # only a chat prompt has messages; a text prompt's (stale) "messages" key is not part of it
    if _kind(prompt) != "chat":
        return []
    messages = prompt.get("messages")
    return list(messages) if isinstance(messages, (list, tuple)) else []


def _json_value(value: Any) -> Any:
    # the form under which _same() equal values are equal: integral floats as ints, keys sorted by json.dumps
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return value


def _canonical(message: Any) -> str:
    return json.dumps(_json_value(message), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr)


def _content(message: Any) -> str | None:
    """A role message's content, None for a placeholder (or anything else)."""
    if isinstance(message, Mapping) and "role" in message and "placeholder" not in message:
        content = message.get("content")
        return content if isinstance(content, str) else ("" if content is None else None)
    return None


def _message_change(a: Any, b: Any, i: int, j: int, slug: str, context: int) -> dict[str, Any]:
    old_content, new_content = _content(a), _content(b)
    content = None
    if old_content is not None and new_content is not None:
        content = _template_diff(old_content, new_content, f"{slug}/messages/{i}", context,
                                 new_slug=f"{slug}/messages/{j}")
    return {"op": "change", "old_index": i, "new_index": j,
            "from": copy.deepcopy(a), "to": copy.deepcopy(b), "content": content}


def _messages_diff(old: list[Any], new: list[Any], slug: str, context: int) -> dict[str, Any] | None:
    a, b = [_canonical(m) for m in old], [_canonical(m) for m in new]
    if a == b:
        return None
    ops: list[dict[str, Any]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            for k in range(i2 - i1):
                ops.append({"op": "equal", "old_index": i1 + k, "new_index": j1 + k,
                            "message": copy.deepcopy(new[j1 + k])})
            continue
        paired = min(i2 - i1, j2 - j1)
        for k in range(paired):
            ops.append(_message_change(old[i1 + k], new[j1 + k], i1 + k, j1 + k, slug, context))
        for i in range(i1 + paired, i2):
            ops.append({"op": "remove", "old_index": i, "message": copy.deepcopy(old[i])})
        for j in range(j1 + paired, j2):
            ops.append({"op": "add", "new_index": j, "message": copy.deepcopy(new[j])})
    return {"ops": ops}


# ---------------------------------------------------------------- test cases


def _tests_text(prompt: Mapping[str, Any]) -> str:
    """A prompt's test cases as the text a line diff reads: one JSON case after another, indented."""
    tests = prompt.get("tests") or []
    return "".join(json.dumps(case, indent=2, ensure_ascii=False, sort_keys=False) + "\n" for case in tests)


# ---------------------------------------------------------------- snapshots


def _changed(diff: Mapping[str, Any]) -> bool:
    return any(diff.values())


def diff_snapshots(old: Mapping[str, Any], new: Mapping[str, Any], *, context: int = 3) -> dict[str, Any]:
    """Structured, JSON-serialisable diff from snapshot *old* to snapshot *new*.

    *context* is the number of unchanged lines around each hunk of the
    ``unified`` text of templates and message contents (``lines`` always
    holds every line). See the module docstring for the shape of the result.
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
        kind = None if _same(_kind(a), _kind(b)) else {"from": _kind(a), "to": _kind(b)}
        config = _mapping_diff(a.get("config"), b.get("config"))
        messages = _messages_diff(_messages(a), _messages(b), slug, context)
        tests = _template_diff(_tests_text(a), _tests_text(b), f"{slug}/tests", context)
        if (fields or template is not None or _changed(parameters) or kind is not None or _changed(config)
                or messages is not None or tests is not None):
            changed.append({"slug": slug, "fields": fields, "template": template, "parameters": parameters,
                            "kind": copy.deepcopy(kind), "config": config, "messages": messages, "tests": tests})
        else:
            unchanged.append(slug)

    added = sorted(new_prompts.keys() - old_prompts.keys())
    removed = sorted(old_prompts.keys() - new_prompts.keys())
    return {
        "set": {
            "changed_fields": _changed_fields(old, new, SET_FIELDS),
            "config": _mapping_diff(old.get("config"), new.get("config")),
            "dependencies": _mapping_diff(old.get("dependencies"), new.get("dependencies")),
            "locks": _mapping_diff(old.get("locks"), new.get("locks")),
        },
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
