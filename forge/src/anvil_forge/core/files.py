"""Files the FORGE creates once in its data directory (the secret key, the signing key)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def create_once(path: Path, content: bytes, mode: int = 0o600) -> bytes:
    """Write ``content`` to ``path`` unless the file exists; returns what the file holds.

    Safe when several processes start at once (a server and its worker, say): the file is written aside,
    synced, then hard-linked into place, so it appears complete or not at all, and the first process to
    link it wins — the others get the winner's content, never a half-written file or a key of their own.
    """
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    fd, aside = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(aside, path)
        except FileExistsError:
            return path.read_bytes()
        return content
    finally:
        os.unlink(aside)
