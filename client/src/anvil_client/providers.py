"""A chat prompt's messages and model configuration as the arguments of a provider's SDK.

Neither SDK is imported here: each function returns a plain dict of keyword
arguments, a deep copy (changing it never changes the messages or the
configuration), for the application to pass on::

    openai.OpenAI().chat.completions.create(**openai_arguments(messages, config))
    anthropic.Anthropic().messages.create(**anthropic_arguments(messages, config))

``messages`` is a list of ``{"role", "content"}`` dicts (an optional ``name`` too),
the roles ``system``, ``developer``, ``user`` and ``assistant``; ``config`` is a
model configuration (:mod:`anvil_client.model_config`; ``None`` values count as
absent, as in :func:`~anvil_client.model_config.merge`). It is checked first: an
invalid one raises :class:`ProviderError` naming the key.

OpenAI (Chat Completions), :func:`openai_arguments`
    The configuration already is in OpenAI's shape: ``model`` (required), the
    ``messages`` as they are, then every configuration key as it is
    (``temperature``, ``top_p``, ``max_tokens``, ``stop``, ``seed``,
    ``response_format``, ``tools`` and any other).

Anthropic (Messages), :func:`anthropic_arguments`
    ``model`` and ``max_tokens`` are required. The ``system`` and ``developer``
    messages become the ``system`` text (joined by a blank line, in order; left out
    when there are none) and ``messages`` keeps the ``user`` and ``assistant`` turns
    (Anthropic has no ``name``: it is left out). ``stop`` becomes ``stop_sequences``
    (a list); each OpenAI function tool becomes ``{"name", "description",
    "input_schema", "strict"}`` (``input_schema`` is the function's ``parameters``,
    ``{"type": "object", "properties": {}}`` when it has none). Keys the Messages API
    cannot express are refused with a :class:`ProviderError`, never dropped:
    ``response_format`` and ``seed``, and ``temperature`` and ``top_p``, which the
    anthropic SDK's ``messages.create`` no longer has (its sampling parameters were
    removed in anthropic 1.0). Any other key is passed as it is.

Keys that are no parameter of the SDK's ``create`` (``top_k`` for OpenAI, say) are
passed as they are too, so the SDK refuses them (``TypeError``) rather than
anything being lost; send raw body fields with the SDKs' own ``extra_body`` key.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from .errors import AnvilClientError
from .model_config import ConfigError, check_config, merge

__all__ = ["ProviderError", "openai_arguments", "anthropic_arguments"]

_ROLES: Final[tuple[str, ...]] = ("system", "developer", "user", "assistant")

_SYSTEM_ROLES: Final = ("system", "developer")
_MESSAGE_KEYS: Final = ("role", "content", "name")
_REMOVE = "leave it out of the model configuration for Anthropic (null removes a prompt set's default)"
_NOT_FOR_ANTHROPIC: Final = {
    "response_format": "response_format cannot be sent to Anthropic: the Messages API has no response_format "
                       f"(its structured outputs are configured with output_config instead); {_REMOVE}",
    "seed": f"seed cannot be sent to Anthropic: the Messages API has no seed; {_REMOVE}",
    "temperature": "temperature cannot be sent to Anthropic: the anthropic SDK's messages.create has no temperature "
                   f"(sampling parameters were removed in anthropic 1.0); {_REMOVE}",
    "top_p": "top_p cannot be sent to Anthropic: the anthropic SDK's messages.create has no top_p "
             f"(sampling parameters were removed in anthropic 1.0); {_REMOVE}",
}


class ProviderError(AnvilClientError, ValueError):
    """Messages and a model configuration cannot be turned into a provider's arguments: the
    configuration is invalid, lacks a key the provider needs, or has one it cannot express, or a
    message is malformed. ``key`` names the key at fault (``max_tokens``, ``messages[2].role``),
    ``message`` says what is wrong."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key

    def __str__(self) -> str:
        return f"{self.message}."

    def __reduce__(self) -> tuple[type[ProviderError], tuple[str, str]]:
        return type(self), (self.key, self.message)


