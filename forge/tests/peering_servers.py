"""Real FORGE servers for the peering integration tests: ``anvil serve`` subprocesses on loopback, each with its
own data directory and SQLite database (whatever database the test process itself uses)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

PASSWORD = "correct horse battery staple"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Forge:
    """One FORGE: ``setup()`` migrates its database; ``anvil(...)`` runs a command; ``start()`` serves it."""

    def __init__(self, name: str, data_dir: Path):
        self.name = name
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.log = data_dir / "server.log"
        self.env = {k: v for k, v in os.environ.items()
                    if k not in {"DATABASE_URL", "REDIS_URL", "ANVIL_KNOWN_FORGES", "SECRET_KEY", "DEBUG"}}
        self.env.update({"ANVIL_DATA_DIR": str(data_dir), "ANVIL_FORGE_NAME": name, "ANVIL_BASE_URL": self.url,
                         "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "WARNING"})

    def anvil(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "anvil_forge.cli", *args], env=self.env, capture_output=True,
                              text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"anvil {' '.join(args)} failed on {self.name}:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def api_key(self, email: str, scopes: str = "read") -> str:
        return self.anvil("apikey", "create", email, "--name", "peering tests", "--scopes", scopes).strip()

    def prepare(self, code: str) -> dict:
        """Migrate, then run ``code`` in one process (each ``anvil`` start costs seconds); ``code`` leaves a
        JSON-serialisable ``result``, which is returned."""
        script = "\n".join([
            "import json",
            "from django.core.management import call_command",
            "call_command('migrate', interactive=False, verbosity=0)",
            "result = {}",
            code,
            "print('RESULT ' + json.dumps(result))",
        ])
        out = self.anvil("shell", "--no-imports", "-c", script)
        return json.loads(out.rsplit("RESULT ", 1)[1])

    def start(self, port: int | None = None) -> Forge:
        if port:
            self.port, self.url = port, f"http://127.0.0.1:{port}"
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "anvil_forge.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited while starting:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not start within 60 s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def get(self, path: str, token: str, **kwargs) -> httpx.Response:
        return httpx.get(f"{self.url}/api/v1{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30,
                         **kwargs)

    def post(self, path: str, token: str, **kwargs) -> httpx.Response:
        return httpx.post(f"{self.url}/api/v1{path}", headers={"Authorization": f"Bearer {token}"}, timeout=60,
                          **kwargs)


def create_user_code(email: str, scopes: list[str], name: str) -> str:
    """Code for :meth:`Forge.prepare`: a user (with a personal organisation) and an API key in result[name]."""
    return "\n".join([
        "from anvil_forge.accounts.services import create_api_key",
        "from anvil_forge.orgs.services import create_user",
        f"user = create_user({email!r}, {PASSWORD!r})",
        f"result[{name!r}] = create_api_key(user, 'peering tests', {scopes!r})[1]",
    ])


def key_code(email: str, scopes: list[str], name: str) -> str:
    """Code for :meth:`Forge.prepare`: an API key of an existing user in result[name]."""
    return "\n".join([
        "from anvil_forge.accounts.models import User",
        "from anvil_forge.accounts.services import create_api_key",
        f"result[{name!r}] = create_api_key(User.objects.get(email={email!r}), 'peering tests', {scopes!r})[1]",
    ])
