"""E-mail written as files (without SMTP): the files hold working sign-in links, so only the service's user
may read them — the directory 0700, each file 0600, whatever the umask."""

from __future__ import annotations

import os
from pathlib import Path

from django.core.mail.backends import filebased

from .files import private


class PrivateFileBackend(filebased.EmailBackend):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        private(Path(self.file_path), 0o700)

    def open(self):
        if self.stream is None:
            fd = os.open(self._get_filename(), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self.stream = os.fdopen(fd, "ab")
            return True
        return False
