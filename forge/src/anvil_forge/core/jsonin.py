"""JSON that comes from outside — request bodies, archives, the answers of peers and receivers — parsed so that
nothing in it can break a later step: no ``RecursionError`` (too deep), no lone surrogate (``"\\ud800"`` is valid
JSON but not text: UTF-8, SQLite and PostgreSQL cannot store it), no ``NaN``/``Infinity`` (not JSON; PostgreSQL's
jsonb refuses them). Each refusal is a :class:`BadJSON` naming where the problem is.
"""

from __future__ import annotations

import json
from typing import Any

# Deeper than any archive, bundle, snapshot or metadata Anvil writes (about 12 levels plus the user's metadata),
# far below the interpreter's recursion limit that later steps (validation, canonical JSON) run into.
MAX_DEPTH = 64


class BadJSON(ValueError):
    def __init__(self, message: str, path: str):
        super().__init__(message)
        self.message, self.path = message, path

    @property
    def field(self) -> str:
        """The place as an API error names it: ``body.template`` → ``template``; the whole body → ``body``."""
        return self.path.removeprefix("body.") if self.path != "body" else "body"


def _constant(name: str):
    raise ValueError(f"{name} is not a JSON value")


def loads(data: bytes | str, where: str = "body") -> Any:
    """Parse ``data``; :class:`BadJSON` when it is not JSON, too deep, or holds text that is not text."""
    try:
        value = json.loads(data, parse_constant=_constant)
    except RecursionError:
        raise BadJSON(f"{where} is nested too deeply (at most {MAX_DEPTH} levels)", where) from None
    except json.JSONDecodeError as exc:
        raise BadJSON(f"{where} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}", where) \
            from None
    except UnicodeDecodeError:
        raise BadJSON(f"{where} is not UTF-8 text", where) from None
    except ValueError as exc:  # NaN / Infinity
        raise BadJSON(f"{where} is not valid JSON: {exc}", where) from None
    check(value, where)
    return value


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check(value: Any, where: str = "body") -> Any:
    """Refuse nesting deeper than MAX_DEPTH and lone surrogates in any string or key (iteratively)."""
    stack = [(value, where, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            if not _is_text(item):
                raise BadJSON(f"{path} holds a lone surrogate (\\ud800-\\udfff): it is not valid text", path)
        elif isinstance(item, (dict, list)):
            if depth >= MAX_DEPTH:
                raise BadJSON(f"{where} is nested too deeply (at most {MAX_DEPTH} levels)", path)
            if isinstance(item, dict):
                for key, child in item.items():
                    if not _is_text(key):
                        raise BadJSON(f"a key in {path} holds a lone surrogate (\\ud800-\\udfff): it is not valid "
                                      f"text", path)
                    stack.append((child, f"{path}.{key}", depth + 1))
            else:
                stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(item))
    return value
