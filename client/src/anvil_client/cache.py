"""The on-disk cache: one file, written atomically, re-verified when read.

``<cache_dir>/state.json`` holds the mode and the verified bundles the client
serves from (the newest, plus an older one for each pinned prompt set that the
newest would move outside its pin). It is replaced by write-to-temporary,
fsync, rename, fsync of the directory: a crash at any instant leaves either
the old file or the new one. Every bundle in it is verified again on load, so
a file altered on disk is refused, never served.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

CACHE_FORMAT = "anvil-client-cache"
CACHE_VERSION = 1
STATE_FILE = "state.json"
KEY_FILE = "forge.key"


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
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


class DiskCache:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    @property
    def state_path(self) -> Path:
        return self.directory / STATE_FILE

    def read_state(self) -> dict[str, Any] | None:
        """The raw state, or None if there is none. Raises ValueError if it is not a cache file."""
        try:
            raw = self.state_path.read_bytes()
        except FileNotFoundError:
            return None
        state = json.loads(raw)
        if not isinstance(state, dict) or state.get("format") != CACHE_FORMAT:
            raise ValueError(f"{self.state_path} is not an Anvil client cache")
        if state.get("version") != CACHE_VERSION:
            raise ValueError(f"{self.state_path} has cache version {state.get('version')!r}, expected {CACHE_VERSION}")
        if not isinstance(state.get("bundles", []), list):
            raise ValueError(f"{self.state_path} is malformed")
        return state

    def write_state(self, mode: str, bundles: list[dict[str, Any]]) -> None:
        state = {"format": CACHE_FORMAT, "version": CACHE_VERSION, "mode": mode, "bundles": bundles}
        atomic_write(self.state_path, json.dumps(state, ensure_ascii=False, separators=(",", ":")).encode())

    def read_key(self) -> str | None:
        try:
            return (self.directory / KEY_FILE).read_text().strip() or None
        except FileNotFoundError:
            return None

    def write_key(self, public_key: str) -> None:
        atomic_write(self.directory / KEY_FILE, (public_key + "\n").encode())
