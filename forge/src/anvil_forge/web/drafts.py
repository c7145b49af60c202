"""The prompt editor's draft as its form sends it: parameter rows, chat message rows, model configuration.

Rows keep their order in the page: each has a key, listed in order by a hidden input, and its fields:

* parameters: ``param_row`` = KEY; ``p-KEY-name``, ``-type``, ``-description``, ``-required`` (checkbox),
  ``-default``, ``-empty`` (a string default that is the empty string), ``-values`` (enum: comma-separated or a
  JSON list), ``-items`` (list), ``-schema`` (object, list of objects: JSON);
* chat messages: ``msg_row`` = KEY; ``m-KEY-type`` (``message`` | ``placeholder``), ``-role``, ``-content``,
  ``-placeholder``: reordering the rows in the page reorders the ``messages`` list;
* model configuration: see :mod:`.config_form`;
* test cases: ``tests``, the JSON list as typed (absent: the form does not edit them, they stay as saved).

This module only turns text into JSON values; the services and ``check_draft`` decide what is valid. What
cannot even be read (JSON that does not parse) is a *local error*, kept under the id of the row or field it
belongs to (``p-KEY``, ``m-KEY``, ``cfg-temperature``, ``tests``); a draft with local errors is not saved.
Errors the FORGE gives back (``messages[2].content``, ``config.temperature``, ``parameters.tone``,
``tests[1].assert[0].value``) are placed on the same ids by :meth:`Draft.place`.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from anvil_client.templates import PARAMETER_TYPES

from anvil_forge.core import jsonin

from . import config_form

ITEM_TYPES = ("string", "number", "integer", "boolean", "object")
JSON_TYPES = ("list", "object")  # their defaults and sample values are typed as JSON
_INDEX = re.compile(r"^messages\[(\d+)\]")


def new_key() -> str:
    return "n" + secrets.token_hex(4)


def _valid_key(key: str) -> bool:
    return bool(key) and len(key) <= 40 and key.replace("-", "").isalnum()


def parse_json(text: str, where: str) -> tuple[Any, str | None]:
    """(value, None), or (None, what is wrong with ``where``: not JSON, with the line and column; too deep)."""
    try:
        return jsonin.loads(text, where), None
    except jsonin.BadJSON as exc:
        return None, exc.message


def _json_text(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent)


def format_tests(tests: list | None) -> str:
    """Test cases as the tests box shows them (empty when there are none): one line per key of a case, its
    value compact, so a case reads at a glance (``json.dumps(indent=2)`` gives an assertion four lines)."""
    if not tests:
        return ""
    if not all(isinstance(case, dict) and case for case in tests):
        return _json_text(tests, 2)
    cases = [",\n".join(f"    {_json_text(key)}: {_json_text(value)}" for key, value in case.items())
             for case in tests]
    return "[\n" + ",\n".join("  {\n" + case + "\n  }" for case in cases) + "\n]"


class Slots:
    """Error messages by the id of the row or field they belong to (no message twice)."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, slot: str, message: str) -> None:
        found = self.errors.setdefault(slot, [])
        if message not in found:
            found.append(message)


# --- parameter rows ------------------------------------------------------------------------------

def _default_text(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)) or kind in JSON_TYPES or not isinstance(value, str):
        return _json_text(value)
    return value


def _values_text(values: Any) -> str:
    if not values:
        return ""
    if all(isinstance(v, str) and "," not in v and v == v.strip() and v for v in values):
        return ", ".join(values)
    return _json_text(list(values))


def blank_row(name: str = "") -> dict:
    return {"key": new_key(), "name": name, "type": "string", "description": "", "required": True,
            "default": "", "empty": False, "values": "", "items": "string", "schema": ""}


def rows_from_parameters(parameters: list) -> list[dict]:
    rows = []
    for index, parameter in enumerate(parameters or []):
        kind = parameter.get("type") or "string"
        default = parameter.get("default")
        rows.append({
            "key": f"r{index}", "name": parameter.get("name", ""), "type": kind,
            "description": parameter.get("description") or "",
            "required": parameter.get("required", True) is not False,
            "default": _default_text(default, kind), "empty": default == "",
            "values": _values_text(parameter.get("values")), "items": parameter.get("items") or "string",
            "schema": _json_text(parameter["schema"], 2) if parameter.get("schema") is not None else "",
        })
    return rows


def rows_from_post(data) -> list[dict]:
    rows = []
    for key in data.getlist("param_row"):
        if not _valid_key(key):
            continue
        def get(name: str) -> str:
            return data.get(f"p-{key}-{name}", "")
        rows.append({
            "key": key, "name": get("name").strip(),
            "type": get("type") if get("type") in PARAMETER_TYPES else "string",
            "description": get("description"), "required": get("required") == "on",
            "default": get("default"), "empty": get("empty") == "1", "values": get("values"),
            "items": get("items") if get("items") in ITEM_TYPES else "string", "schema": get("schema"),
        })
    return rows


