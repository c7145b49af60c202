"""Web UI: the shell (dashboard, organisation switcher, breadcrumbs), the command palette, static assets."""

from django.contrib.staticfiles import finders

from anvil_forge.prompts import services as prompts


def text(response):
    return response.content.decode()


def test_dashboard_counts_and_activity(client, world):
    prompts.change_status(world.member, world.pset, "review")
    client.force_login(world.member)
    client.post("/orgs/switch", {"organisation": "acme"})
    page = text(client.get("/"))
    assert "LIVE instances" in page and "applications connected with an access token" in page
    assert "Waiting for review" in page and "Emails" in page
    assert "submitted for review" in page and "member@example.com" in page
    assert "Skip to content" in page and 'id="palette"' in page


def test_shell_lists_organisations_and_keeps_the_current_one(client, world):
    client.force_login(world.member)
    page = text(client.get("/"))
    assert 'value="acme"' in page  # in the switcher
    client.get("/o/acme/p/support/")  # visiting an organisation's page makes it current
    assert client.get("/").context["shell"].organisation == world.org


def test_breadcrumbs(client, world):
    client.force_login(world.member)
    page = text(client.get("/o/acme/p/support/s/emails/prompts/welcome/"))
    crumbs = page.split('aria-label="Breadcrumb"')[1].split("</nav>")[0]
    for label in ("Home", "Acme", "Support", "Emails", "Welcome"):
        assert label in crumbs
    assert 'aria-current="page">Welcome' in crumbs


def test_palette_search(client, world, make_user):
    client.force_login(world.member)
    data = client.get("/palette", {"q": "welc"}).json()
    first = data["results"][0]
    assert first["kind"] == "prompt" and first["url"] == "/o/acme/p/support/s/emails/prompts/welcome/"
    names = [r["name"] for r in client.get("/palette", {"q": "audit"}).json()["results"]]
    assert "Audit log" in names
    assert any(r["kind"] == "page" for r in client.get("/palette").json()["results"])
    client.force_login(world.outsider)
    assert all(r["kind"] == "page" for r in client.get("/palette", {"q": "e"}).json()["results"])
    client.logout()
    assert client.get("/palette", {"q": "x"}).status_code == 302


def test_help_and_forges(client, world, settings):
    settings.ANVIL_KNOWN_FORGES = ""
    client.force_login(world.member)
    assert "Liquid cheatsheet" in text(client.get("/help"))
    assert "This FORGE knows no other FORGE" in text(client.get("/forges"))  # no ANVIL_KNOWN_FORGES (peering)


def test_no_external_assets(client, world):
    client.force_login(world.member)
    for path in ("/", "/o/acme/p/support/s/emails/prompts/welcome/", "/help", "/login"):
        page = text(client.get(path))
        for marker in ('src="http', 'href="http', "//cdn", "fonts.googleapis", "unpkg.com"):
            assert marker not in page, (path, marker)


def test_static_assets_are_found():
    assert finders.find("web/app.css") and finders.find("web/app.js")
    assert finders.find("web/vendor/htmx.min.js"), "run `make assets` (npm) first"
