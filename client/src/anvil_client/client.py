"""The LIVE client: serves published prompts from memory, backed by a verified disk cache.

``prompt()`` never touches the network and never fails because the FORGE is
down. Updates (pull, push, stream) go through one path, :meth:`Client.apply`,
which verifies a bundle before anything changes and swaps the whole prompt
table at once.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import random
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from heapq import nlargest
from typing import Any
from urllib.parse import urlparse

from . import __version__
from . import bundle as bundles
from . import templates as tpl
from . import versions
from .cache import DiskCache, loads
from .config import DEFAULT_DIR, MODES, Settings, resolve
from .errors import (
    ConfigurationError, PromptInputError, PromptRenderError, SyncError, UnknownPromptError,
)

log = logging.getLogger("anvil_client")

ACCEPTING, FROZEN = MODES
MAX_USE_COUNTS = 100  # the FORGE takes at most this many use counts per registration …
MAX_PROMPT_ID = 200  # … each for a prompt id of at most this many characters


class _Entry:
    """One servable prompt, compiled and its parameters parsed on first use (so a
    cold start with many prompts does no work for the prompts it does not serve)."""

    __slots__ = ("prompt_id", "template", "_parameters", "metadata", "version", "_prepared")

    def __init__(self, prompt_id: str, template: str, parameters: list[Any], metadata: dict[str, Any],
                 version: str | None) -> None:
        self.prompt_id = prompt_id
        self.template = template
        self._parameters = parameters  # the declarations as the bundle holds them
        self.metadata = metadata
        self.version = version
        self._prepared: tpl.PreparedPrompt | None = None

    def __repr__(self) -> str:
        return f"_Entry({self.prompt_id!r}, version={self.version!r})"

    @property
    def prepared(self) -> tpl.PreparedPrompt:
        prepared = self._prepared
        if prepared is None:  # two threads may both prepare once: harmless, same result
            prepared = self._prepared = tpl.PreparedPrompt(self.template, self._parameters)
        return prepared

    @property
    def compiled(self) -> tpl.CompiledTemplate:
        return self.prepared.template

    @property
    def parameters(self) -> list[tpl.Parameter]:
        prepared = self._prepared
        return list(prepared.parameters) if prepared is not None else tpl.parse_parameters(self._parameters)


@dataclass(frozen=True)
class _Table:
    """Everything ``prompt()`` reads, replaced as one object on every update."""

    entries: dict[str, _Entry]
    bundles: tuple[bundles.Bundle, ...] = ()  # newest first; older ones only supply pinned sets
    versions: dict[str, str] = field(default_factory=dict)
    source: str = "none"  # "forge" | "disk" | "none"

    @property
    def sequence(self) -> int | None:
        return self.bundles[0].sequence if self.bundles else None


@dataclass(frozen=True)
class SyncResult:
    applied: bool
    sequence: int | None
    detail: str


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _is_loopback(url: str) -> bool:
    """Whether ``url`` names this machine: ``localhost`` or a loopback IP address (not a name such as
    ``127.example.com``, which could be anywhere)."""
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Client:
    """A LIVE client for one project of one FORGE.

    Every argument may also come from the environment (``ANVIL_FORGE_URL``,
    ``ANVIL_PROJECT``, ``ANVIL_ACCESS_TOKEN``, ``ANVIL_MODE``,
    ``ANVIL_CACHE_DIR``, ``ANVIL_FORGE_PUBLIC_KEY``) or the file
    ``anvil-client connect`` writes.

    :param fallbacks: default templates by prompt id, used only while nothing
        verified is held for that id.
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
    """

    def __init__(self, forge_url: str | None = None, project: str | None = None, access_token: str | None = None,
                 mode: str | None = None, cache_dir: str | os.PathLike[str] | None = None,
                 fallbacks: Mapping[str, str] | None = None, pins: Mapping[str, str] | None = None, *,
                 public_key: str | None = None, poll_interval: float = 30.0, timeout: float = 10.0,
                 background: bool = True, stream: bool = True, receiver_url: str | None = None,
                 heartbeat_interval: float = 60.0) -> None:
        settings: Settings = resolve(forge_url=forge_url, project=project, access_token=access_token, mode=mode,
                                     cache_dir=str(cache_dir) if cache_dir is not None else None,
                                     public_key=public_key)
        self.forge_url = settings.forge_url
        self.project = settings.project
        self._token = settings.access_token
        self._cache = DiskCache(settings.cache_dir or os.path.join(DEFAULT_DIR, "cache"))
        self._explicit_key = settings.public_key
        self._pins = {slug: (spec, versions.parse_specifier(spec)) for slug, spec in (pins or {}).items()}
        self._fallbacks = {pid: _Entry(pid, text, [], {}, None) for pid, text in (fallbacks or {}).items()}
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.instance_id = str(uuid.uuid4())
        self.stream = stream
        self.receiver_url = receiver_url or os.environ.get("ANVIL_RECEIVER_URL") or None
        self.receiver_secret = secrets.token_urlsafe(32)
        self.heartbeat_interval = heartbeat_interval
        self._uses: dict[str, int] = {}
        self._stream_thread: threading.Thread | None = None
        self._streaming = False
        self._http_client = None
        self._http_settings: tuple | None = None
        self._http_lock = threading.Lock()
        self._lock = threading.RLock()
        self._table = _Table({})
        self._etag: str | None = None
        self._last_sync: str | None = None
        self._last_registered: str | None = None
        self._last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mode = ACCEPTING
        removed = self._cache.remove_stale_temporaries()
        if removed:
            log.info("anvil: removed %d stale temporary file(s) of interrupted cache writes", len(removed))
        self._load_from_disk()
        if settings.mode is not None:
            self._mode = settings.mode  # an explicit mode wins over the persisted one
        if background and self.forge_url:
            self.start()

    # --- serving (no I/O) ---------------------------------------------------------

    def prompt(self, prompt_id: str, /, **variables: Any) -> str:
        """Render a prompt. Raises UnknownPromptError, PromptInputError or PromptRenderError."""
        entry = self._table.entries.get(prompt_id) or self._fallbacks.get(prompt_id)
        if entry is None:
            raise UnknownPromptError(prompt_id, len(self._table.entries))
        uses = self._uses  # approximate under concurrency: counts are reported, never relied on
        uses[prompt_id] = uses.get(prompt_id, 0) + 1
        try:
            return (entry._prepared or entry.prepared).render_keywords(variables)
        except tpl.ParameterError as exc:
            raise PromptInputError(prompt_id, exc.parameter, str(exc)) from None
        except tpl.UndefinedVariableError as exc:
            raise PromptInputError(prompt_id, exc.name, str(exc)) from None
        except tpl.TemplateError as exc:
            raise PromptRenderError(prompt_id, str(exc)) from None

    def template(self, prompt_id: str) -> str:
        """The raw template source of a prompt."""
        entry = self._table.entries.get(prompt_id) or self._fallbacks.get(prompt_id)
        if entry is None:
            raise UnknownPromptError(prompt_id, len(self._table.entries))
        return entry.template

    def prompt_ids(self) -> list[str]:
        return sorted(set(self._table.entries) | set(self._fallbacks))

    def parameters(self, prompt_id: str) -> list[dict[str, Any]]:
        entry = self._table.entries.get(prompt_id)
        if entry is None:
            raise UnknownPromptError(prompt_id, len(self._table.entries))
        return [p.to_dict() for p in entry.parameters]

    def status(self) -> dict[str, Any]:
        table = self._table
        on_fallbacks = sorted(set(self._fallbacks) - set(table.entries))
        return {
            "mode": self._mode,
            "forge": self.forge_url,
            "project": self.project,
            "sequence": table.sequence,
            "versions": dict(table.versions),
            "last_sync": self._last_sync,
            "last_registered": self._last_registered,
            "last_error": self._last_error,
            "cache_error": self._cache.write_error,
            "source": table.source if table.entries else ("fallbacks" if self._fallbacks else "none"),
            "prompt_count": len(table.entries),
            "on_fallbacks": on_fallbacks,
            "pins": {slug: spec for slug, (spec, _) in self._pins.items()},
            "instance_id": self.instance_id,
            "client_version": __version__,
        }

    @property
    def mode(self) -> str:
        return self._mode

    @property
    def sequence(self) -> int | None:
        return self._table.sequence

    # --- mode -----------------------------------------------------------------------

    def set_mode(self, mode: str) -> None:
        """ACCEPTING takes pushes, stream events and periodic pulls; FROZEN changes only on sync()."""
        mode = mode.lower()
        if mode not in MODES:
            raise ConfigurationError(f"mode {mode!r} is not one of {', '.join(MODES)}")
        with self._lock:
            self._mode = mode
            error = self._persist(self._table)
        running = self._thread is not None and self._thread.is_alive()
        if running:
            self.start()  # (re)starts the stream in ACCEPTING; the stream thread ends itself in FROZEN
            threading.Thread(target=self.register, daemon=True).start()  # tell the FORGE now
        if error:
            raise SyncError("cache", f"{error} (the client is {mode.upper()} now; the write is retried on the "
                                     f"next sync)", applied=True)

    # --- applying bundles -------------------------------------------------------------

    def public_key(self) -> str | None:
        return self._explicit_key or self._cache.read_key()

    def apply(self, data: Mapping[str, Any], *, source: str = "forge", force: bool = False) -> SyncResult:
        """Verify a bundle and, if it is newer, make it what ``prompt()`` serves.

        ``force`` is for an explicit sync: it applies in FROZEN mode too. Pushes
        and stream-triggered pulls call this without it. Raises SyncError when
        the bundle is refused; the client keeps what it had.
        """
        if self._mode == FROZEN and not force:
            raise SyncError("frozen", "the client is FROZEN: only an explicit sync changes its prompts")
        key = self.public_key()
        if key is None:
            raise SyncError("signature", "no FORGE public key is pinned: set public_key / ANVIL_FORGE_PUBLIC_KEY "
                                         "or run `anvil-client connect`")
        with self._lock:
            current = self._table
            try:
                verified = bundles.verify(data, key, project_id=self.project, after_sequence=current.sequence)
            except bundles.BundleError as exc:
                self._last_error = exc.message
                log.warning("anvil: refused a bundle: %s", exc.message)
                raise SyncError(exc.reason, exc.message) from None
            table = self._build_table((verified, *current.bundles), source)
            self._table = table  # verified: served even if the cache cannot be written
            self._last_sync, self._last_error = _now(), None
            log.info("anvil: applied bundle sequence %s (%d prompts)", verified.sequence, len(table.entries))
            error = self._persist(table)
            if error:
                self._last_error = (f"{error} (sequence {verified.sequence} is applied and served from memory; "
                                    f"the write is retried on the next sync)")
                raise SyncError("cache", self._last_error, applied=True)
            return SyncResult(True, verified.sequence, f"applied sequence {verified.sequence}")

    def _build_table(self, candidates: tuple[bundles.Bundle, ...], source: str) -> _Table:
        """Newest bundle first; a pinned set comes from the newest bundle whose version satisfies the pin."""
        newest = candidates[0]
        chosen: dict[str, bundles.Bundle] = {}
        for slug in {s for b in candidates for s in b.versions}:
            pin = self._pins.get(slug)
            for candidate in candidates:
                label = candidate.versions.get(slug)
                if label is None:
                    if candidate is newest:
                        break  # no longer published: drop it
                    continue
                if pin is None or pin[1].matches(label):
                    chosen[slug] = candidate
                    break
                if candidate is newest:
                    log.warning("anvil: %s@%s is outside the pin %r; keeping the held version", slug, label, pin[0])
        entries: dict[str, _Entry] = {}
        grouped: dict[int, dict[str, list[tuple[str, dict[str, Any]]]]] = {}
        for slug, source_bundle in chosen.items():
            by_set = grouped.get(id(source_bundle))
            if by_set is None:  # group each bundle's prompts by set once, not once per set
                by_set = grouped[id(source_bundle)] = {}
                for pid, data in source_bundle.prompts.items():
                    by_set.setdefault(pid.split(".", 1)[0], []).append((pid, data))
            label = source_bundle.versions[slug]
            for pid, data in by_set.get(slug, ()):
                entries[pid] = _Entry(pid, data["template"], data.get("parameters", []),
                                      data.get("metadata", {}), label)
        kept = tuple(b for b in candidates if b is newest or b in chosen.values())
        return _Table(entries, kept, {slug: b.versions[slug] for slug, b in chosen.items()}, source)

    def _persist(self, table: _Table) -> str | None:
        """Write the mode and the table's bundles to the cache (under ``_lock``). Returns None, or what
        failed: the cache then holds the state for :meth:`_retry_cache`, and the client serves on."""
        error = self._cache.save_state(self._mode, [b.data for b in table.bundles])
        if error:
            log.error("anvil: %s; serving from memory, retrying on the next sync", error)
        return error

    def _retry_cache(self) -> str | None:
        """Write what an earlier cache write could not (nothing, if all is on disk): None, or the failure."""
        if not self._cache.unsaved:
            return None
        with self._lock:
            return self._cache.flush()

    def _up_to_date(self) -> SyncResult:
        """A sync found nothing new: retry an earlier failed cache write, and say if it still fails."""
        self._last_sync, self._last_error = _now(), None
        error = self._retry_cache()
        if error:
            self._last_error = error
            raise SyncError("cache", error)
        return SyncResult(False, self.sequence, "up to date")

    def _load_from_disk(self) -> None:
        try:
            state = self._cache.read_state()
        except (ValueError, OSError) as exc:
            self._last_error = f"disk cache refused: {exc}"
            log.error("anvil: %s", self._last_error)
            return
        if state is None:
            return
        if state.get("mode") in MODES:
            self._mode = state["mode"]
        key = self.public_key()
        if key is None:
            self._last_error = "disk cache not used: no FORGE public key is pinned"
            return
        loaded: list[bundles.Bundle] = []
        try:
            for data in state.get("bundles", []):
                loaded.append(bundles.verify(data, key, project_id=self.project))
        except bundles.BundleError as exc:
            self._last_error = f"disk cache refused: {exc.message}"
            log.error("anvil: %s", self._last_error)
            return
        if loaded:
            loaded.sort(key=lambda b: b.sequence, reverse=True)
            self._table = self._build_table(tuple(loaded), "disk")

    # --- pulling ------------------------------------------------------------------------

    @contextmanager
    def _http(self):
        """The client's one HTTP connection pool (made on first use, shared by every thread: creating
        an httpx.Client costs tens of milliseconds, more than a whole pull on loopback)."""
        import httpx

        if not (self.forge_url and self.project and self._token):
            raise ConfigurationError("forge_url, project and access_token are needed to sync")
        if not self.forge_url.startswith("https://") and not _is_loopback(self.forge_url):
            raise ConfigurationError("the FORGE URL must use https:// (plain http:// is allowed on loopback only)")
        settings = (self.forge_url, self._token, self.timeout)
        with self._http_lock:
            http = self._http_client
            if http is None or http.is_closed or self._http_settings != settings:
                http = self._http_client = httpx.Client(
                    base_url=self.forge_url, timeout=self.timeout,
                    headers={"Authorization": f"Bearer {self._token}", "User-Agent": f"anvil-client/{__version__}",
                             "X-Anvil-Instance": self.instance_id})  # the FORGE's rate limit counts per instance
                self._http_settings = settings
        yield http

    def fetch_public_key(self) -> str:
        """Ask the FORGE for its public key (used by ``connect`` to pin it on first use)."""
        import httpx

        with self._http() as http:
            try:
                response = http.get("/api/v1/forge/public_key")
                response.raise_for_status()
                return loads(response.content)["public_key"]
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                raise SyncError("network", f"could not fetch the FORGE's public key: {exc}") from None

    def sync(self, *, force: bool = True) -> SyncResult:
        """Pull the project's current bundle now and apply it if newer. Works in FROZEN mode."""
        import httpx

        if self.public_key() is None:
            key = self.fetch_public_key()  # trust on first use, then pinned in the cache directory
            with self._lock:
                self._cache.save_key(key)  # if that fails, held in memory and written with the next state
        headers = {"If-None-Match": self._etag} if self._etag else {}
        with self._http() as http:
            try:
                response = http.get(f"/api/v1/projects/{self.project}/current_bundle", headers=headers)
            except httpx.HTTPError as exc:
                self._last_error = f"FORGE unreachable: {exc}"
                raise SyncError("network", self._last_error) from None
        if response.status_code == 304:
            return self._up_to_date()
        if response.status_code in (401, 403):
            self._last_error = f"the FORGE refused the access token ({response.status_code})"
            raise SyncError("auth", self._last_error)
        if response.status_code != 200:
            self._last_error = f"the FORGE answered {response.status_code}"
            raise SyncError("http", self._last_error)
        try:
            data = bundles.parse(response.content)
        except bundles.BundleError as exc:
            self._last_error = exc.message
            raise SyncError(exc.reason, exc.message) from None
        if self.sequence is not None and data.get("sequence") == self.sequence:
            self._etag = response.headers.get("ETag")
            return self._up_to_date()
        try:
            result = self.apply(data, source="forge", force=force)
        except SyncError as exc:
            if exc.applied:  # applied, not written to disk: the FORGE need not send it again
                self._etag = response.headers.get("ETag")
            raise
        self._etag = response.headers.get("ETag")
        return result

    # --- background -------------------------------------------------------------------

    def start(self) -> None:
        """Start background work: heartbeats always; pulls and the event stream in ACCEPTING mode. Idempotent."""
        if not self.forge_url:
            return
        self._stop.clear()
        if not (self._thread and self._thread.is_alive()):
            self._thread = threading.Thread(target=self._run, name="anvil-client-poll", daemon=True)
            self._thread.start()
        if self.stream and self._mode == ACCEPTING and not (self._stream_thread and self._stream_thread.is_alive()):
            self._stream_thread = threading.Thread(target=self._stream_run, name="anvil-client-stream", daemon=True)
            self._stream_thread.start()

    def stop(self) -> None:
        """Stop background work (the prompts stay served)."""
        self._stop.set()
        response = getattr(self, "_stream_response", None)
        if response is not None:
            try:
                response.close()  # unblocks the stream thread's read
            except Exception:
                pass
        for thread in (self._thread, self._stream_thread):
            if thread and thread.is_alive() and thread is not threading.current_thread():
                thread.join(timeout=5)
        http, self._http_client = self._http_client, None
        if http is not None:
            http.close()

    close = stop

    def _run(self) -> None:
        """Pull every ``poll_interval`` (ACCEPTING only) and heartbeat every ``heartbeat_interval``."""
        now = time.monotonic()
        next_pull, next_beat, failures = now, now, 0
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_beat:
                self.register()
                next_beat = now + self.heartbeat_interval * random.uniform(0.9, 1.1)
            if now >= next_pull:
                if self._mode == ACCEPTING and self.poll_interval > 0:
                    try:
                        if self.sync(force=False).applied:
                            self.register()  # report the new versions at once
                        failures = 0
                    except SyncError as exc:
                        log.warning("anvil: background sync failed (%s): %s", exc.reason, exc.message)
                        if exc.reason != "cache":
                            failures += 1
                        else:  # the FORGE answered: no backoff; only the disk failed (retried next time)
                            failures = 0
                            if exc.applied:
                                self.register()
                    except Exception:  # never let the thread die
                        failures += 1
                        log.exception("anvil: background sync crashed")
                base = self.poll_interval * (2 ** min(failures, 5)) if failures else self.poll_interval
                next_pull = now + max(min(base, 600.0), 1.0) * random.uniform(0.9, 1.1)
            self._stop.wait(max(0.05, min(next_pull, next_beat) - time.monotonic()))

    def _stream_run(self) -> None:
        """Hold the FORGE's event stream open; pull when it announces a newer sequence."""
        failures = 0
        while not self._stop.is_set() and self._mode == ACCEPTING:
            try:
                self._listen()
                failures = 0
            except Exception as exc:  # network trouble, 4xx/5xx: back off and reconnect
                failures += 1
                log.info("anvil: event stream interrupted (%s); reconnecting", exc)
            delay = min(2 ** min(failures, 6), 60) * random.uniform(0.5, 1.0) if failures else 0.5
            self._stop.wait(delay)

    def _listen(self) -> None:
        import httpx

        url = f"/api/v1/projects/{self.project}/events"
        with self._http() as http:
            timeout = httpx.Timeout(self.timeout, read=60.0)
            with http.stream("GET", url, timeout=timeout, headers={"Accept": "text/event-stream"}) as response:
                if response.status_code != 200:
                    raise SyncError("http", f"the event stream answered {response.status_code}")
                self._stream_response = response
                self._streaming = True
                try:
                    event, data = "message", ""
                    for line in response.iter_lines():
                        if self._stop.is_set() or self._mode != ACCEPTING:
                            return
                        if line == "":
                            self._on_event(event, data)
                            event, data = "message", ""
                        elif line.startswith("event:"):
                            event = line[6:].strip()
                        elif line.startswith("data:"):
                            data += line[5:].strip()
                finally:
                    self._streaming = False
                    self._stream_response = None

    def _on_event(self, event: str, data: str) -> None:
        if event not in ("hello", "publish"):
            return
        try:
            sequence = loads(data).get("sequence")
        except (ValueError, AttributeError):
            return
        held = self.sequence
        if isinstance(sequence, int) and (held is None or sequence > held):
            try:
                if self.sync(force=False).applied:
                    self.register()  # tell the FORGE at once what it serves now (not at the next heartbeat)
            except SyncError as exc:
                if exc.applied:  # served, though not written to disk
                    self.register()
                log.warning("anvil: pull after a stream event failed (%s): %s", exc.reason, exc.message)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- registration (the LIVE-instance heartbeat) -----------------------------------------

    def describe(self) -> dict[str, Any]:
        return {"instance_id": self.instance_id, "host": socket.gethostname(), "mode": self._mode,
                "sequence": self.sequence, "versions": dict(self._table.versions),
                "client_version": __version__, "receiver_url": self.receiver_url or "",
                "receiver_secret": self.receiver_secret if self.receiver_url else "",
                "use_counts": self._top_uses()}

    def _top_uses(self) -> dict[str, int]:
        """The most used prompts' counts, as many as the FORGE takes (it refuses a registration with more)."""
        uses = [(pid, count) for pid, count in list(self._uses.items()) if 0 < len(pid) <= MAX_PROMPT_ID]
        return dict(nlargest(MAX_USE_COUNTS, uses, key=lambda item: item[1]))

    def register(self) -> bool:
        """Tell the FORGE this instance exists and what it holds (called on every heartbeat)."""
        try:
            with self._http() as http:
                response = http.post(f"/api/v1/projects/{self.project}/live_instances", json=self.describe())
            if response.status_code != 200:
                log.warning("anvil: registration answered %s", response.status_code)
                return False
            self._last_registered = _now()
            return True
        except Exception as exc:
            log.info("anvil: registration failed: %s", exc)
            return False

    def receiver(self):
        """The push receiver for this client (mount ``asgi_app(client.receiver())`` at /anvil/receive)."""
        from .receiver import Receiver

        if getattr(self, "_receiver", None) is None:
            self._receiver = Receiver(self, self.receiver_secret)
        return self._receiver
