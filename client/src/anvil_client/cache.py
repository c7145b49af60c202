"""The on-disk cache: one file, written atomically, re-verified when read.

``<cache_dir>/state.json`` holds the mode and the verified bundles the client
serves from (the newest, plus an older one for each pinned prompt set that the
newest would move outside its pin). It is replaced by write-to-temporary,
fsync, rename, fsync of the directory: a crash at any instant leaves either
the old file or the new one. Every bundle in it is verified again on load, so
a file altered on disk is refused, never served.

A write that fails (a read-only or full disk) never stops the client: what
could not be written is kept by :class:`DiskCache` and written again by
:meth:`DiskCache.flush` on later syncs, and ``write_error`` says what failed
until a write succeeds. A writer killed mid-write leaves its temporary file
(``.state.json.<random>.tmp``); opening the cache removes those older than
``STALE_TEMPORARY_AGE``, which no live writer still uses.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
import time
from pathlib import Path
from typing import Any

CACHE_FORMAT = "anvil-client-cache"
CACHE_VERSION = 1
STATE_FILE = "state.json"
KEY_FILE = "forge.key"
CHAIN_FILE = "forge_keys.json"
"""The key endorsements the client followed from its pinned key (re-verified from the pin on every read)."""
STALE_TEMPORARY_AGE = 600.0  # seconds: a write takes milliseconds, so a temporary this old has no writer
# atomic_write's temporaries: "." + the file's name + "." + tempfile's 8 random characters + ".tmp".
_TEMPORARY = re.compile(r"\.(?:%s)\.[a-z0-9_]{8}\.tmp" % "|".join(re.escape(n) for n in (STATE_FILE, KEY_FILE, CHAIN_FILE)))


def atomic_write(path: Path, data: bytes, mode: int | None = None) -> None:
    """Replace ``path`` at once (a crash leaves the old file or the new one, never half of one); ``mode``:
    its permissions (default: the temporary file's, 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def loads(raw: bytes | str) -> Any:
    """``json.loads``, but a document nested too deeply for the parser is a ValueError, not a RecursionError."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply to parse") from None


class DiskCache:
    """The cache directory. Not thread-safe by itself: the client makes every write under its lock."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.write_error: str | None = None  # the last failed write, until a write succeeds
        self._unsaved_state: tuple[str, list[dict[str, Any]]] | None = None
        self._unsaved_key: str | None = None

    def remove_stale_temporaries(self, max_age: float = STALE_TEMPORARY_AGE) -> list[str]:
        """Delete the temporary files of interrupted writes (this cache's own naming pattern, regular
        files only) last modified more than ``max_age`` seconds ago; returns their names. Never raises."""
        removed: list[str] = []
        try:
            names = os.listdir(self.directory)
        except OSError:
            return removed
        cutoff = time.time() - max_age
        for name in names:
            if not _TEMPORARY.fullmatch(name):
                continue
            path = self.directory / name
            try:
                info = os.lstat(path)
                if stat.S_ISREG(info.st_mode) and info.st_mtime < cutoff:
                    os.unlink(path)
                    removed.append(name)
            except OSError:
                continue  # gone meanwhile, or the directory is read-only: nothing to do
        return removed

    @property
    def state_path(self) -> Path:
        return self.directory / STATE_FILE

    def read_state(self) -> dict[str, Any] | None:
        """The raw state, or None if there is none. Raises ValueError if it is not a cache file."""
        try:
            raw = self.state_path.read_bytes()
        except FileNotFoundError:
            return None
        state = loads(raw)
        if not isinstance(state, dict) or state.get("format") != CACHE_FORMAT:
            raise ValueError(f"{self.state_path} is not an Anvil client cache")
        if state.get("version") != CACHE_VERSION:
            raise ValueError(f"{self.state_path} has cache version {state.get('version')!r}, expected {CACHE_VERSION}")
        if not isinstance(state.get("bundles", []), list):
            raise ValueError(f"{self.state_path} is malformed")
        return state

    def write_state(self, mode: str, bundles: list[dict[str, Any]]) -> None:
        state = {"format": CACHE_FORMAT, "version": CACHE_VERSION, "mode": mode, "bundles": bundles}
        try:
            data = json.dumps(state, ensure_ascii=False, separators=(",", ":")).encode()
        except RecursionError:
            raise ValueError("the state is nested too deeply to serialise") from None
        atomic_write(self.state_path, data)

    # --- writes that may fail without stopping the client -----------------------------

    def save_state(self, mode: str, bundles: list[dict[str, Any]]) -> str | None:
        """Write the state; if that fails, keep it for :meth:`flush`. Returns the failure, or None."""
        self._unsaved_state = (mode, list(bundles))
        return self.flush()

    def save_key(self, public_key: str) -> str | None:
        """Pin the FORGE key; if it cannot be written, hold it (``read_key`` returns it) for :meth:`flush`."""
        self._unsaved_key = public_key
        return self.flush()

    @property
    def unsaved(self) -> bool:
        return self._unsaved_state is not None or self._unsaved_key is not None

    def flush(self) -> str | None:
        """Write what an earlier write could not. Returns None when everything is on disk, else the failure
        (also kept in ``write_error``), naming the file and the OS error."""
        target = self.directory
        try:
            if self._unsaved_key is not None:
                target = self.directory / KEY_FILE
                self.write_key(self._unsaved_key)
                self._unsaved_key = None
            if self._unsaved_state is not None:
                target = self.state_path
                self.write_state(*self._unsaved_state)
                self._unsaved_state = None
        except (OSError, ValueError) as exc:
            self.write_error = f"could not write the cache file {target}: {exc}"
            return self.write_error
        self.write_error = None
        return None

    def read_key(self) -> str | None:
        if self._unsaved_key is not None:
            return self._unsaved_key
        try:
            return (self.directory / KEY_FILE).read_text().strip() or None
        except FileNotFoundError:
            return None

    def write_key(self, public_key: str) -> None:
        atomic_write(self.directory / KEY_FILE, (public_key + "\n").encode())

    def read_chain(self) -> list[Any]:
        """The endorsements followed so far (empty if none, or if the file is not a list: the client then
        trusts only its pinned key, which is safe)."""
        try:
            chain = loads((self.directory / CHAIN_FILE).read_bytes())
        except (FileNotFoundError, ValueError):
            return []
        return chain if isinstance(chain, list) else []

    def write_chain(self, endorsements: list[dict[str, Any]]) -> None:
        atomic_write(self.directory / CHAIN_FILE, json.dumps(endorsements, ensure_ascii=False).encode())
