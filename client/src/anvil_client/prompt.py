"""The :class:`Prompt` object ``Client.get()`` returns: one served prompt, as it was at that instant."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from . import providers
from .errors import PromptConfigError

if TYPE_CHECKING:
    from ._table import Store, _Entry


class Prompt:
    """A prompt held by a client, fixed at the moment ``Client.get()`` returned it (a later update
    does not change it: call ``get()`` again for the newest).

    * ``id`` (``set.prompt``), ``kind`` (``"text"`` or ``"chat"``), ``version`` (its set's version
      label; None for a fallback), ``parameters`` (the declarations), ``config`` (the model
      configuration, the set's defaults merged beneath the prompt's own) — ``parameters`` and ``config``
      are fresh copies on every read, so nothing can change the prompt;
    * ``render(**vars)``: a str for a text prompt, a list of ``{"role", "content"}`` for a chat prompt;
    * ``messages(**vars)``: always a list of messages (a text prompt is one ``user`` message);
    * ``openai(**vars)`` / ``anthropic(**vars)``: the keyword arguments of
      ``openai.OpenAI().chat.completions.create`` / ``anthropic.Anthropic().messages.create``
      (see :mod:`anvil_client.providers`); neither SDK is imported.
    """

    __slots__ = ("_id", "_kind", "_version", "_config", "_entry", "_store")

    def __init__(self, store: Store, entry: _Entry) -> None:
        self._store = store
        self._entry = entry
        self._id = entry.prompt_id
        self._kind = entry.kind
        self._version = entry.version
        self._config = entry.config

    @property
    def id(self) -> str:
        return self._id

    @property
    def kind(self) -> str:
        return self._kind

    @property
    def version(self) -> str | None:
        return self._version

    @property
    def parameters(self) -> list[dict[str, Any]]:
        return [p.to_dict() for p in self._entry.parameters]

    @property
    def config(self) -> dict[str, Any]:
        return copy.deepcopy(self._config)

    def render(self, **variables: Any) -> str | list[dict[str, str]]:
        """Render: a str (text prompt) or a list of messages (chat prompt). Raises PromptInputError
        or PromptRenderError, as ``Client.prompt()`` does."""
        return self._store.render(self._entry, variables)

    def messages(self, **variables: Any) -> list[dict[str, str]]:
        """The rendered conversation; a text prompt gives one ``user`` message."""
        rendered = self._store.render(self._entry, variables)
        if isinstance(rendered, str):
            return [{"role": "user", "content": rendered}]
        return rendered

    def openai(self, **variables: Any) -> dict[str, Any]:
        """``client.chat.completions.create(**prompt.openai(...))``: model, messages and the rest of
        the configuration. Raises PromptConfigError when the configuration has no ``model``."""
        messages = self.messages(**variables)
        try:
            return providers.openai_arguments(messages, self._config)
        except providers.ProviderError as exc:
            raise PromptConfigError(self._id, exc.key, exc.message) from None

    def anthropic(self, **variables: Any) -> dict[str, Any]:
        """``client.messages.create(**prompt.anthropic(...))``: system and developer messages moved to
        ``system``; ``max_tokens`` is required. Raises PromptConfigError naming a missing key, or a
        key the anthropic SDK's ``messages.create`` does not take (``temperature``, ``top_p``,
        ``seed``, ``response_format``: see :mod:`anvil_client.providers`), never dropping one silently."""
        messages = self.messages(**variables)
        try:
            return providers.anthropic_arguments(messages, self._config)
        except providers.ProviderError as exc:
            raise PromptConfigError(self._id, exc.key, exc.message) from None

    def __repr__(self) -> str:
        return f"Prompt({self._id!r}, kind={self._kind!r}, version={self._version!r})"
