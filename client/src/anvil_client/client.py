"""The LIVE client: serves published prompts from memory, backed by a verified disk cache.

``prompt()`` never touches the network and never fails because the FORGE is
down. Updates (pull, push, stream) go through one path, :meth:`Client.apply`,
which verifies a bundle before anything changes and swaps the whole prompt
table at once.

:class:`Client` is a façade over three private parts, each depending only on
the ones before it:

* ``_table.Store``: the verified prompt table, pins, fallbacks, mode and disk
  cache; serving and applying bundles (no network);
* ``_remote.Remote``: the FORGE over HTTP: public key, sync, registration,
  opening the event stream;
* ``_background.Background``: the poll-and-heartbeat thread and the
  event-stream thread.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, overload

from ._background import Background
from ._remote import Remote
from ._table import Store, _Table
from ._version import __version__
from .cache import DiskCache
from .config import DEFAULT_DIR, MODES, Settings, resolve
from .errors import ConfigurationError, PromptKindError, SyncError
from .prompt import Prompt

# Defined in the parts now; still importable from here, where they used to be defined.
from ._remote import _is_loopback as _is_loopback
from ._table import ACCEPTING as ACCEPTING, FROZEN as FROZEN, Held as Held, SyncResult as SyncResult
from ._table import MAX_PROMPT_ID as MAX_PROMPT_ID, MAX_USE_COUNTS as MAX_USE_COUNTS
from ._table import _Entry as _Entry, _now as _now

if TYPE_CHECKING:
    import httpx

    from .receiver import Receiver

log = logging.getLogger("anvil_client")


T = TypeVar("T")


class _Setting(Generic[T]):
    """A ``Client`` setting that one of its parts keeps (``part``: the attribute holding it)."""

    def __init__(self, part: str) -> None:
        self.part = part
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, client: None, owner: type | None = None) -> _Setting[T]: ...
    @overload
    def __get__(self, client: object, owner: type | None = None) -> T: ...
    def __get__(self, client: object | None, owner: type | None = None) -> T | _Setting[T]:
        if client is None:
            return self
        return cast(T, getattr(getattr(client, self.part), self.name))

    def __set__(self, client: object, value: T) -> None:
        setattr(getattr(client, self.part), self.name, value)


class Client:
    """A LIVE client for one project of one FORGE.

    Every argument may also come from the environment (``ANVIL_FORGE_URL``,
    ``ANVIL_PROJECT``, ``ANVIL_ACCESS_TOKEN``, ``ANVIL_MODE``,
    ``ANVIL_CACHE_DIR``, ``ANVIL_FORGE_PUBLIC_KEY``, ``ANVIL_CHANNEL``,
    ``ANVIL_LABELS``, ``ANVIL_INSTANCE_ID``) or the file
    ``anvil-client connect`` writes.

    :param fallbacks: by prompt id, what to serve while nothing verified is
        held for that id: a template (a text prompt), a list of messages (a chat
        prompt), or a whole prompt ``{"kind", "template" | "messages",
        "parameters", "config"}``.
    :param pins: prompt-set slug → version specifier (``{"emails": "^1.2"}``);
        a bundle that would move a pinned set outside its specifier is not
        applied for that set.
    :param poll_interval: seconds between background pulls in ACCEPTING mode
        (jittered ±10 %, backing off exponentially on failures); ``0`` turns
        background pulling off.
    :param stream: in ACCEPTING mode, also hold the FORGE's event stream open
        and pull as soon as a publish is announced (reconnecting with backoff;
        polling continues as the fallback).
    :param receiver_url: where this instance's push receiver is mounted, sent
        to the FORGE when registering (``ANVIL_RECEIVER_URL``).
    :param heartbeat_interval: seconds between registrations (heartbeats) with
        the FORGE while background work runs.
    :param channel: the channel to follow (``production``, ``staging``, …):
        sent with every pull, and a bundle of another channel is refused. None:
        whichever channel the access token is bound to.
    :param labels: ``{"region": "eu"}``, sent when registering: a staged
        rollout can select instances by them.
    :param instance_id: this instance's id (default: a fresh one per
        ``Client``); a stable one keeps its rollout cohort across restarts.
    :param transport: the httpx transport every request to the FORGE goes
        through (default: httpx's own, over the network); tests pass an
        ``httpx.MockTransport``.
    """

    def __init__(self, forge_url: str | None = None, project: str | None = None, access_token: str | None = None,
                 mode: str | None = None, cache_dir: str | os.PathLike[str] | None = None,
                 fallbacks: Mapping[str, Any] | None = None, pins: Mapping[str, str] | None = None, *,
                 public_key: str | None = None, poll_interval: float = 30.0, timeout: float = 10.0,
                 background: bool = True, stream: bool = True, receiver_url: str | None = None,
                 heartbeat_interval: float = 60.0, transport: httpx.BaseTransport | None = None,
                 channel: str | None = None, labels: Mapping[str, str] | None = None,
                 instance_id: str | None = None) -> None:
        settings: Settings = resolve(forge_url=forge_url, project=project, access_token=access_token, mode=mode,
                                     cache_dir=str(cache_dir) if cache_dir is not None else None,
                                     public_key=public_key, channel=channel, labels=labels, instance_id=instance_id)
        cache = DiskCache(settings.cache_dir or os.path.join(DEFAULT_DIR, "cache"))
        self._store = Store(cache, public_key=settings.public_key, pins=pins, fallbacks=fallbacks,
                            channel=settings.channel)
        self._remote = Remote(self._store, forge_url=settings.forge_url, project=settings.project,
                              access_token=settings.access_token, timeout=timeout,
                              instance_id=settings.instance_id or str(uuid.uuid4()),
                              receiver_url=receiver_url or os.environ.get("ANVIL_RECEIVER_URL") or None,
                              transport=transport, labels=settings.labels)
        self._store.fetch_endorsements = self._remote.fetch_endorsements  # to follow a key rotation
        self._background = Background(self._store, self._remote, poll_interval=poll_interval,
                                      heartbeat_interval=heartbeat_interval, stream=stream)
        self._receiver: Receiver | None = None
        removed = cache.remove_stale_temporaries()
        if removed:
            log.info("anvil: removed %d stale temporary file(s) of interrupted cache writes", len(removed))
        self._store.load_from_disk(settings.project)
        if settings.mode is not None:
            self._store.mode = settings.mode  # an explicit mode wins over the persisted one
        if background and self.forge_url:
            self.start()

    # --- settings (held by the part that uses them) ---------------------------------------

    # Settings kept by the part that uses them, read and written through the façade.
    forge_url: _Setting[str | None] = _Setting("_remote")
    project: _Setting[str | None] = _Setting("_remote")
    timeout: _Setting[float] = _Setting("_remote")
    instance_id: _Setting[str] = _Setting("_remote")
    receiver_url: _Setting[str | None] = _Setting("_remote")
    receiver_secret: _Setting[str] = _Setting("_remote")
    labels: _Setting[dict[str, str]] = _Setting("_remote")
    channel: _Setting[str | None] = _Setting("_store")
    poll_interval: _Setting[float] = _Setting("_background")
    heartbeat_interval: _Setting[float] = _Setting("_background")
    stream: _Setting[bool] = _Setting("_background")

    # --- serving (no I/O) ---------------------------------------------------------

    def prompt(self, prompt_id: str, /, **variables: Any) -> str:
        """Render a text prompt. Raises UnknownPromptError, PromptInputError or PromptRenderError, and
        PromptKindError (naming ``messages()``) for a chat prompt."""
        return self._store.prompt(prompt_id, variables)

    def messages(self, prompt_id: str, /, **variables: Any) -> list[dict[str, str]]:
        """Render a chat prompt: its messages, ``[{"role", "content"}, ...]``, placeholders filled with
        the lists of messages given for them. PromptKindError (naming ``prompt()``) for a text prompt."""
        entry = self._store.entry(prompt_id)
        if entry.kind != "chat":
            raise PromptKindError(prompt_id, entry.kind, "messages()", "prompt()")
        rendered = self._store.render(entry, variables)
        assert isinstance(rendered, list)
        return rendered

    def get(self, prompt_id: str, /) -> Prompt:
        """The prompt as held now, as an immutable :class:`~anvil_client.prompt.Prompt`: ``id``,
        ``kind``, ``version``, ``parameters``, ``config``, ``render()``, ``openai()``, ``anthropic()``."""
        return Prompt(self._store, self._store.entry(prompt_id))

    def template(self, prompt_id: str) -> str:
        """The raw template source of a text prompt."""
        return self._store.template(prompt_id)

    def prompt_ids(self) -> list[str]:
        return self._store.prompt_ids()

    def parameters(self, prompt_id: str) -> list[dict[str, Any]]:
        return self._store.parameters(prompt_id)

    def held(self) -> Held:
        """What this client serves now, read at one instant: sequence, each set's version, checksum."""
        return self._store.held()

    def status(self) -> dict[str, Any]:
        store, remote = self._store, self._remote
        table = store.table
        on_fallbacks = sorted(set(store.fallbacks) - set(table.entries))
        return {
            "mode": store.mode,
            "forge": remote.forge_url,
            "project": remote.project,
            "sequence": table.sequence,
            "versions": dict(table.versions),
            # The held set versions' test summaries, {slug: {total, passed, failed}} (format 3 bundles).
            "tests": {slug: dict(counts) for slug, counts in table.tests.items()},
            "last_sync": store.last_sync,
            "last_registered": remote.last_registered,
            "last_error": store.last_error,
            "cache_error": store.cache.write_error,
            "source": table.source if table.entries else ("fallbacks" if store.fallbacks else "none"),
            "prompt_count": len(table.entries),
            "on_fallbacks": on_fallbacks,
            "pins": {slug: spec for slug, (spec, _) in store.pins.items()},
            # The channel followed: the held bundle's (format 4), else what the FORGE said, else the setting.
            "channel": (table.bundles[0].channel if table.bundles else None) or remote.forge_channel
            or store.channel,
            "cohort": remote.cohort,  # "all" | "rollout" | "previous", as the FORGE last said (None: never)
            "release": remote.release,  # the sequence the FORGE says this instance should hold
            "labels": dict(remote.labels),
            "instance_id": remote.instance_id,
            "client_version": __version__,
        }

    @property
    def mode(self) -> str:
        return self._store.mode

    @property
    def sequence(self) -> int | None:
        return self._store.table.sequence

    # --- mode -----------------------------------------------------------------------

    def set_mode(self, mode: str) -> None:
        """ACCEPTING takes pushes, stream events and periodic pulls; FROZEN changes only on sync()."""
        mode = mode.lower()
        if mode not in MODES:
            raise ConfigurationError(f"mode {mode!r} is not one of {', '.join(MODES)}")
        error = self._store.set_mode(mode)
        self._background.mode_changed()  # (re)starts the stream in ACCEPTING, ends it in FROZEN; registers
        if error:
            raise SyncError("cache", f"{error} (the client is {mode.upper()} now; the write is retried on the "
                                     f"next sync)", applied=True)

    # --- applying bundles -------------------------------------------------------------

    def public_key(self) -> str | None:
        return self._store.public_key()

    def apply(self, data: Mapping[str, Any], *, source: str = "forge", force: bool = False) -> SyncResult:
        """Verify a bundle and, if it is newer, make it what ``prompt()`` serves.

        ``force`` is for an explicit sync: it applies in FROZEN mode too. Pushes
        and stream-triggered pulls call this without it. ``source``: "forge" (a
        pull) or "push"; only a pull may switch to another channel. Raises
        SyncError when the bundle is refused; the client keeps what it had.
        """
        return self._store.apply(data, project_id=self.project, source=source, force=force)

    def retry_cache(self) -> str | None:
        """Write what an earlier cache write could not (nothing, if all is on disk): None, or what still
        fails (also in ``status()["cache_error"]``)."""
        return self._store.retry_cache()

    # --- pulling ------------------------------------------------------------------------

    def fetch_public_key(self) -> str:
        """Ask the FORGE for its public key (used by ``connect`` to pin it on first use)."""
        return self._remote.fetch_public_key()

    def sync(self, *, force: bool = True) -> SyncResult:
        """Pull the project's current bundle now and apply it if newer. Works in FROZEN mode."""
        return self._remote.sync(force=force)

    # --- background -------------------------------------------------------------------

    def start(self) -> None:
        """Start background work: heartbeats always; pulls and the event stream in ACCEPTING mode. Idempotent."""
        self._background.start()

    def stop(self) -> None:
        """Stop background work (the prompts stay served)."""
        self._background.stop()
        self._remote.close()

    close = stop

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- registration (the LIVE-instance heartbeat) -----------------------------------------

    def describe(self) -> dict[str, Any]:
        return self._remote.describe()

    def register(self) -> bool:
        """Tell the FORGE this instance exists and what it holds (called on every heartbeat)."""
        return self._remote.register()

    def receiver(self) -> Receiver:
        """The push receiver for this client (mount ``asgi_app(client.receiver())`` at /anvil/receive)."""
        from .receiver import Receiver

        if self._receiver is None:
            self._receiver = Receiver(self, self.receiver_secret)
        return self._receiver

    # --- internals that tests (and the browser tests) look at ---------------------------------

    @property
    def _table(self) -> _Table:
        return self._store.table

    @property
    def _cache(self) -> DiskCache:
        return self._store.cache

    @property
    def _streaming(self) -> bool:
        return self._background.streaming