def openai_arguments(messages: Sequence[Mapping[str, Any]], config: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``openai.OpenAI().chat.completions.create``: ``model``, ``messages``
    (each ``{"role", "content"}``, plus ``name`` when given) and every other configuration key as it is.

    Raises :class:`ProviderError` when ``model`` is missing, the configuration is invalid, or a
    message is malformed.
    """
    settings = _settings(config)
    model = _require(settings, "model", "OpenAI")
    arguments: dict[str, Any] = {"model": model, "messages": _messages(messages)}
    arguments.update(settings)
    return arguments


def anthropic_arguments(messages: Sequence[Mapping[str, Any]], config: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``anthropic.Anthropic().messages.create``: ``model``, ``max_tokens``,
    ``system`` (the system and developer messages' contents, joined by ``"\\n\\n"``; left out when
    there are none), ``messages`` (the user and assistant turns, each ``{"role", "content"}``),
    ``stop_sequences`` (from ``stop``), ``tools`` (in Anthropic's form) and every other key as it is.

    Raises :class:`ProviderError` when ``model`` or ``max_tokens`` is missing; for ``response_format``,
    ``seed``, ``temperature`` and ``top_p``, which the Messages API cannot express; for a ``system``
    key (the system text comes from the messages) or ``stop_sequences`` beside ``stop``; when the
    configuration is invalid or a message is malformed (a system or developer message's content must
    be a string).
    """
    settings = _settings(config)
    model = _require(settings, "model", "Anthropic")
    max_tokens = _require(settings, "max_tokens", "Anthropic")
    for key in sorted(settings):
        if key in _NOT_FOR_ANTHROPIC:
            raise ProviderError(key, _NOT_FOR_ANTHROPIC[key])
    if "system" in settings:
        raise ProviderError("system", "system is no model configuration key for Anthropic: the system text comes "
                                      "from the prompt's system and developer messages")
    if "stop" in settings and "stop_sequences" in settings:
        raise ProviderError("stop_sequences", "stop_sequences cannot be given beside stop: stop becomes Anthropic's "
                                              "stop_sequences; give one of them")
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for index, message in enumerate(_messages(messages)):
        if message["role"] not in _SYSTEM_ROLES:
            turns.append({"role": message["role"], "content": message["content"]})
        elif isinstance(message["content"], str):
            system.append(message["content"])
        else:
            key = f"messages[{index}].content"
            raise ProviderError(key, f"{key} must be a string: Anthropic takes {message['role']} messages as "
                                     "its system text")
    arguments: dict[str, Any] = {"model": model, "max_tokens": max_tokens}
    if system:
        arguments["system"] = "\n\n".join(system)
    arguments["messages"] = turns
    for key, value in settings.items():
        if key == "stop":
            arguments["stop_sequences"] = [value] if isinstance(value, str) else value
        elif key == "tools":
            arguments["tools"] = [_anthropic_tool(tool["function"]) for tool in value]
        else:
            arguments[key] = value
    return arguments


def _settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The checked copy of ``config``, ``None`` values left out; ``messages`` is refused (it comes
    from the prompt)."""
    if not isinstance(config, Mapping):
        raise ProviderError("", f"The model configuration must be a JSON object, got a {type(config).__name__}")
    try:
        try:
            text = json.dumps(config, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError):  # not JSON: check_config says what is wrong
            settings = check_config(merge({}, config))
        else:
            settings = copy.deepcopy(_checked(text))
    except ConfigError as error:
        raise ProviderError(error.key, error.message) from None
    if "messages" in settings:
        raise ProviderError("messages", "messages is no model configuration key: the messages come from the prompt")
    return settings


@functools.lru_cache(maxsize=256)
def _checked(text: str) -> dict[str, Any]:
    """check_config of a configuration given as canonical JSON, cached: a prompt's configuration is the same on
    every call (the copy handed out is the caller's)."""
    return check_config(merge({}, json.loads(text)))


def _require(settings: dict[str, Any], key: str, provider: str) -> Any:
    """Take ``key`` out of ``settings``; a :class:`ProviderError` when it is missing."""
    if key not in settings:
        raise ProviderError(key, f"{key} is required for {provider}: set it in the prompt's model configuration "
                                 "or in its prompt set's defaults")
    return settings.pop(key)


def _messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Checked copies of ``messages``: each ``{"role", "content"}`` (plus ``name`` when given)."""
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise ProviderError("messages", f"messages must be a list of messages, got a {type(messages).__name__}")
    copied: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        key = f"messages[{index}]"
        if not isinstance(message, Mapping):
            raise ProviderError(key, f"{key} must be an object with a role and a content, got a "
                                     f"{type(message).__name__}")
        for name in message:
            if name not in _MESSAGE_KEYS:
                raise ProviderError(f"{key}.{name}", f"{key}.{name} is not supported: a message has only a role, "
                                                     "a content and a name")
        role = message.get("role")
        if role not in _ROLES:
            raise ProviderError(f"{key}.role", f"{key}.role must be one of {', '.join(_ROLES[:-1])} or {_ROLES[-1]}, "
                                               f"got {role!r}")
        if "content" not in message:
            raise ProviderError(f"{key}.content", f"{key}.content is required")
        content = message["content"]
        if not isinstance(content, (str, list, tuple)):
            raise ProviderError(f"{key}.content", f"{key}.content must be a string or a list of content parts, "
                                                  f"got a {type(content).__name__}")
        item: dict[str, Any] = {"role": role, "content": content if isinstance(content, str) else _copy(content)}
        if "name" in message:
            if not isinstance(message["name"], str):
                raise ProviderError(f"{key}.name", f"{key}.name must be a string, got a "
                                                   f"{type(message['name']).__name__}")
            item["name"] = message["name"]
        copied.append(item)
    return copied


def _copy(value: Any) -> Any:
    """A deep copy of JSON-like data (tuples become lists)."""
    if isinstance(value, Mapping):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_copy(item) for item in value]
    return copy.deepcopy(value)


def _anthropic_tool(function: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI function (already checked and copied) as an Anthropic tool."""
    tool: dict[str, Any] = {"name": function["name"]}
    if "description" in function:
        tool["description"] = function["description"]
    tool["input_schema"] = function.get("parameters", {"type": "object", "properties": {}})
    if "strict" in function:
        tool["strict"] = function["strict"]
    return tool
