"""Converting one input value to a parameter type: the scalar types and
``integer`` (:func:`_coerce`), ``enum``, ``list`` and ``object``; the JSON
Schema checks of object values; and :func:`_plain`, the copy of a value as
JSON-like data only, which is the sandbox's boundary.

:mod:`.parameters` declares parameters and applies these to each one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Union

from .errors import ParameterDefinitionError, ParameterError, _describe
from .limits import _MAX_INTEGER_BITS, _MAX_NUMBER_STRING, _MAX_SCHEMA_MESSAGE, _MAX_VALUE_DEPTH


_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"[+-]?[0-9]+")
Scalar = Union[str, int, float, bool]


def _subject(name: str, item: int | None) -> str:
    """How a message names the value: ``parameter 'n'`` or ``parameter 'n' item 2``."""
    return f"parameter '{name}'" if item is None else f"parameter '{name}' item {item}"


def _coerce(name: str, type_: str, value: object, item: int | None = None) -> Scalar:
    """Coerce one non-None value to a scalar parameter type (raises ParameterError).

    ``type_`` is ``"string"``, ``"number"``, ``"boolean"`` or ``"integer"``;
    ``item`` is the index of the value in a list parameter, for messages.
    """
    if type_ == "number":
        if isinstance(value, bool):
            raise ParameterError(name, f"{_subject(name, item)} must be a number, got {_describe(value)}")
        if isinstance(value, int):
            if value.bit_length() > _MAX_INTEGER_BITS:
                raise ParameterError(name, f"{_subject(name, item)} is too large a number")
            return int(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise ParameterError(name, f"{_subject(name, item)} must be a finite number, got {value}")
            return value
        if isinstance(value, str):
            text = value.strip()
            if len(text) <= _MAX_NUMBER_STRING and _NUMBER.fullmatch(text):
                if _INTEGER.fullmatch(text):
                    return int(text)
                number = float(text)
                if math.isfinite(number):
                    return number
                raise ParameterError(
                    name, f"{_subject(name, item)} must be a finite number, got {_describe(value)}"
                )
            raise ParameterError(
                name, f"{_subject(name, item)} must be a number, got {_describe(value)} which is not a number"
            )
        raise ParameterError(name, f"{_subject(name, item)} must be a number, got {_describe(value)}")
    if type_ == "integer":
        return _coerce_integer(name, value, item)
    if type_ == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise ParameterError(
            name, f"{_subject(name, item)} must be a boolean (true or false), got {_describe(value)}"
        )
    # string
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if value.bit_length() > _MAX_INTEGER_BITS:
            raise ParameterError(name, f"{_subject(name, item)} is too large a number")
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ParameterError(name, f"{_subject(name, item)} must be a string, got {value}")
        return str(value)
    raise ParameterError(name, f"{_subject(name, item)} must be a string, got {_describe(value)}")


def _coerce_integer(name: str, value: object, item: int | None = None) -> int:
    """An ``integer`` value: an int (not bool), a string of ASCII digits with an
    optional sign and surrounding spaces, or a finite float with no fraction."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() > _MAX_INTEGER_BITS:
            raise ParameterError(name, f"{_subject(name, item)} is too large a number")
        return int(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if len(text) <= _MAX_NUMBER_STRING and _INTEGER.fullmatch(text):
            return int(text)
    raise ParameterError(name, f"{_subject(name, item)} must be an integer, got {_describe(value)}")


def _plain(name: str, value: object, depth: int = 0) -> object:
    """Copy ``value`` keeping only JSON-like types (the sandbox boundary)."""
    if value is None or type(value) is str or type(value) is bool:
        return value
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ParameterError(name, f"value of '{name}' contains a non-finite number ({value})")
        return float(value)
    if depth >= _MAX_VALUE_DEPTH:
        raise ParameterError(
            name, f"value of '{name}' is nested more than {_MAX_VALUE_DEPTH} levels deep"
        )
    if isinstance(value, Mapping):
        result: dict[str, object] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ParameterError(
                    name, f"value of '{name}' has a non-string key {key!r}"
                )
            result[str(key)] = _plain(name, item, depth + 1)
        return result
    if isinstance(value, (list, tuple)):
        return [_plain(name, item, depth + 1) for item in value]
    raise ParameterError(
        name,
        f"value of '{name}' has unsupported type {type(value).__name__} "
        f"(use strings, numbers, booleans, null, lists and objects)",
    )


def _plain_as(name: str, value: object, subject: str, depth: int = 0) -> object:
    """:func:`_plain`, with its messages naming the value as ``subject``
    (``parameter 'x' item 2 has a non-string key 3``)."""
    try:
        return _plain(name, value, depth)
    except ParameterError as err:
        prefix = f"value of '{name}'"
        if not err.message.startswith(prefix):
            raise
        raise ParameterError(name, subject + err.message[len(prefix):]) from None


def _coerce_object(name: str, value: object, item: int | None = None) -> dict[str, object]:
    """An ``object`` value (or list item): a mapping with string keys, copied as JSON-like data."""
    subject = _subject(name, item)
    if not isinstance(value, Mapping):
        raise ParameterError(name, f"{subject} must be an object, got {_describe(value)}")
    result = _plain_as(name, value, subject, 0 if item is None else 1)
    assert isinstance(result, dict)
    return result


def _coerce_enum(name: str, allowed: Sequence[str], value: object) -> str:
    """An ``enum`` value: exactly one of the declared ``values``."""
    if isinstance(value, str) and value in allowed:
        return str(value)
    raise ParameterError(
        name,
        f"parameter '{name}' must be one of {', '.join(map(repr, allowed))}, "
        f"got {_describe(value)}",
    )


def _coerce_list(name: str, items: str, validator: Any, value: object) -> list[object]:
    """A ``list`` value: every item coerced to the type ``items``, or for
    ``"object"`` items, copied and checked against the schema ``validator``
    (if any); the result is a new list."""
    if not isinstance(value, (list, tuple)):
        raise ParameterError(name, f"parameter '{name}' must be a list, got {_describe(value)}")
    if items == "object":
        copies: list[object] = [_coerce_object(name, item, index) for index, item in enumerate(value)]
        if validator is not None:
            for index, item in enumerate(copies):
                _check_schema(name, validator, item, index)
        return copies
    return [_coerce(name, items, item, index) for index, item in enumerate(value)]


def _schema_path(path: Iterable[object]) -> str:
    """A location in a value as messages show it: ``address.city``, ``tags[2]``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _schema_message(message: str) -> str:
    if len(message) <= _MAX_SCHEMA_MESSAGE:
        return message
    return message[: _MAX_SCHEMA_MESSAGE - 3] + "..."


def _schema_validator(name: str, schema: dict[str, Any]) -> Any:
    """Check ``schema`` is a valid JSON Schema and return a validator for it.

    ``jsonschema`` is imported here, not at module level, so that importing
    ``anvil_client`` stays fast when no declaration uses a schema.  The
    validator's registry is empty: a ``$ref`` may point inside the schema, never
    to another document (which ``jsonschema`` would otherwise fetch over the
    network).
    """
    import referencing
    from jsonschema.exceptions import SchemaError  # type: ignore[import-untyped,unused-ignore]
    from jsonschema.validators import validator_for  # type: ignore[import-untyped,unused-ignore]

    if "$schema" in schema and validator_for(schema, default=None) is None:
        raise ParameterDefinitionError(
            f"schema of parameter '{name}' has an unknown $schema {schema['$schema']!r}", name
        )
    cls = validator_for(schema)
    try:
        cls.check_schema(schema)
    except SchemaError as err:
        where = _schema_path(err.absolute_path)
        raise ParameterDefinitionError(
            f"schema of parameter '{name}' is not a valid JSON Schema"
            f"{f' at {where!r}' if where else ''}: {_schema_message(err.message)}",
            name,
        ) from None
    return cls(schema, registry=referencing.Registry())


def _check_schema(name: str, validator: Any, value: object, item: int | None = None) -> None:
    """Validate a value (already a JSON-like copy) against its parameter's schema."""
    from jsonschema.exceptions import best_match  # type: ignore[import-untyped,unused-ignore]

    subject = _subject(name, item)
    try:
        error = best_match(validator.iter_errors(value))
    except Exception as err:  # an unresolvable $ref, a schema recursing forever...
        raise ParameterError(
            name, f"{subject} could not be checked against its schema: {_schema_message(str(err))}"
        ) from None
    if error is not None:
        where = _schema_path(error.absolute_path)
        raise ParameterError(
            name,
            f"{subject} does not match its schema{f' at {where!r}' if where else ''}: "
            f"{_schema_message(error.message)}",
        )
