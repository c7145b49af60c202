"""A chat prompt's model configuration: which model to call, and with which options.

A model configuration is a JSON object in the shape of OpenAI's Chat Completions
parameters, described by the JSON Schema ``model_config.schema.json`` next to this
module (:data:`SCHEMA`)::

    {"model": "gpt-4o", "temperature": 0.2, "max_tokens": 512, "stop": ["\\n\\n"],
     "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": {...}}},
     "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {...}}}]}

The keys in :data:`KNOWN_KEYS` are checked; any other key (``frequency_penalty``,
``top_k``, ...) is allowed and kept as it is. :func:`check_config` returns a checked
copy or raises a :class:`ConfigError` naming the key at fault;
:func:`check_config_all` lists every problem; :func:`merge` lays a prompt's
configuration over its prompt set's defaults. :mod:`anvil_client.providers` turns a
configuration and a prompt's messages into the arguments of the OpenAI and
Anthropic SDKs.
"""

from __future__ import annotations

import copy
import functools
import importlib.resources
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final, Union


from .errors import AnvilClientError

__all__ = ["SCHEMA", "KNOWN_KEYS", "ConfigError", "check_config", "check_config_all", "merge"]

#: The JSON Schema (draft 2020-12) of a model configuration, as a dict.
SCHEMA: Final[dict[str, Any]] = json.loads(
    importlib.resources.files("anvil_client").joinpath("model_config.schema.json").read_text(encoding="utf-8"))

#: The keys whose values :func:`check_config` checks; every other key is kept as it is.
KNOWN_KEYS: Final[tuple[str, ...]] = tuple(SCHEMA["properties"])



@functools.cache
def _validator() -> Any:
    # jsonschema is imported on the first check, not with anvil_client: an application that only serves
    # prompts never pays for it (~80 ms).
    from jsonschema import validators  # type: ignore[import-untyped, unused-ignore]

    return validators.Draft202012Validator(SCHEMA)


_INTEGER_KEYS: Final = tuple(key for key in KNOWN_KEYS if SCHEMA["properties"][key].get("type") == "integer")
_PLAIN_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_JSON_KINDS: Final = "an object, a list, a string, a number, true, false or null"

_Part = Union[str, int]
_Path = tuple[_Part, ...]