def _enum_values(text: str) -> tuple[list | None, str | None]:
    text = text.strip()
    if not text:
        return None, None
    if text.startswith("["):
        return parse_json(text, "the values")
    return [part.strip() for part in text.split(",") if part.strip()], None


def takes_schema(row: dict) -> bool:
    return row["type"] == "object" or (row["type"] == "list" and row["items"] == "object")


def parameters_from_rows(rows: list[dict], slots: Slots | None = None) -> list[dict]:
    """The declarations the services take. Rows without a name are left out (an empty new row); what cannot
    be read goes to ``slots`` under ``p-KEY``."""
    slots = slots if slots is not None else Slots()
    parameters = []
    for row in rows:
        if not row["name"]:
            continue
        slot, kind = f"p-{row['key']}", row["type"]
        default: Any = row["default"]
        if default == "":
            default = "" if (row["empty"] and kind == "string" and not row["required"]) else None
        elif kind in JSON_TYPES:
            default, problem = parse_json(default, f"the default of '{row['name']}'")
            if problem:
                slots.add(slot, problem)
        parameter: dict[str, Any] = {"name": row["name"], "type": kind, "description": row["description"],
                                     "required": row["required"], "default": default}
        if kind == "enum":
            parameter["values"], problem = _enum_values(row["values"])
            if problem:
                slots.add(slot, problem)
        if kind == "list":
            parameter["items"] = row["items"]
        if takes_schema(row) and row["schema"].strip():
            parameter["schema"], problem = parse_json(row["schema"], f"the schema of '{row['name']}'")
            if problem:
                slots.add(slot, problem)
        parameters.append(parameter)
    return parameters


# --- chat message rows ---------------------------------------------------------------------------

def blank_message_row(kind: str = "message", role: str = "user") -> dict:
    return {"key": new_key(), "type": "placeholder" if kind == "placeholder" else "message",
            "role": role, "content": "", "placeholder": ""}


def message_rows_from_messages(messages: list) -> list[dict]:
    rows = []
    for index, item in enumerate(messages or []):
        item = item if isinstance(item, dict) else {}
        placeholder = "placeholder" in item
        rows.append({"key": f"r{index}", "type": "placeholder" if placeholder else "message",
                     "role": str(item.get("role", "")), "content": str(item.get("content", "")),
                     "placeholder": str(item.get("placeholder", "")) if placeholder else ""})
    return rows


def message_rows_from_post(data) -> list[dict]:
    rows = []
    for key in data.getlist("msg_row"):
        if not _valid_key(key):
            continue
        rows.append({"key": key, "type": "placeholder" if data.get(f"m-{key}-type") == "placeholder" else "message",
                     "role": data.get(f"m-{key}-role", ""), "content": data.get(f"m-{key}-content", ""),
                     "placeholder": data.get(f"m-{key}-placeholder", "").strip()})
    return rows


def messages_from_rows(rows: list[dict]) -> list[dict]:
    """The ``messages`` list, one item per row in the page's order (so an error's index names its row)."""
    return [{"placeholder": row["placeholder"]} if row["type"] == "placeholder"
            else {"role": row["role"], "content": row["content"]} for row in rows]


# --- the draft -----------------------------------------------------------------------------------

