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


def private(path: Path, mode: int = 0o600) -> None:
    """Take group and other permissions off ``path`` if it has any (files made by an earlier release, or
    under a loose umask). Owner bits are kept; a file we do not own is left to its owner."""
    try:
        current = path.stat()
    except FileNotFoundError:
        return
    if current.st_mode & 0o077 and current.st_uid == os.geteuid():
        os.chmod(path, (current.st_mode & 0o700) | (mode & 0o700))


def create_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (then only tighten it)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        private(path)
