"""Run real FORGE processes (``anvil serve`` / ``anvil worker``) against the test database."""

import os
import socket
import subprocess
import sys
import time

import httpx
from django.conf import settings
from django.db import connection


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def environment(**extra) -> dict:
    return {**os.environ, "DATABASE_URL": database_url(), "ANVIL_DATA_DIR": str(settings.DATA_DIR),
            "ANVIL_API_RATE_LIMIT": "100000/minute",
            "ANVIL_RECEIVER_ALLOWED_NETWORKS": "127.0.0.0/8,::1/128", **extra}  # the test receivers


def log_file():
    """Server output goes to a file (a pipe nobody reads would fill up and block the server)."""
    import tempfile

    return tempfile.TemporaryFile()


def start_server(**env) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process_log = log_file()
    process = subprocess.Popen([sys.executable, "-m", "anvil_forge.cli", "serve", "--port", str(port)],
                               env=environment(**env), stdout=subprocess.DEVNULL, stderr=process_log)
    process.stderr_file = process_log
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the FORGE did not start: {stop(process)}")


def start_worker(**env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "anvil_forge.cli", "worker", "--no-reload",
                             "--no-startup-delay", "--interval", "0.1"],
                            env=environment(**env), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(process: subprocess.Popen) -> str:
    """Stop a process; returns the end of what it wrote to stderr (for failure messages)."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log = process.stderr_file if hasattr(process, "stderr_file") else None
    if log is None:
        return ""
    log.seek(0)
    return log.read().decode(errors="replace")[-3000:]
