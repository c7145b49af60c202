"""Browser tests: Playwright for Python driving Debian's Chromium against a real `anvil serve`.

The server runs as `make run` runs it (uvicorn with its task worker, DEBUG off, static files from
WhiteNoise) on a free port, with a fresh SQLite data directory and e-mails
written as files into it, so the tests read invitations and sign-in links from
there. Never run `playwright install`: the browser is the system's Chromium
(ANVIL_CHROMIUM, /usr/bin/chromium by default).
"""

from __future__ import annotations

import email
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

CHROMIUM = os.environ.get("ANVIL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "docs" / "images"
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
PASSWORD = "forge ahead with care 42"

expect.set_options(timeout=10_000)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, url: str, data_dir: Path, env: dict[str, str]):
        self.url = url
        self.data_dir = data_dir
        self.env = env

    def anvil(self, *args: str) -> str:
        """Run an ``anvil`` command against this FORGE's data; returns what it printed."""
        done = subprocess.run([sys.executable, "-m", "anvil_forge.cli", *args], env=self.env, capture_output=True,
                              text=True, timeout=120, check=True)
        return done.stdout

    def mails_to(self, address: str) -> list[email.message.Message]:
        found = []
        folder = self.data_dir / "mail"
        for path in sorted(folder.glob("*.log")) if folder.exists() else []:
            for chunk in path.read_bytes().split(b"\n" + b"-" * 79 + b"\n"):
                if chunk.strip():
                    message = email.message_from_bytes(chunk.strip())
                    if address.lower() in (message["To"] or "").lower():
                        found.append(message)
        return found

    def link_for(self, address: str, pattern: str, timeout: float = 10.0) -> str:
        """The newest link matching ``pattern`` in a mail to ``address`` (waits for the mail to arrive)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in reversed(self.mails_to(address)):
                body = message.get_payload(decode=True).decode()
                match = re.search(rf"https?://\S*{pattern}\S*", body)
                if match:
                    return match.group(0)
            time.sleep(0.2)
        raise AssertionError(f"no mail to {address} with a link matching {pattern!r}")


@pytest.fixture(scope="session")
def server():
    base = Path(os.environ.get("ANVIL_DATA_DIR") or tempfile.mkdtemp(prefix="anvil-e2e-"))
    data_dir = base / "run"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DEBUG", "EMAIL_HOST")}
    env.update(ANVIL_DATA_DIR=str(data_dir), ANVIL_BASE_URL=url, ALLOWED_HOSTS="127.0.0.1,localhost",
               ANVIL_RECEIVER_ALLOWED_NETWORKS="127.0.0.0/8,::1/128")  # as `make run`: receivers on loopback
    anvil = [sys.executable, "-m", "anvil_forge.cli"]
    subprocess.run([*anvil, "migrate", "--no-input", "-v", "0"], env=env, check=True)
    log = open(data_dir / "server.log", "wb")
    # As `make run` serves it: the server and its task worker (publishes push to receivers).
    process = subprocess.Popen([*anvil, "serve", "--host", "127.0.0.1", "--port", str(port), "--with-worker"],
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/healthz", timeout=2)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"anvil serve did not start; see {data_dir / 'server.log'}") from None
                time.sleep(0.2)
        yield Server(url, data_dir, env)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser, server):
    """A page in a fresh browser context (its own cookies), that fails the test on a script error, a 5xx or
    anything the Content-Security-Policy blocked."""
    contexts = []

    def make(width: int = 1280, height: int = 860):
        context = browser.new_context(base_url=server.url, viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        page.problems = []
        page.on("pageerror", lambda exc: page.problems.append(f"script error: {exc}"))
        # Chromium reports what the Content-Security-Policy blocked (a script, a style) on the console.
        page.on("console", lambda m: page.problems.append(f"CSP: {m.text}")
                if "Content Security Policy" in m.text else None)
        page.on("response", lambda r: page.problems.append(f"{r.status} {r.url}") if r.status >= 500 else None)
        page.on("requestfailed", lambda r: page.problems.append(f"failed {r.url}: {r.failure}")
                if server.url in r.url and "ERR_ABORTED" not in (r.failure or "") else None)
        page.on("request", lambda r: page.problems.append(f"external request {r.url}")
                if not r.url.startswith((server.url, "data:", "about:")) else None)
        return page

    yield make
    for context in contexts:
        for page in context.pages:
            assert not page.problems, page.problems
        context.close()


# --- helpers used by the tests ---------------------------------------------------------

def press(locator, key: str = "Enter"):
    """Activate a control from the keyboard (it must be focusable and react to the key)."""
    locator.focus()
    expect(locator).to_be_focused()
    locator.press(key)


def type_into(locator, text: str):
    locator.focus()
    locator.press_sequentially(text, delay=5)


def signup(page, email_address: str, name: str, *, via: str = "/signup"):
    page.goto(via)
    field = page.get_by_label("E-mail address")
    if not field.input_value():
        field.fill(email_address)
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    press(page.get_by_role("button", name="Create account"))


def sign_in(page, email_address: str):
    page.goto("/login")
    page.get_by_label("E-mail address").fill(email_address)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    expect(page).to_have_url(re.compile(r"/$"))


def flash(page):
    return page.locator("#messages")


def shot(page, name: str, height: int = 1000):
    """A screenshot for the user guide (docs/images/NAME.png), at a desktop size."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    if size and size["width"] >= 1000:
        page.set_viewport_size({"width": size["width"], "height": height})
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)
    if size:
        page.set_viewport_size(size)


def axe_violations(page) -> list[dict]:
    page.evaluate(AXE.read_text())  # through DevTools: the page's CSP rightly refuses an injected inline script
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
    }""")
    return [v for v in result if v["impact"] in ("serious", "critical")]
