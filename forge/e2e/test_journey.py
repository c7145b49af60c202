"""A Context Engineer's day, in a real browser, from the keyboard.

The tests run in order and share what the first one builds (STATE): an owner
signs up, creates an organisation, a project, a prompt set and a prompt with the
live checks, versions and compares it, invites a member and an admin, and the set
goes through review. Later tests use that world (palette, magic link, a11y).
"""

import re

from playwright.sync_api import expect

from .conftest import PASSWORD, axe_violations, flash, press, shot, sign_in, signup, type_into

OWNER = "olive@example.com"
MEMBER = "max@example.com"
ADMIN = "ada@example.com"
STATE: dict = {}


def accept_invitation(new_page, server, address: str, name: str):
    link = server.link_for(address, "/invitations/")
    page = new_page()
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Join Acme Labs")
    press(page.get_by_role("link", name="Create your account to accept"))
    expect(page.get_by_label("E-mail address")).to_have_value(address)
    signup(page, address, name, via=page.url)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Join Acme Labs")
    press(page.get_by_role("button", name="Accept and join"))
    expect(flash(page)).to_contain_text("You joined Acme Labs")
    return page


def test_context_engineer_journey(new_page, server):
    page = new_page()

    # --- sign up: the personal organisation is ready ------------------------------------
    signup(page, OWNER, "Olive")
    expect(page).to_have_url(re.compile(r"/$"))
    expect(flash(page)).to_contain_text("Welcome to Anvil, Olive")
    expect(page.locator(".org-switcher summary")).to_contain_text("Olive")

    # --- confirm the address with the e-mailed link -------------------------------------
    page.goto("/account")
    expect(page.locator(".page-head")).to_contain_text("not confirmed")
    page.goto(server.link_for(OWNER, "/verify/"))
    expect(flash(page)).to_contain_text(f"{OWNER} is confirmed")
    expect(page.locator(".page-head")).to_contain_text("confirmed")
    expect(page.locator(".page-head")).not_to_contain_text("not confirmed")

    # --- create an organisation from the switcher ---------------------------------------
    press(page.locator(".org-switcher summary"))
    press(page.get_by_role("link", name="+ New organisation"))
    page.get_by_label("Name").fill("Acme Labs")
    page.get_by_label("Name").press("Enter")
    expect(flash(page)).to_contain_text("Organisation Acme Labs created")
    expect(page.locator(".org-switcher summary")).to_contain_text("Acme Labs")

    # --- a project, a prompt set ---------------------------------------------------------
    press(page.get_by_role("link", name="Create the first project"))
    page.get_by_label("Name").fill("Support Bot")
    page.get_by_label("Description").fill("Prompts of the support chat bot")
    press(page.get_by_role("button", name="Create project"))
    expect(flash(page)).to_contain_text("Project Support Bot created")
    STATE["project_url"] = page.url

    press(page.get_by_role("link", name="+ New prompt set"))
    page.get_by_label("Name").fill("Emails")
    page.get_by_label("Name").press("Enter")
    expect(flash(page)).to_contain_text("Prompt set Emails created")
    STATE["set_url"] = page.url
    expect(page.locator(".page-head .badge")).to_have_text("LIVE")

    # --- write a prompt and watch the checks change as you type --------------------------
    press(page.get_by_role("link", name="+ New prompt"))
    page.get_by_label("Name", exact=True).fill("Welcome")
    template = page.get_by_label("Template")
    type_into(template, "Hello {{ name }}")
    missing = page.locator('[data-check="missing"]')
    expect(missing).to_contain_text("name")
    type_into(template, ", welcome to {{ company }}! {% if vip %}We saved you a seat.{% endif")
    expect(page.locator("#syntax-summary")).to_contain_text("line 1")
    press(page.get_by_role("button", name=re.compile(r"Go to line 1")))
    expect(template).to_be_focused()
    template.press("End")
    template.press_sequentially(" %}")
    expect(template).to_have_value(re.compile(r"\{% endif %\}$"))
    template.press("Tab")  # leaving the field re-checks it too ("change"), as a person's next step would
    expect(page.locator("#syntax-summary")).to_contain_text("Template compiles")
    expect(missing).to_contain_text("company")
    expect(missing).to_contain_text("vip")
    expect(page.locator('[data-check="matched"]')).to_contain_text("none")

    # --- add the missing parameters in one go; make `vip` an optional boolean ---------------
    press(page.get_by_role("button", name="Add missing parameters (3)"))
    expect(page.locator("[data-param-row]")).to_have_count(3)
    expect(missing).to_contain_text("none")
    expect(page.locator('[data-check="matched"]')).to_contain_text("company")
    rows = page.locator("[data-param-row]")
    rows.filter(has=page.locator('input[value="name"]')).get_by_label("Description").fill("the customer's first name")
    rows.filter(has=page.locator('input[value="company"]')).get_by_label("Description").fill("our product's name")
    vip_row = rows.filter(has=page.locator('input[value="vip"]'))
    vip_row.get_by_label("Description").fill("premium customer?")
    vip_row.get_by_label("Type").select_option("boolean")
    press(vip_row.get_by_label("Required"), " ")
    expect(vip_row.get_by_label("Required")).not_to_be_checked()

    # --- a parameter row added and removed in place -----------------------------------------
    press(page.get_by_role("button", name="+ Add parameter"))
    expect(page.locator("[data-param-row]")).to_have_count(4)
    new_name = page.locator("[data-param-row]").last.get_by_label("Name")
    expect(new_name).to_be_focused()
    new_name.press_sequentially("spare")
    expect(page.locator('[data-check="unused"]')).to_contain_text("spare")
    press(page.locator("[data-param-row]").last.get_by_role("button", name=re.compile("Remove")))
    expect(page.locator("[data-param-row]")).to_have_count(3)
    expect(page.locator('[data-check="unused"]')).to_contain_text("none")

    # --- preview with sample values, errors inline -------------------------------------------
    expect(page.locator("#preview-output")).to_contain_text("missing required parameter")
    type_into(page.locator("#sample-name"), "Ada")
    type_into(page.locator("#sample-company"), "Anvil")
    page.locator("#sample-vip").select_option("true")
    expect(page.locator("#preview-output pre")).to_have_text("Hello Ada, welcome to Anvil! We saved you a seat.")

    # --- save from the keyboard ---------------------------------------------------------------
    page.keyboard.press("Control+s")
    expect(flash(page)).to_contain_text("Prompt Welcome created")
    STATE["prompt_url"] = page.url
    page.goto(STATE["prompt_url"])  # without the message, for the picture
    expect(page.locator("#sample-name")).to_have_value("Ada")  # the preview's values survive the save
    expect(page.locator("#sample-company")).to_have_value("Anvil")
    expect(page.locator("#sample-vip")).to_have_value("true")
    expect(page.locator("#preview-output pre")).to_have_text("Hello Ada, welcome to Anvil! We saved you a seat.")
    page.locator("#sample-vip").focus()
    shot(page, "prompt-editor", height=1180)

    # --- two versions -------------------------------------------------------------------------
    press(page.get_by_role("link", name="Back to Emails"))
    press(page.get_by_role("link", name="Create version"))
    expect(page.get_by_label("Version label")).to_have_value("0.1.0")
    page.get_by_label("Changelog").fill("First draft")
    press(page.get_by_role("button", name="Create version"))
    expect(flash(page)).to_contain_text("Version 0.1.0 created")

    press(page.get_by_role("link", name="Welcome", exact=True))
    template = page.get_by_label("Template")
    template.fill("Hello {{ name }}, welcome to {{ company }}!\n{% if vip %}We saved you a seat.{% endif %}\n"
                  "Sign off as the {{ company }} team.")
    expect(page.locator('[data-check="matched"]')).to_contain_text("vip")
    press(page.get_by_role("button", name="Save prompt"))
    expect(flash(page)).to_contain_text("Saved Welcome")
    page.goto(STATE["set_url"])
    press(page.get_by_role("link", name="Create version"))
    expect(page.locator("#pending-h + p, .diff-summary")).not_to_have_count(0)
    page.get_by_label("Version label").fill("0.2.0")
    page.get_by_label("Changelog").fill("One line per idea, a sign-off")
    press(page.get_by_role("button", name="Create version"))
    expect(flash(page)).to_contain_text("Version 0.2.0 created")

    # --- compare them: side by side, then unified --------------------------------------------
    expect(page.get_by_label("From")).to_have_value("0.1.0")
    expect(page.get_by_label("To")).to_have_value("0.2.0")
    press(page.get_by_role("button", name="Compare"))
    expect(page.get_by_role("heading", name=re.compile(r"0\.1\.0 → 0\.2\.0"))).to_be_visible()
    expect(page.locator("table.diff-table.split td.ln-add").first).to_be_visible()
    expect(page.locator("table.diff-table.split")).to_contain_text("Sign off as the {{ company }} team.")
    shot(page, "diff")
    press(page.get_by_label("unified"), " ")
    press(page.get_by_role("button", name="Compare"))
    expect(page.locator("table.diff-table.unified tr.ln-remove")).not_to_have_count(0)

    # --- invite a member and an admin; they sign up from the e-mailed link ------------------------
    page.goto(STATE["set_url"])
    press(page.get_by_role("navigation", name="Main").get_by_role("link", name="Members"))
    for address, role in ((MEMBER, "member"), (ADMIN, "admin")):
        page.get_by_label("E-mail address").fill(address)
        page.get_by_label("Role", exact=True).select_option(role)
        press(page.get_by_role("button", name="Send invitation"))
        expect(flash(page)).to_contain_text(f"Invitation sent to {address}")
    member = accept_invitation(new_page, server, MEMBER, "Max")
    admin = accept_invitation(new_page, server, ADMIN, "Ada")

    # --- the member keeps the editor open in one tab, and submits the set for review in another --------
    stale = member.context.new_page()
    stale.problems = []
    stale.goto(STATE["prompt_url"])
    expect(stale.get_by_role("button", name="Save prompt")).to_be_visible()
    member.goto(STATE["set_url"])
    press(member.get_by_role("button", name="Submit for review"))
    expect(flash(member)).to_contain_text("submitted for review")
    expect(member.get_by_role("button", name="Approve and lock")).to_have_count(0)
    expect(member.locator(".status-panel")).to_contain_text("Only owners and admins can approve or reject it")

    # --- the admin approves: LOCKED; the member may not publish, the admin publishes ---------------------------
    admin.goto(STATE["set_url"])
    press(admin.get_by_role("button", name="Approve and lock"))
    expect(flash(admin)).to_contain_text("LOCKED now")
    expect(admin.locator(".page-head .badge")).to_have_text("LOCKED")
    member.goto(STATE["set_url"])
    expect(member.get_by_role("button", name="Publish")).to_be_disabled()
    expect(member.locator("#publish-reason")).to_have_text("Only owners and admins publish.")
    press(admin.get_by_role("button", name="Publish"))
    expect(flash(admin)).to_contain_text("as sequence 1")
    expect(admin.locator("#publications-h")).to_be_visible()
    admin.goto(STATE["set_url"])

    # --- a rollback made after approval needs its own approval before it can be published ------------------
    member.goto(STATE["set_url"] + "v/0.1.0/")
    expect(member.locator(".page-head")).to_contain_text("not approved")
    member.get_by_label("New version label").fill("0.3.0")
    press(member.get_by_role("button", name="Roll back"))
    expect(flash(member)).to_contain_text("0.3.0")
    admin.goto(STATE["set_url"])
    options = admin.get_by_label("Version to publish").locator("option")
    expect(options).to_have_text(["0.2.0"])  # only approved content is offered
    expect(admin.locator(".publish")).to_contain_text("0.3.0 not approved: approve to publish")
    shot(admin, "approvals")
    press(admin.get_by_role("button", name="Approve 0.3.0"))
    expect(flash(admin)).to_contain_text("Version 0.3.0 approved")
    expect(options).to_have_text(["0.3.0", "0.2.0", "0.1.0"])  # 0.1.0 holds the same content as 0.3.0

    # --- edits are refused while LOCKED: the stale editor's save, and the read-only editor ---------------------
    stale.get_by_label("Template").fill("Sneaky change {{ name }} {{ company }} {{ vip }}")
    press(stale.get_by_role("button", name="Save prompt"))
    expect(flash(stale)).to_contain_text("is LOCKED: its content cannot change")
    member.goto(STATE["prompt_url"])
    expect(member.locator(".locked-banner")).to_contain_text("LOCKED")
    expect(member.get_by_label("Template")).to_have_attribute("readonly", "")
    expect(member.get_by_role("button", name="Save prompt")).to_have_count(0)

    # --- the dashboard -----------------------------------------------------------------------------------
    page.goto("/")
    expect(page.locator(".stats")).to_contain_text("projects")
    expect(page.locator(".events")).to_contain_text("approved and locked")
    shot(page, "dashboard")


