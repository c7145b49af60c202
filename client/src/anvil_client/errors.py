"""The client's typed errors. Every error the client raises is an :class:`AnvilClientError`."""

from __future__ import annotations


class AnvilClientError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigurationError(AnvilClientError):
    """The client is missing a setting it needs (FORGE URL, project, token, key) or one is malformed."""


class UnknownPromptError(AnvilClientError, LookupError):
    """No prompt with this id is held (and no fallback was given for it)."""

    def __init__(self, prompt_id: str, known: int = 0) -> None:
        hint = f" ({known} prompts are held)" if known else " (no prompts are held yet: sync, or give fallbacks)"
        super().__init__(f"unknown prompt {prompt_id!r}{hint}")
        self.prompt_id = prompt_id


class PromptInputError(AnvilClientError, ValueError):
    """The variables given to a prompt are wrong; ``parameter`` names the one at fault."""

    def __init__(self, prompt_id: str, parameter: str | None, message: str) -> None:
        super().__init__(f"prompt {prompt_id!r}: {message}")
        self.prompt_id = prompt_id
        self.parameter = parameter


class PromptKindError(AnvilClientError, TypeError):
    """A call that does not fit the prompt's kind, e.g. ``prompt()`` (text) for a chat prompt; the
    message names the call to use."""

    def __init__(self, prompt_id: str, kind: str, called: str, instead: str) -> None:
        super().__init__(f"prompt {prompt_id!r} is a {kind} prompt: {called} cannot render it, use {instead}")
        self.prompt_id = prompt_id
        self.kind = kind


class PromptConfigError(AnvilClientError, ValueError):
    """A prompt's model configuration cannot be turned into the arguments asked for (a provider's form
    needs a key the configuration lacks, or has a key that form cannot express); ``key`` names it."""

    def __init__(self, prompt_id: str, key: str, message: str) -> None:
        super().__init__(f"prompt {prompt_id!r}: {message}")
        self.prompt_id = prompt_id
        self.key = key


class PromptRenderError(AnvilClientError):
    """The template failed while rendering (a limit was exceeded, a filter refused its input, …)."""

    def __init__(self, prompt_id: str, message: str) -> None:
        super().__init__(f"prompt {prompt_id!r}: {message}")
        self.prompt_id = prompt_id


class SyncError(AnvilClientError):
    """A sync or an update did not fully succeed: the FORGE could not be reached, the bundle was refused, or
    the cache could not be written.

    ``reason`` is a short word: "network", "http", "auth", "malformed", "unknown_format",
    "checksum", "signature", "key" (signed by a key no valid endorsement chain leads to from the pinned
    key), "project", "channel" (a bundle of another channel than the configured one, a push of another than the
    held one, or the FORGE's 409: the token is bound to another channel), "stale", "pinned", "frozen", "cache".

    "cache" means the cache directory could not be written (read-only, full, …): the message names the
    file and the OS error. Nothing verified is lost: a bundle that was being applied *is* applied and
    served from memory (``applied`` is True), and the write is tried again on every later sync and
    update until it succeeds; ``Client.status()["cache_error"]`` says what failed until then.
    """

    def __init__(self, reason: str, message: str, *, applied: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        self.applied = applied
