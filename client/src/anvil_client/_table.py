"""What ``prompt()`` serves: the verified prompt table, the pins and fallbacks, and the disk cache behind them.

A :class:`Store` holds one immutable :class:`_Table`; serving reads it and does no I/O. Every update goes
through :meth:`Store.apply`, which verifies a bundle before anything changes and swaps the whole table at
once (a pinned set may come from an older verified bundle). Private to :class:`anvil_client.Client`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from heapq import nlargest
from typing import Any

from . import bundle as bundles
from . import composition
from . import keys as key_chain
from . import templates as tpl
from . import versions
from .cache import DiskCache
from .config import MODES
from .errors import (
    ConfigurationError, PromptInputError, PromptKindError, PromptRenderError, SyncError, UnknownPromptError,
)

log = logging.getLogger("anvil_client")

ACCEPTING, FROZEN = MODES
MAX_USE_COUNTS = 100  # the FORGE takes at most this many use counts per registration …
MAX_PROMPT_ID = 200  # … each for a prompt id of at most this many characters


class _Entry:
    """One servable prompt, compiled and its parameters parsed on first use (so a
    cold start with many prompts does no work for the prompts it does not serve)."""

    __slots__ = ("prompt_id", "data", "metadata", "version", "_prepared", "_text", "_library", "_set")

    def __init__(self, prompt_id: str, data: Mapping[str, Any], version: str | None,
                 library: composition.Library | None = None, set_version: composition.SetVersion | None = None
                 ) -> None:
        self.prompt_id = prompt_id
        self.data = data  # the prompt as the bundle (or the fallback) holds it
        self.metadata: dict[str, Any] = dict(data.get("metadata") or {})
        self.version = version
        self._library = library
        self._set = set_version
        self._prepared: tpl.PreparedPrompt | tpl.PreparedChat | None = None
        self._text: tpl.PreparedPrompt | None = None  # the same, once prepared, for a text prompt (prompt()'s path)

    def __repr__(self) -> str:
        return f"_Entry({self.prompt_id!r}, version={self.version!r})"

    @property
    def kind(self) -> str:
        return composition.kind_of(self.data)

    @property
    def template(self) -> str:
        return str(self.data.get("template", ""))

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.data.get("config") or {})

    @property
    def prepared(self) -> tpl.PreparedPrompt | tpl.PreparedChat:
        prepared = self._prepared
        if prepared is None:  # two threads may both prepare once: harmless, same result
            if self._library is not None and self._set is not None:
                prepared = self._library.prepared(self._set, self.prompt_id.split(".", 1)[1])
            else:
                prepared = composition.prepare_document(self.data)
            self._prepared = prepared
            if isinstance(prepared, tpl.PreparedPrompt):
                self._text = prepared
        return prepared

    @property
    def compiled(self) -> tpl.CompiledTemplate:
        prepared = self.prepared
        if isinstance(prepared, tpl.PreparedChat):
            raise TypeError(f"{self.prompt_id} is a chat prompt: it has no single template")
        return prepared.template

    @property
    def parameters(self) -> list[tpl.Parameter]:
        prepared = self._prepared
        return list(prepared.parameters) if prepared is not None else tpl.parse_parameters(
            self.data.get("parameters", []))


def _fallback_entry(prompt_id: str, fallback: Any) -> _Entry:
    """A fallback: a template (text), a list of messages (chat) or a whole prompt ``{kind, template |
    messages, parameters, config}``; checked now, so a bad fallback fails at start-up, not when needed."""
    if isinstance(fallback, str):
        data: Mapping[str, Any] = {"kind": "text", "template": fallback}
    elif isinstance(fallback, (list, tuple)):
        data = {"kind": "chat", "messages": list(fallback)}
    elif isinstance(fallback, Mapping):
        data = dict(fallback)
        if "kind" not in data:
            data["kind"] = "chat" if "messages" in data else "text"
    else:
        raise ConfigurationError(f"fallback for {prompt_id!r} must be a template (str), a list of messages "
                                 f"or a prompt mapping, not {type(fallback).__name__}")
    if data["kind"] not in composition.KINDS:
        raise ConfigurationError(f"fallback for {prompt_id!r}: kind must be one of {', '.join(composition.KINDS)}")
    entry = _Entry(prompt_id, data, None)
    if not isinstance(fallback, str):  # (a text fallback stays lazy, as it always was)
        try:
            entry.prepared
        except tpl.TemplateError as exc:
            raise ConfigurationError(f"fallback for {prompt_id!r} is not a valid prompt: {exc}") from None
    return entry


@dataclass(frozen=True)
class _Table:
    """Everything ``prompt()`` reads, replaced as one object on every update."""

    entries: dict[str, _Entry]
    bundles: tuple[bundles.Bundle, ...] = ()  # newest first; older ones only supply pinned sets
    versions: dict[str, str] = field(default_factory=dict)
    source: str = "none"  # "forge" | "disk" | "none"
    tests: dict[str, dict[str, int]] = field(default_factory=dict)  # slug → its held version's test summary

    @property
    def sequence(self) -> int | None:
        return self.bundles[0].sequence if self.bundles else None


@dataclass(frozen=True)
class SyncResult:
    applied: bool
    sequence: int | None
    detail: str


@dataclass(frozen=True)
class Held:
    """What a client serves at one instant (:meth:`anvil_client.Client.held`): the sequence of the newest
    bundle it holds (None before the first), each prompt set's version, and that bundle's checksum."""

    sequence: int | None
    versions: dict[str, str]
    checksum: str | None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class Store:
    """The verified prompt table and everything that decides it: the pinned key, the pins, the mode, the
    cache. Thread-safe: serving reads one table object; every change is made under ``lock``."""

    def __init__(self, cache: DiskCache, *, public_key: str | None, pins: Mapping[str, str] | None,
                 fallbacks: Mapping[str, Any] | None, channel: str | None = None) -> None:
        self.cache = cache
        self.channel = channel  # the channel the client follows (None: whichever its token is bound to)
        self.explicit_key = public_key
        self.pins = {slug: (spec, versions.parse_specifier(spec)) for slug, spec in (pins or {}).items()}
        self.fallbacks = {pid: _fallback_entry(pid, fallback) for pid, fallback in (fallbacks or {}).items()}
        self.lock = threading.RLock()
        self.table = _Table({})
        self.mode = ACCEPTING
        self.last_sync: str | None = None
        self.last_error: str | None = None
        self.uses: dict[str, int] = {}
        # Key rotation: how to get the FORGE's endorsements (set by the client when it has a FORGE), and the
        # endorsements followed from the pinned key (read from the cache on first use).
        self.fetch_endorsements: Callable[[], list[Any]] | None = None
        self._chain: list[Any] | None = None

    # --- serving (no I/O) ---------------------------------------------------------

    def entry(self, prompt_id: str) -> _Entry:
        entry = self.table.entries.get(prompt_id) or self.fallbacks.get(prompt_id)
        if entry is None:
            raise UnknownPromptError(prompt_id, len(self.table.entries))
        return entry

    def prompt(self, prompt_id: str, variables: dict[str, Any]) -> str:
        entry = self.table.entries.get(prompt_id) or self.fallbacks.get(prompt_id)
        if entry is None:
            raise UnknownPromptError(prompt_id, len(self.table.entries))
        prepared = entry._text or _text(entry)
        uses = self.uses  # approximate under concurrency: counts are reported, never relied on
        uses[prompt_id] = uses.get(prompt_id, 0) + 1
        try:
            return prepared.render_keywords(variables)
        except tpl.ParameterError as exc:
            raise PromptInputError(prompt_id, exc.parameter, str(exc)) from None
        except tpl.UndefinedVariableError as exc:
            raise PromptInputError(prompt_id, exc.name, str(exc)) from None
        except tpl.TemplateError as exc:
            raise PromptRenderError(prompt_id, str(exc)) from None

    def render(self, entry: _Entry, variables: dict[str, Any]) -> str | list[dict[str, str]]:
        """Render any prompt: text gives a str, chat a list of messages (counted as a use)."""
        prepared = entry._prepared or _prepared(entry)
        uses = self.uses
        uses[entry.prompt_id] = uses.get(entry.prompt_id, 0) + 1
        try:
            return prepared.render_keywords(variables)
        except tpl.ParameterError as exc:
            raise PromptInputError(entry.prompt_id, exc.parameter, str(exc)) from None
        except tpl.UndefinedVariableError as exc:
            raise PromptInputError(entry.prompt_id, exc.name, str(exc)) from None
        except tpl.TemplateError as exc:
            raise PromptRenderError(entry.prompt_id, str(exc)) from None

    def template(self, prompt_id: str) -> str:
        entry = self.entry(prompt_id)
        if entry.kind != "text":
            raise PromptKindError(prompt_id, entry.kind, "template()", "get(...).messages")
        return entry.template

    def prompt_ids(self) -> list[str]:
        return sorted(set(self.table.entries) | set(self.fallbacks))

    def parameters(self, prompt_id: str) -> list[dict[str, Any]]:
        entry = self.table.entries.get(prompt_id)
        if entry is None:
            raise UnknownPromptError(prompt_id, len(self.table.entries))
        return [p.to_dict() for p in _prepared(entry).parameters]

    def held(self) -> Held:
        table = self.table  # one reading: the three fields belong together
        return Held(table.sequence, dict(table.versions), table.bundles[0].checksum if table.bundles else None)

    def top_uses(self) -> dict[str, int]:
        """The most used prompts' counts, as many as the FORGE takes (it refuses a registration with more)."""
        uses = [(pid, count) for pid, count in list(self.uses.items()) if 0 < len(pid) <= MAX_PROMPT_ID]
        return dict(nlargest(MAX_USE_COUNTS, uses, key=lambda item: item[1]))

    # --- the key and the mode ---------------------------------------------------------

    def pinned_key(self) -> str | None:
        """The key the client was given or pinned on first use: the anchor of every trust decision."""
        return self.explicit_key or self.cache.read_key()

    def chain(self) -> list[Any]:
        if self._chain is None:
            self._chain = self.cache.read_chain()
        return self._chain

    def chain_keys(self) -> list[str]:
        """The pinned key, then each key its held endorsements lead to, verified link by link (the last one
        signs new bundles)."""
        key = self.pinned_key()
        if key is None:
            return []
        reached = [key]
        for endorsement in self.chain():
            try:
                key = key_chain.verify_endorsement(endorsement, key)
            except key_chain.KeyChainError:
                break  # an unverifiable link ends the chain (the cache was edited, or the pin changed)
            reached.append(key)
        return reached

    def public_key(self) -> str | None:
        """The key bundles must be signed by now: the pinned one, or where its endorsements lead."""
        reached = self.chain_keys()
        return reached[-1] if reached else None

    def _rotation(self, data: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
        """The endorsements from ``key`` to the key a bundle names as its signer (empty: it names ``key`` or
        nothing, there is no FORGE to ask, or nothing claims ``key`` endorsed anything: the bundle is then
        checked against ``key`` and refused as "signature"). Raises SyncError("key") if endorsements by
        ``key`` are served but no valid chain of them leads to the named key (forged, broken, replayed)."""
        named = data.get("forge_key") if isinstance(data, Mapping) else None
        if not isinstance(named, str) or named == key:
            return []
        if named in self.chain_keys():  # an earlier key: once rotated away from, it signs nothing we take
            message = "the bundle is signed by a key the FORGE has rotated away from"
            self.last_error = message
            raise SyncError("key", message)
        if self.fetch_endorsements is None:
            return []
        try:
            endorsements = self.fetch_endorsements()
        except SyncError as exc:  # then the bundle is checked against the pinned key, and refused as before
            log.warning("anvil: the bundle names another key and the FORGE's endorsements could not be fetched: "
                        "%s", exc)
            return []
        if not any(isinstance(e, Mapping) and e.get("old_key") == key for e in endorsements):
            return []  # nothing even claims the pinned key endorsed anything: a bundle of another FORGE
        try:
            return key_chain.follow(key, endorsements, named)
        except key_chain.KeyChainError as exc:
            self.last_error = exc.message
            log.warning("anvil: refused a bundle: %s", exc.message)
            raise SyncError(exc.reason, exc.message) from None

    def _adopt(self, links: list[dict[str, Any]]) -> None:
        """Keep the endorsements a verified bundle was reached through, so a restart trusts its key too."""
        chain = [*self.chain(), *links]
        self._chain = chain
        try:
            self.cache.write_chain(chain)
        except OSError as exc:
            log.error("anvil: could not write the key chain to the cache (%s); it is held in memory", exc)
        log.warning("anvil: the FORGE rotated its signing key; now trusting %s (endorsed by the pinned key)",
                    bundles.key_id(links[-1]["new_key"]))

    def save_key(self, key: str) -> None:
        """Pin the FORGE key in the cache directory (if that fails, it is held in memory and written with
        the next state)."""
        with self.lock:
            self.cache.save_key(key)

    def set_mode(self, mode: str) -> str | None:
        """Switch mode and persist it: None, or what could not be written (retried on the next sync)."""
        with self.lock:
            self.mode = mode
            return self.persist(self.table)

    # --- applying bundles -------------------------------------------------------------

    def apply(self, data: Mapping[str, Any], *, project_id: str | None, source: str, force: bool) -> SyncResult:
        """See :meth:`anvil_client.Client.apply`. ``source``: "forge" (a pull) or "push"; only a pull may
        switch channels."""
        if self.mode == FROZEN and not force:
            raise SyncError("frozen", "the client is FROZEN: only an explicit sync changes its prompts")
        key = self.public_key()
        if key is None:
            raise SyncError("signature", "no FORGE public key is pinned: set public_key / ANVIL_FORGE_PUBLIC_KEY "
                                         "or run `anvil-client connect`")
        links = self._rotation(data, key)  # outside the lock: it may ask the FORGE
        if links:
            key = links[-1]["new_key"]
        with self.lock:
            current = self.table
            try:
                verified = bundles.verify(data, key, project_id=project_id, channel=self.channel)
                held, after = current.bundles, current.sequence
                if held and _channel(verified) != _channel(held[0]):
                    after = self._switch(verified, held[0], source)
                    held = ()  # nothing of the old channel is kept: the cache holds one channel's bundles
                if after is not None and verified.sequence <= after:
                    raise bundles.StaleBundle(f"the bundle's sequence {verified.sequence} is not newer than the "
                                              f"held {after}")
            except bundles.BundleError as exc:
                self.last_error = exc.message
                log.warning("anvil: refused a bundle: %s", exc.message)
                raise SyncError(exc.reason, exc.message) from None
            if links:  # the new key is trusted only once a bundle it signed has verified
                self._adopt(links)
            table = self._build_table((verified, *held), "forge" if source == "push" else source)
            self.table = table  # verified: served even if the cache cannot be written
            self.last_sync, self.last_error = _now(), None
            log.info("anvil: applied bundle sequence %s (%d prompts)", verified.sequence, len(table.entries))
            error = self.persist(table)
            if error:
                self.last_error = (f"{error} (sequence {verified.sequence} is applied and served from memory; "
                                   f"the write is retried on the next sync)")
                raise SyncError("cache", self.last_error, applied=True)
            return SyncResult(True, verified.sequence, f"applied sequence {verified.sequence}")

    def _switch(self, verified: bundles.Bundle, newest: bundles.Bundle, source: str) -> int | None:
        """A bundle of another channel than the held one: the sequence it must exceed (None: any). In
        format 4 the token was moved to that channel, which has its own sequence: a pull takes it (verify()
        refused it if another channel is configured), a push never. Below 4 the sequence must rise."""
        if source == "push":
            raise bundles.WrongChannel(f"a push for channel {_channel(verified)} cannot replace the held "
                                       f"channel {_channel(newest)} (only a pull switches channels)")
        if verified.format_version >= 4:
            log.warning("anvil: switching from channel %s to %s", _channel(newest), verified.channel)
            return None
        return newest.sequence

    def _build_table(self, candidates: tuple[bundles.Bundle, ...], source: str) -> _Table:
        """Newest bundle first; a pinned set comes from the newest bundle whose version satisfies the pin."""
        newest = candidates[0]
        chosen: dict[str, bundles.Bundle] = {}
        for slug in {s for b in candidates for s in b.versions}:
            pin = self.pins.get(slug)
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
        libraries: dict[int, composition.Library | None] = {}
        for slug, source_bundle in chosen.items():
            by_set = grouped.get(id(source_bundle))
            if by_set is None:  # group each bundle's prompts by set once, not once per set
                by_set = grouped[id(source_bundle)] = {}
                for pid, data in source_bundle.prompts.items():
                    by_set.setdefault(pid.split(".", 1)[0], []).append((pid, data))
                libraries[id(source_bundle)] = _library(source_bundle, by_set)
            library = libraries[id(source_bundle)]
            label = source_bundle.versions[slug]
            set_version = library.get(slug, label) if library is not None else None
            for pid, data in by_set.get(slug, ()):
                entries[pid] = _Entry(pid, data, label, library, set_version)
        kept = tuple(b for b in candidates if b is newest or b in chosen.values())
        # Each set's test summary comes from the bundle that supplies the set (a pinned set's older one).
        summaries = {id(b): b.tests for b in kept}
        tests = {slug: summaries[id(b)][slug] for slug, b in sorted(chosen.items()) if slug in summaries[id(b)]}
        return _Table(entries, kept, {slug: b.versions[slug] for slug, b in chosen.items()}, source, tests)

    def persist(self, table: _Table) -> str | None:
        """Write the mode and the table's bundles to the cache (under ``lock``). Returns None, or what
        failed: the cache then holds the state for :meth:`retry_cache`, and the client serves on."""
        error = self.cache.save_state(self.mode, [b.data for b in table.bundles])
        if error:
            log.error("anvil: %s; serving from memory, retrying on the next sync", error)
        return error

    def retry_cache(self) -> str | None:
        """Write what an earlier cache write could not (nothing, if all is on disk): None, or the failure."""
        if not self.cache.unsaved:
            return None
        with self.lock:
            return self.cache.flush()

    def up_to_date(self) -> SyncResult:
        """A sync found nothing new: retry an earlier failed cache write, and say if it still fails."""
        self.last_sync, self.last_error = _now(), None
        error = self.retry_cache()
        if error:
            self.last_error = error
            raise SyncError("cache", error)
        return SyncResult(False, self.table.sequence, "up to date")

    def load_from_disk(self, project_id: str | None) -> None:
        """Serve what the cache holds, if every bundle in it verifies (at start-up, before any network)."""
        try:
            state = self.cache.read_state()
        except (ValueError, OSError) as exc:
            self.last_error = f"disk cache refused: {exc}"
            log.error("anvil: %s", self.last_error)
            return
        if state is None:
            return
        if state.get("mode") in MODES:
            self.mode = state["mode"]
        trusted = self.chain_keys()
        if not trusted:
            self.last_error = "disk cache not used: no FORGE public key is pinned"
            return
        loaded: list[bundles.Bundle] = []
        try:
            for data in state.get("bundles", []):
                loaded.append(_verify_held(data, trusted, project_id, self.channel))
        except bundles.BundleError as exc:
            self.last_error = f"disk cache refused: {exc.message}"
            log.error("anvil: %s", self.last_error)
            return
        if loaded:
            loaded.sort(key=lambda b: b.sequence, reverse=True)
            self.table = self._build_table(tuple(loaded), "disk")


def _verify_held(data: Any, trusted: list[str], project_id: str | None, channel: str | None) -> bundles.Bundle:
    """A cached bundle verifies against the current key or, since the cache keeps older bundles for pinned
    sets, against an earlier key of the verified chain (one the client accepted it under)."""
    for key in reversed(trusted[1:]):
        try:
            return bundles.verify(data, key, project_id=project_id, channel=channel)
        except bundles.BadSignature:
            continue
    return bundles.verify(data, trusted[0], project_id=project_id, channel=channel)


def _channel(bundle: bundles.Bundle) -> str:
    """A bundle's channel: below format 4 (a FORGE without channels) the default channel's."""
    return bundle.channel or bundles.DEFAULT_CHANNEL


def _prepared(entry: _Entry) -> tpl.PreparedPrompt | tpl.PreparedChat:
    """The entry prepared; a prompt that does not compile (never in a verified bundle, as the FORGE
    checked it) is a render error naming it, not a raw exception."""
    try:
        return entry.prepared
    except tpl.TemplateError as exc:
        raise PromptRenderError(entry.prompt_id, str(exc)) from None


def _text(entry: _Entry) -> tpl.PreparedPrompt:
    """The entry prepared, for ``prompt()``: a chat prompt is refused naming the call to use."""
    prepared = _prepared(entry)
    if not isinstance(prepared, tpl.PreparedPrompt):
        raise PromptKindError(entry.prompt_id, entry.kind, "prompt()", "messages()")
    return prepared


def _library(bundle: bundles.Bundle, by_set: dict[str, list[tuple[str, dict[str, Any]]]]
             ) -> composition.Library | None:
    """The set versions a format-2 bundle's prompts can render as partials (None for format 1: no
    partials, so every prompt is prepared on its own, as before)."""
    if bundle.format_version < 2:
        return None
    library = composition.Library()
    locks = bundle.locks
    for slug, label in bundle.versions.items():
        prompts = {pid.split(".", 1)[1]: data for pid, data in by_set.get(slug, ())}
        library.add(composition.SetVersion(slug, label, prompts, locks.get(slug, {})))
    for dependency in bundle.dependencies:
        if library.get(dependency["slug"], dependency["version"]) is None:
            library.add(composition.SetVersion(dependency["slug"], dependency["version"],
                                               dependency["prompts"], dependency["locks"]))
    return library
