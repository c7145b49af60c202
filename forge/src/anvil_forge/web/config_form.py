"""The model configuration fields (a prompt's own, a prompt set's defaults) and a set's dependency rows.

Configuration fields: ``cfg-model``, ``cfg-temperature``, ``cfg-top_p``, ``cfg-max_tokens``, ``cfg-stop``,
``cfg-seed`` — one box per common key, empty for "not set", ``null`` for "remove the set's default" — and
``cfg-extra``, a JSON object with every other key (``response_format``, ``tools``, ...). Numbers are read as
JSON numbers; anything else is passed on as text, so the FORGE's check names the key and what is wrong
(``temperature must be a number between 0 and 2, got "warm"``). ``stop`` is a text, or JSON (a list of up
to 4 texts, or a quoted text with escapes such as ``"\\n\\n"``).

Dependency rows: ``dep_row`` = KEY; ``d-KEY-set`` (another set's slug) and ``d-KEY-spec`` (``^1.2``).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from anvil_forge.core import jsonin

if TYPE_CHECKING:
    from .drafts import Slots

#: (key, label, how its text is read, help)
COMMON = (
    ("model", "Model", "text", "e.g. gpt-4o"),
    ("temperature", "Temperature", "number", "0 to 2"),
    ("top_p", "Top p", "number", "0 to 1"),
    ("max_tokens", "Max tokens", "number", "a whole number, at least 1"),
    ("stop", "Stop", "stop", 'a text, or a JSON list of up to 4: ["\\n\\n", "END"]'),
    ("seed", "Seed", "number", "a whole number"),
)
COMMON_KEYS = tuple(key for key, *_ in COMMON)
EXTRA = "extra"


def config_slot(key: str) -> str:
    """The field an error about ``key`` (``temperature``, ``tools[1].function.name``, "") belongs to."""
    top = re.split(r"[.\[]", key or "", maxsplit=1)[0]
    return f"cfg-{top}" if top in COMMON_KEYS else f"cfg-{EXTRA}"


def fields_from_post(data) -> dict[str, str]:
    return {key: data.get(f"cfg-{key}", "") for key in (*COMMON_KEYS, EXTRA)}


def _read(text: str, how: str) -> tuple[Any, str | None]:
    if text == "null":
        return None, None
    if how == "number":
        try:
            value = jsonin.loads(text)
        except jsonin.BadJSON:
            return text, None
        return (value, None) if isinstance(value, (int, float)) and not isinstance(value, bool) else (text, None)
    if how == "stop" and text[:1] in ('[', '"'):
        try:
            return jsonin.loads(text, "stop"), None
        except jsonin.BadJSON as exc:
            return None, f"{exc.message} (write plain text, or JSON)"
    return text, None


def config_from_fields(fields: dict[str, str], slots: Slots) -> dict:
    """The configuration the fields hold; what cannot be read goes to ``slots`` (``cfg-KEY``)."""
    config: dict[str, Any] = {}
    for key, _label, how, _help in COMMON:
        text = (fields.get(key) or "").strip()
        if not text:
            continue
        value, problem = _read(text, how)
        if problem:
            slots.add(f"cfg-{key}", problem)
            continue
        config[key] = value
    extra = (fields.get(EXTRA) or "").strip()
    if extra:
        try:
            parsed = jsonin.loads(extra, "the other settings")
        except jsonin.BadJSON as exc:
            slots.add(f"cfg-{EXTRA}", exc.message)
            return config
        if not isinstance(parsed, dict):
            slots.add(f"cfg-{EXTRA}", 'the other settings must be a JSON object: {"key": value, ...}')
            return config
        for key, value in parsed.items():
            if key in config:
                slots.add(f"cfg-{EXTRA}", f"{key} has its own field above: set it there, not here")
            else:
                config[key] = value
    return config


def _text(key: str, value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str) and not (key == "stop" and (value[:1] in ('[', '"') or not value.isprintable()
                                                          or value != value.strip())):
        return value
    return json.dumps(value, ensure_ascii=False)


def fields_from_config(config: dict | None) -> dict[str, str]:
    config = config or {}
    fields = {key: _text(key, config[key]) if key in config else "" for key in COMMON_KEYS}
    others = {key: value for key, value in config.items() if key not in COMMON_KEYS}
    fields[EXTRA] = json.dumps(others, ensure_ascii=False, indent=2) if others else ""
    return fields


def present(fields: dict[str, str], errors: dict[str, list[str]], defaults: dict | None = None) -> dict:
    """What the configuration fields template shows: each common key with its text, its error and the set's
    default it inherits (a prompt's), then the JSON box."""
    defaults = defaults or {}
    rows = [{"key": key, "id": f"cfg-{key}", "label": label, "help": help_text, "value": fields.get(key, ""),
             "numeric": how == "number", "errors": errors.get(f"cfg-{key}", []),
             "inherited": _text(key, defaults[key]) if key in defaults else ""}
            for key, label, how, help_text in COMMON]
    inherited_extra = {k: v for k, v in defaults.items() if k not in COMMON_KEYS}
    return {"rows": rows, "extra": {"id": f"cfg-{EXTRA}", "value": fields.get(EXTRA, ""),
                                    "errors": errors.get(f"cfg-{EXTRA}", []),
                                    "inherited": json.dumps(inherited_extra, ensure_ascii=False) if inherited_extra else ""},
            "slots": [f"cfg-{key}" for key in (*COMMON_KEYS, EXTRA)]}


# --- dependency rows of a prompt set's settings -------------------------------------------------------

def dependency_rows(dependencies: dict | None) -> list[dict]:
    return [{"key": f"r{index}", "set": slug, "spec": spec}
            for index, (slug, spec) in enumerate(sorted((dependencies or {}).items()))]


def dependency_rows_from_post(data) -> list[dict]:
    rows = []
    for key in data.getlist("dep_row"):
        if key and len(key) <= 40 and key.replace("-", "").isalnum():
            rows.append({"key": key, "set": data.get(f"d-{key}-set", "").strip(),
                         "spec": data.get(f"d-{key}-spec", "").strip()})
    return rows


def dependencies_from_rows(rows: list[dict], slots: Slots) -> dict[str, str]:
    """``{set slug: specifier}``; a row without a set is an empty new row; a set twice is a local error."""
    found: dict[str, str] = {}
    for row in rows:
        if not row["set"]:
            continue
        if row["set"] in found:
            slots.add(f"d-{row['key']}", f"{row['set']} is listed twice: keep one row for it")
            continue
        found[row["set"]] = row["spec"]
    return found