def test_command_palette_jump(new_page):
    page = new_page()
    sign_in(page, OWNER)
    page.keyboard.press("Control+k")
    dialog = page.get_by_role("dialog", name="Command palette")
    expect(dialog).to_be_visible()
    combobox = page.get_by_role("combobox", name=re.compile("Search projects"))
    expect(combobox).to_be_focused()
    combobox.press_sequentially("welc")
    expect(page.get_by_role("listbox", name="Results").get_by_role("option").first).to_contain_text("Welcome")
    expect(page.get_by_role("listbox", name="Results").get_by_role("option").first).to_have_attribute("aria-selected", "true")
    combobox.press("Enter")
    expect(page).to_have_url(re.compile(r"/s/emails/prompts/welcome/$"))
    page.keyboard.press("Control+k")
    page.get_by_role("combobox", name=re.compile("Search projects")).press_sequentially("audit")
    expect(page.get_by_role("listbox", name="Results").get_by_role("option").first).to_contain_text("Audit log")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/audit$"))
    page.keyboard.press("Control+k")
    page.get_by_role("combobox", name=re.compile("Search projects")).press_sequentially("qqqqzz")
    expect(page.locator("#palette-empty")).to_have_text("No match.")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


def test_magic_link_sign_in(new_page, server):
    page = new_page()
    page.goto("/login")
    press(page.get_by_role("link", name="E-mail me a sign-in link"))
    page.get_by_label("E-mail address").fill(MEMBER)
    press(page.get_by_role("button", name="Send me a link"))
    expect(flash(page)).to_contain_text("sign-in link is on its way")
    link = server.link_for(MEMBER, "/login/magic/")
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Sign in as {MEMBER}")
    expect(page.get_by_role("button", name="Sign in")).to_be_focused()
    page.keyboard.press("Enter")
    expect(flash(page)).to_contain_text(f"Signed in as {MEMBER}")
    expect(page).to_have_url(re.compile(r"/$"))
    press(page.locator(".user-menu summary"))
    press(page.get_by_role("button", name="Sign out"))
    expect(flash(page)).to_contain_text("You are signed out")
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_contain_text("does not work")


