"""Anvil LIVE client: serve published prompts locally; take updates from one FORGE.

    import anvil_client as anvil

    anvil.prompt("welcome.message", name="John", role="admin")   # -> str (a text prompt)
    anvil.messages("support.reply", history=[], question="Hi")   # -> [{"role", "content"}, ...] (chat)
    anvil.get("support.reply").openai(history=[], question="Hi") # -> kwargs for chat.completions.create
    anvil.template("welcome.message")                            # -> raw template
    anvil.status()   # mode, forge, project, sequence, versions, last sync, source, prompt count
    anvil.sync()     # pull now (works in FROZEN mode: that is how FROZEN apps update)
    client = anvil.Client(forge_url=..., project=..., access_token=..., mode="frozen", cache_dir=...)

The module-level functions use a default :class:`Client` configured from the
environment (``ANVIL_*``) or the file ``anvil-client connect`` writes, created
on first use. The template environment (:mod:`anvil_client.templates`) and the
version rules (:mod:`anvil_client.versions`) live here too and are imported by
the FORGE, so server and client always render and resolve identically.
"""

from __future__ import annotations

import threading
from typing import Any

from ._version import __version__ as __version__
from .client import Client, SyncResult
from .errors import (
    AnvilClientError, ConfigurationError, PromptConfigError, PromptInputError, PromptKindError, PromptRenderError,
    SyncError, UnknownPromptError,
)
from .prompt import Prompt

__all__ = [
    "Client", "Prompt", "SyncResult", "AnvilClientError", "ConfigurationError", "PromptConfigError",
    "PromptInputError", "PromptKindError", "PromptRenderError", "SyncError", "UnknownPromptError", "prompt",
    "messages", "get", "template", "status", "sync", "default_client", "configure",
]

_default: Client | None = None
_default_lock = threading.Lock()


def default_client() -> Client:
    """The client the module-level functions use, created from the environment on first use."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Client()
    return _default


def configure(**kwargs: Any) -> Client:
    """Replace the default client with one built from these arguments."""
    global _default
    with _default_lock:
        if _default is not None:
            _default.stop()
        _default = Client(**kwargs)
    return _default


def prompt(prompt_id: str, /, **variables: Any) -> str:
    return default_client().prompt(prompt_id, **variables)


def messages(prompt_id: str, /, **variables: Any) -> list[dict[str, str]]:
    return default_client().messages(prompt_id, **variables)


def get(prompt_id: str, /) -> Prompt:
    return default_client().get(prompt_id)


def template(prompt_id: str) -> str:
    return default_client().template(prompt_id)


def status() -> dict[str, Any]:
    return default_client().status()


def sync() -> SyncResult:
    return default_client().sync()
