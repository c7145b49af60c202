"""Declared parameters (:class:`Parameter`) and the checking and conversion of
input values against them (:func:`coerce_values`); values are copied as
JSON-like data only, which is the sandbox's boundary."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Union

from .errors import ParameterDefinitionError, ParameterError, RenderError, _describe
from .limits import _MAX_INTEGER_BITS, _MAX_NUMBER_STRING, _MAX_VALUE_DEPTH, PARAMETER_TYPES
from .parsing import _IDENTIFIER, _usable_as_variable


_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"[+-]?[0-9]+")
Scalar = Union[str, int, float, bool]


def _coerce(name: str, type_: str, value: object) -> Scalar:
    """Coerce one non-None value to a parameter type (raises ParameterError)."""
    if type_ == "number":
        if isinstance(value, bool):
            raise ParameterError(name, f"parameter '{name}' must be a number, got {_describe(value)}")
        if isinstance(value, int):
            if value.bit_length() > _MAX_INTEGER_BITS:
                raise ParameterError(name, f"parameter '{name}' is too large a number")
            return int(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise ParameterError(name, f"parameter '{name}' must be a finite number, got {value}")
            return value
        if isinstance(value, str):
            text = value.strip()
            if len(text) <= _MAX_NUMBER_STRING and _NUMBER.fullmatch(text):
                if _INTEGER.fullmatch(text):
                    return int(text)
                number = float(text)
                if math.isfinite(number):
                    return number
                raise ParameterError(name, f"parameter '{name}' must be a finite number, got {_describe(value)}")
            raise ParameterError(name, f"parameter '{name}' must be a number, got {_describe(value)} which is not a number")
        raise ParameterError(name, f"parameter '{name}' must be a number, got {_describe(value)}")
    if type_ == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise ParameterError(
            name, f"parameter '{name}' must be a boolean (true or false), got {_describe(value)}"
        )
    # string
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if value.bit_length() > _MAX_INTEGER_BITS:
            raise ParameterError(name, f"parameter '{name}' is too large a number")
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ParameterError(name, f"parameter '{name}' must be a string, got {value}")
        return str(value)
    raise ParameterError(name, f"parameter '{name}' must be a string, got {_describe(value)}")


@dataclass(frozen=True)
class Parameter:
    """A declared template input.

    * ``name``: an identifier ``[A-Za-z_][A-Za-z0-9_]*`` usable as a Liquid
      variable (not a keyword or literal such as ``for``, ``true``, ``empty``,
      and not ``forloop``/``tablerowloop``);
    * ``type``: one of :data:`PARAMETER_TYPES` (default ``"string"``);
    * ``required``: must be given at render time (default ``True``); a
      required parameter cannot have a default;
    * ``default``: value used when an optional parameter is not given; it is
      coerced to ``type`` with the same rules as input values (so ``"3"`` for
      a number becomes ``3``).

    Construction validates and raises :class:`ParameterDefinitionError`.
    """

    name: str
    type: str = "string"
    description: str = ""
    required: bool = True
    default: Scalar | None = None

    def __post_init__(self) -> None:
        name = self.name
        if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
            raise ParameterDefinitionError(
                f"invalid parameter name {name!r}: use letters, digits and "
                f"underscores, not starting with a digit",
                name if isinstance(name, str) else None,
            )
        if not _usable_as_variable(name):
            raise ParameterDefinitionError(
                f"invalid parameter name '{name}': it is a reserved word in templates",
                name,
            )
        if self.type not in PARAMETER_TYPES:
            raise ParameterDefinitionError(
                f"parameter '{name}' has unknown type {self.type!r} "
                f"(expected one of: {', '.join(PARAMETER_TYPES)})",
                name,
            )
        if not isinstance(self.description, str):
            raise ParameterDefinitionError(
                f"description of parameter '{name}' must be a string", name
            )
        if not isinstance(self.required, bool):
            raise ParameterDefinitionError(
                f"'required' of parameter '{name}' must be true or false", name
            )
        if self.default is not None:
            if self.required:
                raise ParameterDefinitionError(
                    f"parameter '{name}' is required, so it cannot have a default "
                    f"(make it optional to use a default)",
                    name,
                )
            try:
                default = _coerce(name, self.type, self.default)
            except ParameterError as err:
                raise ParameterDefinitionError(
                    f"default of parameter '{name}' does not match its type "
                    f"{self.type}: {err.message}",
                    name,
                ) from None
            object.__setattr__(self, "default", default)

    _FIELDS: ClassVar[frozenset[str]] = frozenset(
        ["name", "type", "description", "required", "default"]
    )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Parameter:
        """Build and validate a parameter from a mapping.

        Keys: ``name`` (required), ``type``, ``description``, ``required``,
        ``default``; a missing or null ``type``/``description``/``required``
        takes the dataclass default.  Unknown keys are refused (they are
        usually typos such as ``requried``).
        """
        if not isinstance(d, Mapping):
            raise ParameterDefinitionError(
                f"a parameter must be an object, not {type(d).__name__}"
            )
        name = d.get("name")
        if name is None:
            raise ParameterDefinitionError("a parameter needs a 'name'")
        unknown = sorted(str(key) for key in d if key not in cls._FIELDS)
        if unknown:
            raise ParameterDefinitionError(
                f"parameter {name!r} has unknown field(s): {', '.join(unknown)}",
                name if isinstance(name, str) else None,
            )
        kwargs: dict[str, Any] = {"name": name}
        for key in ("type", "description", "required"):
            if d.get(key) is not None:
                kwargs[key] = d[key]
        kwargs["default"] = d.get("default")
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """``{"name", "type", "description", "required", "default"}``."""
        return {
            "name": self.name,
            "type": self.type,
            "description": self.description,
            "required": self.required,
            "default": self.default,
        }


def parse_parameters(items: Iterable[Mapping[str, Any] | Parameter]) -> list[Parameter]:
    """Validate a list of parameter declarations (mappings or :class:`Parameter`).

    Raises :class:`ParameterDefinitionError` for an invalid declaration or a
    duplicate name.  Order is preserved.
    """
    if isinstance(items, (str, bytes, Mapping)):
        raise ParameterDefinitionError("parameters must be a list of declarations")
    result: list[Parameter] = []
    seen: set[str] = set()
    for item in items:
        parameter = item if isinstance(item, Parameter) else Parameter.from_dict(item)
        if parameter.name in seen:
            raise ParameterDefinitionError(
                f"parameter '{parameter.name}' is declared more than once",
                parameter.name,
            )
        seen.add(parameter.name)
        result.append(parameter)
    return result


# --- input values ------------------------------------------------------------

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


def _check_values(values: object) -> Mapping[str, object]:
    if not isinstance(values, Mapping):
        raise RenderError(
            f"values must be a mapping of names to values, not {type(values).__name__}"
        )
    for key in values:
        if not isinstance(key, str):
            raise ParameterError(str(key), f"parameter names must be strings, got {key!r}")
    return values


def coerce_values(
    parameters: Sequence[Parameter | Mapping[str, Any]],
    values: Mapping[str, object],
) -> dict[str, object]:
    """Validate and convert input values against declared parameters.

    Rules (errors are :class:`ParameterError` naming the parameter):

    * ``None`` counts as "not given".
    * A required parameter not given: ``missing required parameter 'name'``.
    * An optional parameter not given gets its default; with no default it is
      set to ``None`` (Liquid ``nil``): it prints as an empty string, is false
      in ``{% if %}`` and works with the ``default`` filter.  (An empty string
      would be *true* in Liquid conditions.)
    * ``number``: int and float (not bool) pass (floats must be finite,
      integers at most about :data:`MAX_INTEGER_DIGITS` digits); strings
      such as ``"3"``, ``" -1 "``, ``"+4"``, ``"2.5"``, ``".5"``, ``"-1e3"``
      (ASCII digits, optional sign, fraction and exponent) are parsed,
      integers stay ``int`` (``"3"`` -> ``3``), anything with a fraction or
      exponent becomes ``float``; anything else is refused.
    * ``boolean``: ``True``/``False`` and the strings ``"true"``/``"false"``
      (any case, surrounding spaces ignored) only; ``1``, ``"yes"`` ... are
      refused.
    * ``string``: strings pass unchanged; ints and floats are converted with
      ``str()`` (``3`` -> ``"3"``, ``2.5`` -> ``"2.5"``), booleans to
      ``"true"``/``"false"``; lists and objects are refused.
    * Values for names that are not declared parameters are passed through
      (they must still be JSON-like: dict with string keys, list, str, int,
      float, bool, None); a template can use them, and any variable that is
      truly undefined still fails at render time.
    """
    return _Coercion(parse_parameters(parameters)).coerce(_check_values(values))


class _Coercion:
    """:func:`coerce_values` for one list of parameters, parsed once."""

    __slots__ = ("parameters", "_plan", "_names")

    def __init__(self, parameters: Sequence[Parameter]) -> None:
        self.parameters = tuple(parameters)
        self._plan = tuple((p.name, p.type, p.required, p.default) for p in self.parameters)
        self._names = frozenset(p.name for p in self.parameters)

    def coerce(self, values: Mapping[str, object]) -> dict[str, object]:
        """Coerce values already checked by ``_check_values``."""
        names = self._names
        result: dict[str, object] = {
            key: _plain(key, value) for key, value in values.items() if key not in names
        }
        for name, type_, required, default in self._plan:
            value = values.get(name)
            if value is None:
                if required:
                    raise ParameterError(name, f"missing required parameter '{name}'")
                result[name] = default
            elif type_ == "string" and type(value) is str:
                result[name] = value
            else:
                result[name] = _coerce(name, type_, value)
        return result