def test_wrong_passwords_are_throttled(new_page):
    page = new_page()
    for _ in range(5):
        page.goto("/login")
        page.get_by_label("E-mail address").fill(ADMIN)
        page.get_by_label("Password").fill("not the password")
        page.get_by_label("Password").press("Enter")
        expect(page.locator(".form-errors")).to_be_visible()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    expect(page.locator(".form-errors")).to_contain_text("Too many attempts")


def test_keyboard_skip_link_and_focus(new_page):
    page = new_page()
    sign_in(page, OWNER)
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()
    outline = page.evaluate("""() => { const a = document.querySelector('.skip-link'); a.focus();
        const s = getComputedStyle(a); return s.boxShadow + ' ' + s.outlineStyle; }""")
    assert outline.strip() not in ("none none", "")


def test_phone_width_has_no_horizontal_scroll(new_page):
    page = new_page(width=390, height=844)
    sign_in(page, OWNER)
    for url in ("/", STATE["set_url"], STATE["prompt_url"]):
        page.goto(url)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, (url, overflow)
    page.goto(STATE["prompt_url"])
    shot(page, "prompt-editor-phone")


def test_accessibility(new_page):
    anonymous = new_page()
    for url in ("/login", "/signup", "/login/magic", "/password-reset", "/verify/bad/link"):
        anonymous.goto(url)
        assert axe_violations(anonymous) == [], url
    page = new_page()
    sign_in(page, OWNER)
    org = STATE["project_url"].split("/o/")[1].split("/")[0]
    pages = ["/", f"/o/{org}/", STATE["project_url"], STATE["set_url"], STATE["prompt_url"],
             STATE["set_url"] + "compare?from=0.1.0&to=0.2.0", STATE["set_url"] + "compare?from=0.1.0&to=0.2.0&view=unified",
             STATE["set_url"] + "v/0.1.0/", STATE["set_url"] + "new-version", f"/o/{org}/members", f"/o/{org}/audit",
             f"/o/{org}/settings", "/orgs/", "/help", "/forges", "/account"]
    problems = {}
    for url in pages:
        page.goto(url)
        found = axe_violations(page)
        if found:
            problems[url] = found
    page.goto("/")
    page.keyboard.press("Control+k")
    page.get_by_role("combobox", name=re.compile("Search projects")).press_sequentially("e")
    expect(page.get_by_role("listbox", name="Results").get_by_role("option").first).to_be_visible()
    if found := axe_violations(page):
        problems["palette"] = found
    assert problems == {}


def test_the_api_docs_page_works_under_the_content_security_policy(new_page):
    page = new_page()
    sign_in(page, OWNER)
    page.goto("/api/v1/docs")
    expect(page.locator(".opblock-tag").first).to_be_visible()  # Swagger UI rendered its operations
    expect(page.get_by_text("/api/v1/prompt_sets/{id}/publish").first).to_be_attached()
