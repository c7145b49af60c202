"""The promise of issue 6, in the browser on `make run`'s set-up: one click on Publish and, within a second,
every ACCEPTING app serves the new prompts — one streaming, one taking pushes on its receiver — while a FROZEN
one keeps what it had, and the project page lists all three with the versions they hold.

The apps are real LIVE clients (``anvil_client.Client``) in this process; the FORGE runs with its worker.
"""

import re
import threading
import time

from playwright.sync_api import expect

from anvil_client.client import Client
from anvil_client.receiver import make_server

from .conftest import flash, press, shot

ADMIN = "admin@anvil.local"


def wait_for(predicate, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def publish(page, label: str) -> float:
    """Publish ``label`` from the prompt set's page; returns when the button was pressed (monotonic)."""
    page.goto("/o/acme/p/support/s/emails/")
    page.get_by_label("Version to publish").select_option(label)
    button = page.get_by_role("button", name="Publish")
    button.focus()
    pressed = time.monotonic()
    button.press("Enter")
    return pressed


def test_publish_updates_accepting_apps_and_leaves_a_frozen_one(new_page, server, tmp_path):
    server.anvil("demo")
    password = dict(line.split(" ", 1) for line in (server.data_dir / "demo-logins.txt").read_text().splitlines())[ADMIN]
    page = new_page()
    page.goto("/login")
    page.get_by_label("E-mail address").fill(ADMIN)
    page.get_by_label("Password").fill(password)
    page.get_by_label("Password").press("Enter")
    expect(page).to_have_url(re.compile(r"/$"))

    # An access token for the apps, made on the project page.
    page.goto("/o/acme/p/support/")
    page.get_by_label("Label").fill("production")
    press(page.get_by_role("button", name="Create token"))
    token = page.locator("#new-token").inner_text().strip()
    project = re.search(r"Project id: ([0-9a-f-]{36})", page.locator(".connect-app").inner_text()).group(1)
    publish(page, "1.1.0")
    expect(flash(page)).to_contain_text("as sequence 3")  # (the demo published 'common' and 'support': 1 and 2)

    # Three apps: one streaming, one with a receiver (no stream, no polling), one FROZEN with a receiver.
    servers, apps = [], {}

    def app(name: str, **options) -> Client:
        client = Client(forge_url=server.url, project=project, access_token=token, cache_dir=tmp_path / name,
                        heartbeat_interval=3600, background=False, **options)
        if options.get("stream") is False:
            httpd = make_server(client.receiver(), "127.0.0.1", 0)
            threading.Thread(target=httpd.serve_forever, daemon=True).start()
            servers.append(httpd)
            client.receiver_url = f"http://127.0.0.1:{httpd.server_address[1]}/anvil/receive"
        client.sync()  # trust the FORGE's key on first use; hold sequence 3
        apps[name] = client
        return client

    try:
        streaming = app("streaming", poll_interval=3600)
        pushed = app("pushed", stream=False, poll_interval=3600)
        frozen = app("frozen", stream=False, poll_interval=3600, mode="frozen")
        for client in apps.values():
            client.start()
        assert wait_for(lambda: streaming._streaming), "the streaming app did not open its stream"
        # Each app registers from its own thread as it starts; the page is read once all three are known.
        assert wait_for(lambda: all(c.status()["last_registered"] for c in apps.values())), \
            {name: c.status()["last_error"] for name, c in apps.items()}
        page.goto("/o/acme/p/support/")
        expect(page.locator("#instances-h ~ .table-wrap tbody tr")).to_have_count(3)

        clicked = publish(page, "1.2.0")
        assert wait_for(lambda: streaming.sequence == 4 and pushed.sequence == 4), (streaming.status(), pushed.status())
        took = time.monotonic() - clicked
        print(f"publish → both ACCEPTING apps serving sequence 4: {took * 1000:.0f} ms")
        expect(flash(page)).to_contain_text("as sequence 4")
        shared = {"common": "1.0.0", "support": "1.0.0"}
        for client in (streaming, pushed):
            assert client.status()["versions"] == {"emails": "1.2.0", **shared}
            assert set(client.prompt_ids()) > set(frozen.prompt_ids())  # 1.2.0 added a prompt
        assert frozen.sequence == 3 and frozen.status()["versions"] == {"emails": "1.1.0", **shared}

        # The project page lists all three with what they hold now, and the FROZEN one's push as skipped.
        # The worker records a push's outcome just after the receiver has applied it, and the streaming app
        # reports its new versions just after it has applied them: reload till both have landed.
        latest = page.locator("#publications-h ~ ul").first
        rows = page.locator("#instances-h ~ .table-wrap tbody tr")

        def settled() -> bool:
            page.goto("/o/acme/p/support/")
            pushes = latest.inner_text()
            return ("sending" not in pushes and "pending" not in pushes
                    and rows.filter(has_text="emails@1.2.0").count() == 2)

        assert wait_for(settled, 10), (latest.inner_text(), rows.all_inner_texts())
        expect(rows).to_have_count(3)
        expect(rows.filter(has_text="FROZEN")).to_contain_text("emails@1.1.0")
        expect(rows.filter(has_text="ACCEPTING")).to_have_count(2)
        for n in range(2):
            expect(rows.filter(has_text="ACCEPTING").nth(n)).to_contain_text("emails@1.2.0")
        expect(latest).to_contain_text("delivered")
        expect(latest).to_contain_text("skipped")
        page.locator("#instances-h").scroll_into_view_if_needed()
        shot(page, "live-instances")
    finally:
        for client in apps.values():
            client.stop()
        for httpd in servers:
            httpd.shutdown()
            httpd.server_close()
