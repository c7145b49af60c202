"""Chat prompts: an ordered list of messages, each a role and a Liquid template,
or a placeholder the application fills with a list of messages (conversation
history) at render time.

A definition is a list of mappings::

    [{"role": "system", "content": "You are {{ persona }}."},
     {"placeholder": "history"},
     {"role": "user", "content": "{{ question }}"}]

:func:`parse_messages` validates one; :class:`PreparedChat` compiles every
message once and renders them all with one set of values, coerced once against
the declared parameters, exactly as a text prompt's values are.  The messages
share one render's limits, as if they were one template (loop iterations and
CPU time counted over all of them, their output together at most
:data:`MAX_OUTPUT_SIZE`); an error names the message by its index
(``messages[2]``), and keeps the line and column within it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Union

from .compiler import CompiledTemplate, PartialReference, compile_template
from .errors import LimitExceeded, ParameterError, TemplateError, _describe
from .limits import MAX_MESSAGES, MAX_OUTPUT_SIZE
from .parameters import Parameter, _check_values, _Coercion, parse_parameters
from .parsing import _IDENTIFIER, _usable_as_variable
from .rendering import PreparedPrompt
from .sandbox import Budget

ROLES: tuple[str, ...] = ("system", "developer", "user", "assistant")
"""The roles a message (or a message in a placeholder's history) may have."""

_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # OpenAI's rule for a message's optional "name"


class MessageDefinitionError(TemplateError):
    """A chat prompt's message list is invalid; ``index`` is the message's (0-based) position
    when the problem is in one message, ``field`` the key concerned (``role``, ``content``,
    ``placeholder``) when known."""

    index: int | None
    field: str | None

    def __init__(self, message: str, index: int | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.index = index
        self.field = field


@dataclass(frozen=True)
class Message:
    """A message of a chat prompt: its ``role`` and its ``content``, a template source."""

    role: str
    content: str

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class Placeholder:
    """Where the application's messages go (``{"placeholder": "history"}``): at render time the
    value named ``name`` must be a list of ``{"role", "content"}`` mappings."""

    name: str

    def to_dict(self) -> dict[str, str]:
        return {"placeholder": self.name}


Item = Union[Message, Placeholder]


def _where(index: int) -> str:
    return f"messages[{index}]"


def parse_messages(items: Iterable[Mapping[str, Any] | Message | Placeholder]) -> list[Item]:
    """Validate a chat prompt's message definitions (see the module docstring).

    Raises :class:`MessageDefinitionError` naming the message: an unknown role, content that is not
    text, an unknown key, a placeholder name that is not an identifier or used twice, more than
    :data:`MAX_MESSAGES` items.  Templates are not compiled here (:class:`PreparedChat` does).
    """
    if isinstance(items, (str, bytes, Mapping)):
        raise MessageDefinitionError("messages must be a list of {role, content} or {placeholder} objects")
    result: list[Item] = []
    placeholders: set[str] = set()
    for index, item in enumerate(items):
        if index >= MAX_MESSAGES:
            raise MessageDefinitionError(f"a chat prompt has at most {MAX_MESSAGES} messages")
        if isinstance(item, (Message, Placeholder)):
            result.append(item)
            continue
        where = _where(index)
        if not isinstance(item, Mapping):
            raise MessageDefinitionError(f"{where} must be an object with 'role' and 'content', or "
                                         f"'placeholder'", index)
        if "placeholder" in item:
            extra = sorted(str(key) for key in item if key != "placeholder")
            if extra:
                raise MessageDefinitionError(f"{where} is a placeholder, so it has no {', '.join(extra)}",
                                             index, extra[0])
            name = item["placeholder"]
            if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name) or not _usable_as_variable(name):
                raise MessageDefinitionError(
                    f"{where}: placeholder name {str(name)[:60]!r} is not allowed: use letters, digits "
                    f"and underscores, not starting with a digit", index, "placeholder")
            if name in placeholders:
                raise MessageDefinitionError(f"{where}: placeholder '{name}' is used twice", index, "placeholder")
            placeholders.add(name)
            result.append(Placeholder(name))
            continue
        unknown = sorted(str(key) for key in item if key not in ("role", "content"))
        if unknown:
            raise MessageDefinitionError(f"{where} has unknown field(s): {', '.join(unknown)}", index, unknown[0])
        role = item.get("role")
        if role not in ROLES:
            raise MessageDefinitionError(
                f"{where}: role {_describe(role)} is not one of {', '.join(ROLES)}", index, "role")
        content = item.get("content", "")
        if not isinstance(content, str):
            raise MessageDefinitionError(f"{where}: content must be text, not {_describe(content)}",
                                         index, "content")
        result.append(Message(str(role), content))
    return result


def _located(err: TemplateError, index: int, role: str | None) -> TemplateError:
    """``err`` (fresh, so it may be changed) naming the message it happened in."""
    label = f"{_where(index)} ({role})" if role else _where(index)
    err.message = f"{label}: {err.message}"
    err.args = (err.message,)
    err.message_index = index
    return err


def check_history(name: str, value: object) -> list[dict[str, str]]:
    """The messages a placeholder was given, checked and copied: a list of mappings with a known
    ``role``, string ``content`` and optionally a ``name``. Raises :class:`ParameterError` naming the
    placeholder and the message's index."""
    if value is None:
        raise ParameterError(name, f"missing messages for placeholder '{name}' (pass a list of "
                                   f"{{role, content}} messages; [] for none)")
    if not isinstance(value, (list, tuple)):
        raise ParameterError(name, f"placeholder '{name}' must be a list of messages, got {_describe(value)}")
    result: list[dict[str, str]] = []
    for index, message in enumerate(value):
        where = f"placeholder '{name}' message {index}"
        if not isinstance(message, Mapping):
            raise ParameterError(name, f"{where} must be an object with 'role' and 'content', got "
                                       f"{_describe(message)}")
        unknown = sorted(str(key) for key in message if key not in ("role", "content", "name"))
        if unknown:
            raise ParameterError(name, f"{where} has unknown field(s): {', '.join(unknown)}")
        role = message.get("role")
        if role not in ROLES:
            raise ParameterError(name, f"{where}: role {_describe(role)} is not one of {', '.join(ROLES)}")
        content = message.get("content")
        if type(content) is not str:
            if not isinstance(content, str):
                raise ParameterError(name, f"{where}: content must be a string, got {_describe(content)}")
            content = str(content)
        copied = {"role": str(role), "content": content}
        if "name" in message:
            speaker = message["name"]
            if not isinstance(speaker, str) or not _NAME.fullmatch(speaker):
                raise ParameterError(name, f"{where}: name must be 1-64 letters, digits, '_' or '-'")
            copied["name"] = str(speaker)
        result.append(copied)
    return result


class PreparedChat:
    """A chat prompt's messages compiled and its parameters parsed, ready to render many times.

    ``render(values)`` returns the conversation: a list of ``{"role", "content"}`` dicts, the
    placeholders replaced by the messages given for them.  Values are checked and converted once
    (see :func:`~anvil_client.templates.coerce_values`) and every message sees the same values.
    ``partials`` are what ``{% render %}`` tags in any message may render (see
    :class:`~anvil_client.templates.PreparedPrompt`).  Immutable and thread-safe.

    Raises :class:`MessageDefinitionError` for bad definitions, or a template error naming the
    message (``messages[1] (user): ... (line 2, column 5)``, with ``message_index`` set) for a
    message whose content does not compile; a placeholder with the name of a declared parameter is a
    :class:`MessageDefinitionError` too.
    """

    __slots__ = ("items", "_plan", "_coercion", "partials")

    def __init__(
        self,
        messages: Iterable[Mapping[str, Any] | Item],
        parameters: Iterable[Parameter | Mapping[str, Any]] = (),
        partials: Mapping[str, PreparedPrompt] | None = None,
    ) -> None:
        self.items = tuple(parse_messages(messages))
        self._coercion = _Coercion(parse_parameters(parameters))
        declared = {p.name for p in self._coercion.parameters}
        plan: list[tuple[str, CompiledTemplate | None, str]] = []
        for index, item in enumerate(self.items):
            if isinstance(item, Placeholder):
                if item.name in declared:
                    raise MessageDefinitionError(
                        f"{_where(index)}: placeholder '{item.name}' has the name of a declared parameter; "
                        f"rename one of them", index, "placeholder")
                plan.append(("", None, item.name))
                continue
            try:
                compiled = compile_template(item.content)
            except TemplateError as err:
                raise _located(err, index, item.role) from None
            plan.append((item.role, compiled, ""))
        self._plan = tuple(plan)
        self.partials = partials

    @property
    def parameters(self) -> tuple[Parameter, ...]:
        return self._coercion.parameters

    @property
    def placeholders(self) -> list[str]:
        """The placeholders' names, in order."""
        return [item.name for item in self.items if isinstance(item, Placeholder)]

    @property
    def variables(self) -> list[str]:
        """The sorted names the messages' templates read (their union)."""
        names: set[str] = set()
        for _, compiled, _ in self._plan:
            if compiled is not None:
                names.update(compiled.variables)
        return sorted(names)

    @property
    def partial_references(self) -> list[tuple[int, PartialReference]]:
        """Every ``{% render %}`` tag, with the index of its message."""
        return [(index, ref) for index, (_, compiled, _) in enumerate(self._plan) if compiled is not None
                for ref in compiled.partials]

    @property
    def templates(self) -> list[tuple[int, CompiledTemplate]]:
        """The compiled content of each message that is not a placeholder, with its index."""
        return [(index, compiled) for index, (_, compiled, _) in enumerate(self._plan) if compiled is not None]

    def render(self, values: Mapping[str, object]) -> list[dict[str, str]]:
        """Validate and convert ``values``, then render every message."""
        return self._render(self._coercion.coerce(_check_values(values)))

    def render_keywords(self, values: dict[str, object]) -> list[dict[str, str]]:
        """:meth:`render` for a ``**kwargs`` dict (its keys are known to be strings)."""
        return self._render(self._coercion.coerce(values))

    def _render(self, data: dict[str, object]) -> list[dict[str, str]]:
        result: list[dict[str, str]] = []
        partials = self.partials
        budget = Budget()  # the messages share one render's loop and CPU-time limits
        total = 0
        for index, (role, compiled, placeholder) in enumerate(self._plan):
            if compiled is None:
                result.extend(check_history(placeholder, data.get(placeholder)))
                continue
            try:
                text = compiled._render(data, partials, budget)
            except TemplateError as err:
                raise _located(err, index, role) from None
            total += len(text)
            if total > MAX_OUTPUT_SIZE:
                raise _located(LimitExceeded("output_size", f"output size limit exceeded: a chat prompt's "
                                                            f"messages may be at most {MAX_OUTPUT_SIZE} "
                                                            f"characters together"), index, role)
            result.append({"role": role, "content": text})
        return result

    def __repr__(self) -> str:
        return f"PreparedChat({len(self.items)} messages)"
