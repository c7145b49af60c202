"""Channels in the browser, on `make run`'s set-up: three running apps on the production channel; a new emails
version published from the set page to 25 % of production switches exactly the instances the channel page
says are in its cohort; Expand to everyone switches the rest; Roll back returns all three to what they had.
Then production requires approval: a publish waits, its requester's own Approve is refused, and a second
admin's Approve releases it.

The apps are real LIVE clients (``anvil_client.Client``, streaming) in this process, with fixed instance ids;
the FORGE runs with its worker.
"""

import re
import time

from playwright.sync_api import expect

from anvil_client.client import Client

from .conftest import axe_violations, flash, press, shot

ADMIN = "admin@anvil.local"
OPS = "ops@anvil.local"  # the demo's second admin
PROJECT = "/o/acme/p/support/"
CHANNEL = PROJECT + "channels/production/"
SHARED = {"common": "1.0.0", "support": "1.0.0"}  # what the demo published before emails
APP_IDS = ("app-1", "app-2", "app-3")


def wait_for(predicate, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def log_in(page, email: str, password: str):
    page.goto("/login")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_label("Password").press("Enter")
    expect(page).to_have_url(re.compile(r"/$"))


def publish(page, label: str, percentage: str = "", instance_ids: str = ""):
    page.goto("/o/acme/p/support/s/emails/")
    page.get_by_label("Version to publish").select_option(label)
    page.get_by_label("to channel").select_option("production")
    page.get_by_label("Roll out to").fill(percentage)
    page.get_by_label("Instance ids").fill(instance_ids)
    press(page.get_by_role("button", name="Publish", exact=True))


def cohorts(page) -> dict[str, str]:
    """{instance id: cohort} of our apps as the channel page's progress table shows it (in `make e2e` the
    apps of test_live_apps are listed too: they were heard from within the day)."""
    page.goto(CHANNEL)
    rows = page.locator("tr[data-instance]")
    return {row.get_attribute("data-instance"): row.get_attribute("data-cohort") for row in rows.all()
            if row.get_attribute("data-instance") in APP_IDS}


def settled(page) -> bool:
    """Whether the channel page shows each of our apps holding the sequence it should hold."""
    page.goto(CHANNEL)
    for name in APP_IDS:
        row = page.locator(f'tr[data-instance="{name}"]')
        if row.locator("[data-holds]").inner_text() != row.locator("[data-should-hold]").inner_text():
            return False
    return True


def scroll_to(page, selector: str):
    """Scroll so that ``selector`` sits just below the page's top bar (for the screenshots)."""
    page.locator(selector).evaluate("el => window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY - 80)")


def emails(client) -> str | None:
    return client.status()["versions"].get("emails")


def test_staged_rollout_expand_roll_back_and_four_eyes_approval(new_page, server, tmp_path):
    server.anvil("demo")
    logins = dict(line.split(" ", 1) for line in (server.data_dir / "demo-logins.txt").read_text().splitlines())
    page = new_page()
    log_in(page, ADMIN, logins[ADMIN])

    # A production token for the apps, and emails 1.1.0 to everyone as sequence `first` (the demo released
    # 1 and 2; in `make e2e`, test_live_apps released more before).
    page.goto(PROJECT)
    first = int(page.locator('[data-channel="production"] [data-sequence]').inner_text()) + 1
    page.get_by_label("Label").fill("apps")
    expect(page.get_by_label("Channel", exact=True)).to_have_value("production")
    press(page.get_by_role("button", name="Create token"))
    token = page.locator("#new-token").inner_text().strip()
    project = re.search(r"Project id: ([0-9a-f-]{36})", page.locator(".connect-app").inner_text()).group(1)
    publish(page, "1.1.0")
    expect(flash(page)).to_contain_text(f"as sequence {first}")

    apps: dict[str, Client] = {}
    try:
        for name in APP_IDS:
            client = Client(forge_url=server.url, project=project, access_token=token, cache_dir=tmp_path / name,
                            heartbeat_interval=3600, poll_interval=3600, background=False, instance_id=name)
            client.sync()  # trust the FORGE's key on first use; hold sequence `first`
            apps[name] = client
        for client in apps.values():
            client.start()
        assert wait_for(lambda: all(c._streaming and c.status()["last_registered"] for c in apps.values())), \
            {name: c.status()["last_error"] for name, c in apps.items()}
        assert all(c.sequence == first and emails(c) == "1.1.0" for c in apps.values())

        # 1.2.0 to 25 % of production (and app-1 by name, so the cohort is never empty).
        publish(page, "1.2.0", "25", "app-1")
        expect(flash(page)).to_contain_text(f"as sequence {first + 1} to 25 % of instances, and 1 named instance")
        placed = cohorts(page)
        assert sorted(placed) == ["app-1", "app-2", "app-3"] and placed["app-1"] == "rollout", placed
        inside = [name for name, cohort in placed.items() if cohort == "rollout"]
        outside = [name for name, cohort in placed.items() if cohort == "previous"]
        assert len(inside) + len(outside) == 3
        assert wait_for(lambda: all(apps[n].sequence == first + 1 for n in inside), 5), \
            {n: c.status() for n, c in apps.items()}
        time.sleep(1.0)  # the stream told everyone it reached: those outside must have stayed where they were
        for name in inside:
            assert emails(apps[name]) == "1.2.0"
        # An app learns its cohort from the FORGE's answer to its report, 1-2 s after a streamed release.
        assert wait_for(lambda: all(apps[n].status()["cohort"] == "rollout" for n in inside), 5), \
            {n: apps[n].status()["cohort"] for n in inside}
        for name in outside:
            assert apps[name].sequence == first and emails(apps[name]) == "1.1.0", apps[name].status()

        # The pages once every app has reported what it holds: the project's card mid-rollout, the channel's.
        assert wait_for(lambda: settled(page), 10)
        page.goto(PROJECT)
        card = page.locator('[data-channel="production"]')
        expect(card).to_contain_text("rollout in progress")
        expect(card.locator("[data-targets]")).to_have_text("25 % of instances, and 1 named instance")
        scroll_to(page, "#channels-h")
        shot(page, "channels-rollout")
        assert axe_violations(page) == []
        page.goto(CHANNEL)
        expect(page.locator('tr[data-instance="app-1"] [data-holds]')).to_have_text(str(first + 1))
        for name in outside:
            expect(page.locator(f'tr[data-instance="{name}"] [data-holds]')).to_have_text(str(first))
        shot(page, "channels-progress")
        assert axe_violations(page) == []

        # Expand to everyone: the rest switch too.
        page.goto(PROJECT)
        press(card.get_by_role("button", name=re.compile("^Expand to everyone")))
        expect(flash(page)).to_contain_text(f"Expanded the rollout of production: sequence {first + 1} to everyone")
        assert wait_for(lambda: all(c.sequence == first + 1 and emails(c) == "1.2.0" for c in apps.values()), 5), \
            {n: c.status() for n, c in apps.items()}

        # Roll back (it asks first): all three return to 1.1.0, as a new sequence.
        page.once("dialog", lambda dialog: dialog.accept())
        press(page.locator('[data-channel="production"]').get_by_role("button", name=re.compile("^Roll back")))
        expect(flash(page)).to_contain_text(f"Rolled back (restoring sequence {first}) production: sequence "
                                            f"{first + 2} to everyone")
        assert wait_for(lambda: all(c.sequence == first + 2 and emails(c) == "1.1.0" for c in apps.values()), 5), \
            {n: c.status() for n, c in apps.items()}
        assert all(c.status()["versions"] == {"emails": "1.1.0", **SHARED} for c in apps.values())

        # Production requires approval from now on (the channel page's settings).
        page.goto(CHANNEL)
        page.get_by_label(re.compile("^Requires approval")).check()
        press(page.get_by_role("button", name="Save channel"))
        expect(flash(page)).to_contain_text("Channel production saved.")
        expect(page.locator("h1")).to_contain_text("requires approval")

        publish(page, "1.2.0")
        expect(page).to_have_url(re.compile(r"#requests$"))
        expect(flash(page)).to_contain_text("Waiting for approval by another owner or admin")
        waiting = page.locator("#requests")
        expect(waiting.locator("tbody tr")).to_have_count(1)
        expect(waiting).to_contain_text("Emails 1.2.0")
        expect(waiting).to_contain_text(ADMIN)
        scroll_to(page, "#requests-h")
        shot(page, "channels-approval")
        assert axe_violations(page) == []

        # The requester's own Approve is refused by the FORGE (four-eyes), and nothing is released.
        press(waiting.get_by_role("button", name=re.compile("^Approve")))
        expect(flash(page)).to_contain_text("another owner or admin must approve it")
        time.sleep(0.5)
        assert all(c.sequence == first + 2 for c in apps.values())

        # The second admin approves: released as the next sequence, and every app takes it.
        ops = new_page()
        log_in(ops, OPS, logins[OPS])
        ops.goto(PROJECT + "#requests")
        press(ops.locator("#requests").get_by_role("button", name=re.compile("^Approve")))
        expect(flash(ops)).to_contain_text(f"Approved Emails 1.2.0 to production: released as sequence {first + 3}")
        assert wait_for(lambda: all(c.sequence == first + 3 and emails(c) == "1.2.0" for c in apps.values()), 5), \
            {n: c.status() for n, c in apps.items()}
        ops.goto(CHANNEL)
        expect(ops.locator("[data-releases] tbody tr").first).to_contain_text(f"approved by {OPS}")
    finally:
        for client in apps.values():
            client.stop()