class ConfigError(AnvilClientError, ValueError):
    """A model configuration is invalid.

    ``key`` is the dotted path of the value at fault (``temperature``,
    ``tools[1].function.parameters``, ``response_format.json_schema.schema``; ``""``
    for the configuration as a whole); ``message`` says what is wrong, naming the key
    (``temperature must be a number between 0 and 2, got 3``).
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key

    def __str__(self) -> str:
        return f"{self.message}."

    def __reduce__(self) -> tuple[type[ConfigError], tuple[str, str]]:
        return type(self), (self.key, self.message)


def check_config(config: object) -> dict[str, Any]:
    """Check a model configuration and return a deep copy of it made of plain JSON data.

    ``config`` must be a JSON object (a mapping with string keys) holding only JSON
    data: dicts, lists (tuples become lists), strings, finite numbers, booleans and
    None. The keys in :data:`KNOWN_KEYS` must match :data:`SCHEMA` (a whole number
    given as a float for ``max_tokens`` or ``seed`` becomes an int);
    ``response_format.json_schema.schema`` and every tool's ``function.parameters``
    must be valid JSON Schemas; function names must be unique. Any other key is kept
    as it is.

    Raises the first :class:`ConfigError` in key-path order (the one
    :func:`check_config_all` lists first).

    ``None`` is no valid value of a known key: a prompt's own configuration may hold
    ``None`` to remove a default (see :func:`merge`), so check the merged result, or
    the prompt's configuration alone as ``check_config(merge({}, config))``.
    """
    errors, checked = _check(config)
    if errors:
        raise errors[0]
    assert checked is not None
    return checked


def check_config_all(config: object) -> list[ConfigError]:
    """Every problem of a model configuration (``[]`` when it is valid), in key-path order: what
    :func:`check_config` raises is the first of them. For forms that show all errors at once."""
    return _check(config)[0]


def merge(defaults: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """A prompt set's default model configuration merged beneath a prompt's own.

    The merge is shallow: each top-level key of ``config`` replaces the default's
    value whole (a prompt's ``tools`` or ``response_format`` is never combined with the
    defaults'). A key whose value is ``None`` in ``config`` removes the default's key,
    so a prompt can unset a default (``{"temperature": None}``: the provider's own
    default applies); ``None`` values in ``defaults`` are left out too, so the result
    never holds ``None``. Keys keep the defaults' order, then the prompt's new keys
    follow. The result is a deep copy: changing it never changes the arguments. It is
    not checked: pass it to :func:`check_config`.
    """
    merged = {key: value for key, value in defaults.items() if value is not None}
    for key, value in config.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return copy.deepcopy(merged)


# -- checking -------------------------------------------------------------------------------------------------

def _check(config: object) -> tuple[list[ConfigError], dict[str, Any] | None]:
    """The sorted problems of ``config``, and its checked copy (None when there are problems)."""
    if not isinstance(config, Mapping):
        error = ConfigError("", f"The model configuration must be a JSON object, got {_kind(config)}")
        return [error], None
    try:
        found: dict[tuple[_Path, str], ConfigError] = {}
        bad_values: list[_Path] = []
        copied = _json_copy(config, (), found, bad_values)
        assert isinstance(copied, dict)
        for path, error in _schema_errors(copied):
            # A value that is no JSON data was replaced by None in the copy: its schema errors repeat the problem.
            if not any(path[:len(bad)] == bad for bad in bad_values):
                found.setdefault((path, error.message), error)
    except RecursionError:
        return [ConfigError("", "The model configuration is nested too deeply")], None
    if found:
        return [found[place] for place in sorted(found, key=lambda place: (_sort_key(place[0]), place[1]))], None
    for key in _INTEGER_KEYS:
        if isinstance(copied.get(key), float):
            copied[key] = int(copied[key])
    return [], copied


def _json_copy(value: object, path: _Path, found: dict[tuple[_Path, str], ConfigError],
               bad_values: list[_Path]) -> Any:
    """A copy of ``value`` made of plain JSON data; what is no JSON data is recorded in ``found`` and copied as None."""

    def refuse(message: str) -> None:
        found.setdefault((path, message), ConfigError(_key(path), message))
        bad_values.append(path)

    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            refuse(f"{_key(path)} must be a finite number, got {value}")
            return None
        return float(value)
    if isinstance(value, Mapping):
        copied: dict[str, Any] = {}
        for name, item in value.items():
            if not isinstance(name, str):
                # (Left out of the copy; not a bad value: the rest of the object is still checked.)
                where = _key(path) or "The model configuration"
                message = f"{where} has a key that is not a string: {name!r} (JSON object keys are strings)"
                found.setdefault((path, message), ConfigError(_key(path), message))
                continue
            copied[name] = _json_copy(item, (*path, name), found, bad_values)
        return copied
    if isinstance(value, (list, tuple)):
        return [_json_copy(item, (*path, index), found, bad_values) for index, item in enumerate(value)]
    refuse(f"{_key(path)} must be JSON data ({_JSON_KINDS}), got {_kind(value)}")
    return None


def _schema_errors(config: dict[str, Any]) -> Iterator[tuple[_Path, ConfigError]]:
    """The problems :data:`SCHEMA` finds, then those of the nested JSON Schemas and of the function names."""
    for error in _validator().iter_errors(config):
        yield from _explain(error)
    response_format = config.get("response_format")
    if (isinstance(response_format, dict) and response_format.get("type") == "json_schema"
            and isinstance(response_format.get("json_schema"), dict)):
        yield from _nested_schema_errors(response_format["json_schema"].get("schema"),
                                         ("response_format", "json_schema", "schema"))
    tools = config.get("tools")
    if isinstance(tools, list):
        named: dict[str, int] = {}
        for index, tool in enumerate(tools):
            function = tool.get("function") if isinstance(tool, dict) else None
            if not isinstance(function, dict):
                continue
            if "parameters" in function:
                yield from _nested_schema_errors(function["parameters"], ("tools", index, "function", "parameters"))
            name = function.get("name")
            if isinstance(name, str) and name in named:
                path: _Path = ("tools", index, "function", "name")
                yield path, ConfigError(_key(path), f"{_key(path)} {json.dumps(name)} is already the name of "
                                                    f"tools[{named[name]}]; function names must be unique")
            elif isinstance(name, str):
                named[name] = index


def _nested_schema_errors(schema: object, path: _Path) -> Iterator[tuple[_Path, ConfigError]]:
    """The problem of a JSON Schema given inside the configuration, if any (one that is not even an object is
    already reported by :data:`SCHEMA`)."""
    if isinstance(schema, dict):
        problem = _schema_problem(json.dumps(schema, sort_keys=True))
        if problem is not None:
            yield path, ConfigError(_key(path), f"{_key(path)} is not a valid JSON Schema: {problem}")


@functools.lru_cache(maxsize=256)
def _schema_problem(text: str) -> str | None:
    """What is wrong with the JSON Schema ``text`` (canonical JSON), or None. Cached: the same tools and response
    formats are checked again on every call of a prompt."""
    schema = json.loads(text)
    dialect = schema.get("$schema")
    from jsonschema import validators  # type: ignore[import-untyped, unused-ignore]
    from jsonschema.exceptions import SchemaError  # type: ignore[import-untyped, unused-ignore]

    if "$schema" in schema and not (isinstance(dialect, str) and validators.validator_for(schema, default=None)):
        return (f"its $schema {_shown(dialect)} is no JSON Schema dialect known here "
                "(e.g. https://json-schema.org/draft/2020-12/schema)")
    try:
        validators.validator_for(schema).check_schema(schema)
    except SchemaError as error:
        where = _key(tuple(error.path))
        return str(error.message) if not where else f"at {where}, {error.message}"
    return None


def _explain(error: Any) -> Iterator[tuple[_Path, ConfigError]]:
    """Plain-words :class:`ConfigError` s for one :class:`jsonschema.ValidationError`, from the ``x-expected``,
    ``x-message`` and ``x-because`` annotations of :data:`SCHEMA`."""
    path: _Path = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "required":
        for name in error.validator_value:
            if name not in error.instance:
                missing = (*path, name)
                because = f" {schema['x-because']}" if "x-because" in schema else ""
                yield missing, ConfigError(_key(missing), f"{_key(missing)} is required{because}")
        return
    if error.validator == "additionalProperties":
        known = list(schema.get("properties", {}))
        for name in error.instance:
            if name not in known:
                extra = (*path, name)
                yield extra, ConfigError(_key(extra), f"{_key(extra)} is not a known key: {_key(path)} may hold "
                                                      f"only {_words(known)}")
        return
    key = _key(path)
    if "x-message" in schema:
        message = schema["x-message"].format(key=key)
    elif "x-expected" in schema:
        message = f"{key} must be {schema['x-expected']}, got {_shown(error.instance)}"
    else:
        message = f"{key} is invalid: {error.message}"
    yield path, ConfigError(key, message)


# -- wording ---------------------------------------------------------------------------------------------------

def _key(path: Sequence[_Part]) -> str:
    """A path as a dotted key: ``tools[1].function.parameters``; a key that is no plain name is quoted
    (``parameters.properties["first name"]``)."""
    key = ""
    for part in path:
        if isinstance(part, int):
            key += f"[{part}]"
        elif _PLAIN_NAME.fullmatch(part):
            key += f".{part}" if key else part
        else:
            key += f"[{json.dumps(part, ensure_ascii=False)}]"
    return key


def _sort_key(path: _Path) -> tuple[tuple[int, str, int], ...]:
    return tuple((1, "", part) if isinstance(part, int) else (0, part, 0) for part in path)


def _shown(value: object, limit: int = 60) -> str:
    """A JSON value as it would be written in the configuration, shortened."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return _kind(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    for kinds, name in ((str, "a string"), ((int, float), "a number"), (Mapping, "an object"), ((list, tuple), "a list")):
        if isinstance(value, kinds):
            return name
    return f"a Python {type(value).__name__}"


def _words(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