@dataclass
class Draft(Slots):
    """Everything the editor form holds, read from a POST or from a saved prompt."""

    kind: str = "text"
    template: str = ""
    rows: list[dict] = field(default_factory=list)
    message_rows: list[dict] = field(default_factory=list)
    config_fields: dict[str, str] = field(default_factory=dict)
    parameters: list[dict] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    tests_text: str | None = None  # None: the form did not send the tests box
    tests: Any = None  # the box read as JSON: None when absent or unreadable (then an error under "tests")

    def __post_init__(self) -> None:
        Slots.__init__(self)
        self.parameters = parameters_from_rows(self.rows, self)
        self.config = config_form.config_from_fields(self.config_fields, self)
        if self.tests_text is not None:
            self.tests, problem = ([], None) if not self.tests_text.strip() else parse_json(self.tests_text,
                                                                                             "the tests")
            if problem:
                self.add("tests", problem)

    @property
    def is_chat(self) -> bool:
        return self.kind == "chat"

    @property
    def messages(self) -> list[dict]:
        return messages_from_rows(self.message_rows)

    @property
    def placeholders(self) -> list[str]:
        return [row["placeholder"] for row in self.message_rows if row["type"] == "placeholder" and row["placeholder"]]

    def content(self) -> dict:
        """What ``render_draft`` takes."""
        draft: dict[str, Any] = {"kind": self.kind, "parameters": self.parameters, "config": self.config}
        if self.is_chat:
            draft["messages"] = self.messages
        else:
            draft["template"] = self.template
        return draft

    def message_slot(self, index: Any) -> str | None:
        try:
            return f"m-{self.message_rows[int(index)]['key']}"
        except (IndexError, TypeError, ValueError):
            return None

    def parameter_slots(self, name: str) -> list[str]:
        return [f"p-{row['key']}" for row in self.rows if row["name"] == name]

    def place(self, field_name: str, message: str) -> bool:
        """Put an error the FORGE named (``messages[2].content``, ``config.temperature``, ``parameters.tone``,
        ``prompts.<slug>.template``) next to its row or field; False when it belongs to a form field."""
        field_name = re.sub(r"^prompts\.[^.]+\.", "", field_name)
        if field_name == "tests" or field_name.startswith(("tests[", "tests.")):
            self.add("tests", message if field_name == "tests" or message.startswith(field_name)
                     else f"{field_name}: {message}")
            return True
        match = _INDEX.match(field_name)
        if match:
            self.add(self.message_slot(match.group(1)) or "messages", message)
            return True
        if field_name == "messages":
            self.add("messages", message)
            return True
        if field_name.startswith("parameters."):
            slots = self.parameter_slots(field_name.split(".", 1)[1])
            for slot in slots:
                self.add(slot, message)
            return bool(slots)
        if field_name == "config" or field_name.startswith("config."):
            self.add(config_form.config_slot(field_name.removeprefix("config").lstrip(".")), message)
            return True
        return False

    def add_check(self, check: dict) -> None:
        """The live check's findings, on the rows and fields they are about."""
        for index, message in check.get("message_errors", {}).items():
            self.add(self.message_slot(index) or "messages", message)
        for name, message in check.get("parameter_errors", {}).items():
            for slot in self.parameter_slots(name):
                self.add(slot, message)
        for error in check.get("config_errors", []):
            self.add(config_form.config_slot(error["key"]), error["message"])


def kind_of(data, prompt=None) -> str:
    """The kind a POST says (a saved prompt keeps its own; anything else goes to the service to refuse)."""
    if prompt is not None:
        return prompt.kind
    kind = data.get("kind") if data is not None else None
    return kind if isinstance(kind, str) and kind else "text"


def from_post(data, prompt=None) -> Draft:
    return Draft(kind=kind_of(data, prompt), template=data.get("template", ""), rows=rows_from_post(data),
                 message_rows=message_rows_from_post(data), config_fields=config_form.fields_from_post(data),
                 tests_text=data.get("tests"))


def from_prompt(prompt=None, kind: str = "text") -> Draft:
    if prompt is None:
        rows = ([blank_message_row(role="system"), blank_message_row(role="user")] if kind == "chat" else [])
        return Draft(kind=kind, message_rows=rows, tests_text="")
    return Draft(kind=prompt.kind, template=prompt.template, rows=rows_from_parameters(prompt.parameters),
                 message_rows=message_rows_from_messages(prompt.messages),
                 config_fields=config_form.fields_from_config(prompt.config), tests_text=format_tests(prompt.tests))


class SetDraft(Slots):
    """A prompt set's settings form: its default model configuration and its dependency rows."""

    def __init__(self, config_fields: dict[str, str], dependency_rows: list[dict]) -> None:
        super().__init__()
        self.config_fields = config_fields
        self.dependency_rows = dependency_rows
        self.config = config_form.config_from_fields(config_fields, self)
        self.dependencies = config_form.dependencies_from_rows(dependency_rows, self)

    @classmethod
    def from_post(cls, data) -> SetDraft:
        return cls(config_form.fields_from_post(data), config_form.dependency_rows_from_post(data))

    @classmethod
    def from_set(cls, prompt_set=None) -> SetDraft:
        if prompt_set is None:
            return cls(config_form.fields_from_config({}), [])
        return cls(config_form.fields_from_config(prompt_set.config),
                   config_form.dependency_rows(prompt_set.dependencies))

    def place(self, field_name: str, message: str) -> bool:
        if field_name == "config" or field_name.startswith("config."):
            self.add(config_form.config_slot(field_name.removeprefix("config").lstrip(".")), message)
            return True
        if field_name == "dependencies" or field_name.startswith("dependencies."):
            slug = field_name.removeprefix("dependencies").lstrip(".")
            rows = [row for row in self.dependency_rows if slug and row["set"] == slug]
            for row in rows:
                self.add(f"d-{row['key']}", message)
            if not rows:
                self.add("dependencies", message)
            return True
        return False
