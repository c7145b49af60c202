"""Declared parameters (:class:`Parameter`) and the checking and conversion of
input values against them (:func:`coerce_values`); values are copied as
JSON-like data only, which is the sandbox's boundary.

A declaration is a mapping such as ``{"name": "tone", "type": "enum",
"values": ["formal", "casual"]}``.  The types (:data:`PARAMETER_TYPES`):

* ``string``, ``number``, ``boolean``: scalars (the types of the first
  release; see :attr:`Parameter.is_v1`);
* ``integer``: a whole number (``"3"`` and ``3.0`` become ``3``);
* ``enum``: one of the strings listed in ``values``;
* ``list``: a list whose items all have the scalar type ``items``
  (``"string"``, ``"number"``, ``"integer"``, ``"boolean"``) or are objects
  (``"object"``), e.g. few-shot examples for ``{% for ex in examples %}``;
* ``object``: a mapping with string keys.

``object`` parameters, and ``list`` parameters whose items are objects, may
give a JSON Schema in ``schema``: every value (every item, for a list) is
validated against it before rendering.

Converting one value to each type is :mod:`.coercion`'s; this module declares
parameters and applies it to every declared one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

# Scalar and _plain are re-exported: the package and the other modules import them from here.
from .coercion import Scalar as Scalar
from .coercion import _check_schema, _coerce, _coerce_enum, _coerce_list, _coerce_object, _plain_as, _schema_validator
from .coercion import _plain as _plain
from .errors import ParameterDefinitionError, ParameterError, RenderError, _describe
from .limits import _LIST_ITEM_TYPES, _V1_PARAMETER_TYPES, PARAMETER_TYPES
from .parsing import _IDENTIFIER, _usable_as_variable


@dataclass(frozen=True)
class Parameter:
    """A declared template input.

    * ``name``: an identifier ``[A-Za-z_][A-Za-z0-9_]*`` usable as a Liquid
      variable (not a keyword or literal such as ``for``, ``true``, ``empty``,
      and not ``forloop``/``tablerowloop``);
    * ``type``: one of :data:`PARAMETER_TYPES` (default ``"string"``):
      ``string``, ``number``, ``boolean``, ``integer``, ``enum``, ``list`` or
      ``object`` (see :func:`coerce_values` for what each accepts);
    * ``required``: must be given at render time (default ``True``); a
      required parameter cannot have a default;
    * ``default``: value used when an optional parameter is not given; it is
      coerced to ``type`` with the same rules as input values (so ``"3"`` for
      a number becomes ``3``, and a ``list`` parameter needs a list);
    * ``values`` (``enum`` only, and required there): the allowed values, a
      non-empty list of distinct non-empty strings; kept as a tuple;
    * ``items`` (``list`` only): the type of every item, one of
      ``"string"``, ``"number"``, ``"integer"``, ``"boolean"`` or
      ``"object"``; ``"string"`` when not given;
    * ``schema`` (``object``, and ``list`` with ``items`` ``"object"``): a JSON
      Schema (a mapping, checked when the parameter is declared) every value,
      or every item of a list, must match; it may use ``$ref`` only within
      itself.  Kept as a copy.

    For example::

        Parameter("n", "integer")
        Parameter("tone", "enum", values=("formal", "casual"))
        Parameter("examples", "list", items="object",
                  schema={"type": "object", "required": ["q", "a"]})
        Parameter("customer", "object", required=False, default={"tier": "free"})

    Construction validates and raises :class:`ParameterDefinitionError`.
    Parameters compare equal when their declarations are equal; one with a
    list or object default, or a schema, is not hashable.
    """

    name: str
    type: str = "string"
    description: str = ""
    required: bool = True
    default: Any = None
    values: tuple[str, ...] | None = None
    items: str | None = None
    schema: Mapping[str, Any] | None = None
    # The jsonschema validator for ``schema``, built once (not part of the declaration).
    _validator: Any = field(default=None, init=False, repr=False, compare=False)

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
        self._check_values_field()
        self._check_items_field()
        self._check_schema_field()
        if self.default is not None:
            if self.required:
                raise ParameterDefinitionError(
                    f"parameter '{name}' is required, so it cannot have a default "
                    f"(make it optional to use a default)",
                    name,
                )
            try:
                default = self._convert(name, self.type, self.default)
            except ParameterError as err:
                raise ParameterDefinitionError(
                    f"default of parameter '{name}' does not match its type "
                    f"{self.type}: {err.message}",
                    name,
                ) from None
            object.__setattr__(self, "default", default)

    def _check_values_field(self) -> None:
        name, values = self.name, self.values
        if self.type != "enum":
            if values is not None:
                raise ParameterDefinitionError(
                    f"parameter '{name}' of type {self.type} cannot have 'values' "
                    f"(only enum parameters take them)",
                    name,
                )
            return
        rule = "a non-empty list of distinct non-empty strings"
        if values is None:
            raise ParameterDefinitionError(
                f"parameter '{name}' of type enum needs 'values': {rule}", name
            )
        if not isinstance(values, (list, tuple)) or not values:
            got = "an empty list" if isinstance(values, (list, tuple)) else _describe(values)
            raise ParameterDefinitionError(f"'values' of parameter '{name}' must be {rule}, got {got}", name)
        seen: set[str] = set()
        for value in values:
            if not isinstance(value, str) or not value:
                raise ParameterDefinitionError(
                    f"'values' of parameter '{name}' must be {rule}, "
                    f"but it has {_describe(value)}",
                    name,
                )
            if value in seen:
                raise ParameterDefinitionError(
                    f"'values' of parameter '{name}' must be {rule}, "
                    f"but it has {_describe(value)} more than once",
                    name,
                )
            seen.add(value)
        object.__setattr__(self, "values", tuple(str(value) for value in values))

    def _check_items_field(self) -> None:
        name, items = self.name, self.items
        if self.type != "list":
            if items is not None:
                raise ParameterDefinitionError(
                    f"parameter '{name}' of type {self.type} cannot have 'items' "
                    f"(only list parameters take it)",
                    name,
                )
            return
        if items is None:
            object.__setattr__(self, "items", "string")
        elif items not in _LIST_ITEM_TYPES:
            raise ParameterDefinitionError(
                f"parameter '{name}' has unknown items type {items!r} "
                f"(expected one of: {', '.join(_LIST_ITEM_TYPES)})",
                name,
            )

    def _check_schema_field(self) -> None:
        name, schema = self.name, self.schema
        if schema is None:
            return
        if self.type != "object" and not (self.type == "list" and self.items == "object"):
            raise ParameterDefinitionError(
                f"parameter '{name}' of type {self.type}"
                f"{f' (items {self.items!r})' if self.type == 'list' else ''} cannot have a "
                f"'schema' (only object parameters, and list parameters with items "
                f"'object', take one)",
                name,
            )
        if not isinstance(schema, Mapping):
            raise ParameterDefinitionError(
                f"schema of parameter '{name}' must be a JSON Schema object, got {_describe(schema)}",
                name,
            )
        try:
            copy = _plain_as(name, schema, f"schema of parameter '{name}'")
        except ParameterError as err:
            raise ParameterDefinitionError(err.message, name) from None
        assert isinstance(copy, dict)
        object.__setattr__(self, "schema", copy)
        object.__setattr__(self, "_validator", _schema_validator(name, copy))

    def _convert(self, name: str, type_: str, value: object) -> object:
        """Coerce one non-None value to this parameter's type (raises ParameterError).

        The same signature as :func:`_coerce`, which it calls for the scalar
        types, so :class:`_Coercion` can call either without a branch.
        """
        if type_ in _V1_PARAMETER_TYPES or type_ == "integer":
            return _coerce(name, type_, value)
        if type_ == "enum":
            return _coerce_enum(name, self.values or (), value)
        validator = self._validator
        if type_ == "object":
            result = _coerce_object(name, value)
            if validator is not None:
                _check_schema(name, validator, result)
            return result
        # list
        return _coerce_list(name, self.items or "string", validator, value)

    @property
    def is_v1(self) -> bool:
        """Whether the previous release can read this declaration (its type is
        ``string``, ``number`` or ``boolean``): bundles holding only such
        declarations keep the previous format version."""
        return self.type in _V1_PARAMETER_TYPES

    def __repr__(self) -> str:
        # As the generated repr, leaving out the fields of the newer types when unset
        # (so a string/number/boolean parameter shows as it always has).
        shown = [
            f"name={self.name!r}", f"type={self.type!r}", f"description={self.description!r}",
            f"required={self.required!r}", f"default={self.default!r}",
        ]
        shown += [f"{key}={getattr(self, key)!r}" for key in ("values", "items", "schema")
                  if getattr(self, key) is not None]
        return f"{type(self).__qualname__}({', '.join(shown)})"

    def __getstate__(self) -> dict[str, Any]:
        # A jsonschema validator does not pickle: drop it, and rebuild it on loading.
        state = dict(self.__dict__)
        state.pop("_validator", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            object.__setattr__(self, key, value)
        schema = state.get("schema")
        validator = None if schema is None else _schema_validator(self.name, dict(schema))
        object.__setattr__(self, "_validator", validator)

    _FIELDS: ClassVar[frozenset[str]] = frozenset(
        ["name", "type", "description", "required", "default", "values", "items", "schema"]
    )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Parameter:
        """Build and validate a parameter from a mapping.

        Keys: ``name`` (required), ``type``, ``description``, ``required``,
        ``default``, and for the types that take them ``values`` (enum),
        ``items`` (list) and ``schema`` (object, list of objects); a missing or
        null ``type``/``description``/``required``/``values``/``items``/
        ``schema`` takes the dataclass default.  Unknown keys are refused (they
        are usually typos such as ``requried``).
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
        for key in ("type", "description", "required", "values", "items", "schema"):
            if d.get(key) is not None:
                kwargs[key] = d[key]
        kwargs["default"] = d.get("default")
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """``{"name", "type", "description", "required", "default"}``, plus the
        type's own keys: ``values`` (a list) for ``enum``, ``items`` (and
        ``schema`` if given) for ``list``, ``schema`` (if given) for ``object``.

        The result is fresh JSON-like data; ``from_dict(p.to_dict()) == p``.
        """
        result: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "description": self.description,
            "required": self.required,
            "default": self.default,
        }
        if self.type in _V1_PARAMETER_TYPES:
            return result
        if isinstance(self.default, (list, dict)):
            result["default"] = _plain(self.name, self.default)
        if self.type == "enum":
            result["values"] = list(self.values or ())
        elif self.type == "list":
            result["items"] = self.items
        if self.schema is not None:
            result["schema"] = _plain(self.name, self.schema)
        return result


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
    * ``integer``: ints (not bool) pass (at most about
      :data:`MAX_INTEGER_DIGITS` digits); strings of ASCII digits with an
      optional sign, surrounding spaces ignored (``"3"``, ``" -4 "``,
      ``"+2"``), are parsed; finite floats with no fraction become ``int``
      (``3.0`` -> ``3``); anything else (``2.5``, ``"2.5"``, ``"1e3"``,
      ``true``) is refused: ``parameter 'n' must be an integer, got 2.5``.
    * ``enum``: a string equal to one of the declared ``values`` (exactly:
      case and spaces count); anything else is refused with the allowed
      values: ``parameter 'tone' must be one of 'formal', 'casual', got
      'rude'``.
    * ``list``: a list or tuple (never a string, which is not split); every
      item is converted by the rules of the declared ``items`` type (so
      ``["1", "2"]`` with items ``integer`` gives ``[1, 2]``) or, for items
      ``object``, must be an object as below; the result is a new list.
      Errors give the 0-based index: ``parameter 'examples' item 2 must be an
      object, got 'x'``.
    * ``object``: a mapping with string keys, copied as JSON-like data (as
      for undeclared values below); anything else is refused.
    * With a ``schema``, an ``object`` value, or every item of a ``list`` of
      objects, must match it; the error gives where in the value and
      jsonschema's message: ``parameter 'customer' does not match its schema
      at 'tier': 'gold' is not one of ['free', 'pro']``.
    * Values for names that are not declared parameters are passed through
      (they must still be JSON-like: dict with string keys, list, str, int,
      float, bool, None); a template can use them, and any variable that is
      truly undefined still fails at render time.
    """
    return _Coercion(parse_parameters(parameters)).coerce(_check_values(values))


_DEFAULT, _REQUIRED, _COPY_DEFAULT = 0, 1, 2  # what _Coercion does for a parameter not given


class _Coercion:
    """:func:`coerce_values` for one list of parameters, parsed once."""

    __slots__ = ("parameters", "_plan", "_names", "_converters")

    def __init__(self, parameters: Sequence[Parameter]) -> None:
        self.parameters = tuple(parameters)
        # Per parameter: name, type, what to do when it is not given (_DEFAULT:
        # use the default; _REQUIRED: fail; _COPY_DEFAULT: use a copy of the
        # list/object default), the default, and the converter: _coerce for the
        # scalar types of the first release, the parameter's own otherwise.
        plan: list[tuple[str, str, int, object]] = []
        converters: dict[str, Callable[[str, str, object], object]] = {}
        for p in self.parameters:
            if p.required:
                missing = _REQUIRED
            else:
                missing = _COPY_DEFAULT if isinstance(p.default, (list, dict)) else _DEFAULT
            if not (p.is_v1 or p.type == "integer"):
                converters[p.name] = p._convert
            plan.append((p.name, p.type, missing, p.default))
        self._plan = tuple(plan)
        self._names = frozenset(p.name for p in self.parameters)
        # (kept apart from the plan, which prompt() walks for every render: most parameters use _coerce)
        self._converters = converters

    def coerce(self, values: Mapping[str, object]) -> dict[str, object]:
        """Coerce values already checked by ``_check_values``."""
        names = self._names
        result: dict[str, object] = {
            key: _plain(key, value) for key, value in values.items() if key not in names
        }
        for name, type_, missing, default in self._plan:
            value = values.get(name)
            if value is None:
                if not missing:
                    result[name] = default
                elif missing == _REQUIRED:
                    raise ParameterError(name, f"missing required parameter '{name}'")
                else:
                    result[name] = _plain(name, default)
            elif type_ == "string" and type(value) is str:
                result[name] = value
            else:
                result[name] = self._converters.get(name, _coerce)(name, type_, value)
        return result
