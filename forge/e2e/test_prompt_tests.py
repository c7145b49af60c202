"""Prompt test cases in a real browser: the editor's Tests, the set page's status and the lock gate.

A Context Engineer writes a prompt, types preview values and keeps them as test cases (snapshots of the
output), sees them pass, changes the template and watches them fail live with the reason, switches the
preview between the cases, finds the failures on the set page, has locking refused naming the failing tests,
then updates the snapshots and locks. Screenshots for the user guide: tests-panel.png, tests-set-status.png,
tests-lock-refused.png.
"""

import re

from playwright.sync_api import expect

from .conftest import axe_violations, flash, press, shot, signup, type_into

ENGINEER = "tessa@example.com"


def save_case(page, name: str):
    page.get_by_label("Test name").fill(name)
    press(page.get_by_role("button", name="Save as test case"))
    expect(page.locator("#save-case-status")).to_contain_text(f"“{name}” added")
    expect(page.get_by_label("Test name")).to_have_value("")


def test_test_cases_in_the_editor_the_set_page_and_the_gate(new_page):
    page = new_page()
    signup(page, ENGINEER, "Tessa")
    expect(page).to_have_url(re.compile(r"/$"))
    page.goto("/projects/")
    press(page.get_by_role("link", name="Create the first project"))
    page.get_by_label("Name").fill("Shop")
    press(page.get_by_role("button", name="Create project"))
    expect(flash(page)).to_contain_text("Project Shop created")
    expect(page.locator("[data-tests-gate]")).to_contain_text("Test gate on")
    press(page.get_by_role("link", name="+ New prompt set"))
    page.get_by_label("Name", exact=True).fill("Emails")
    press(page.get_by_role("button", name="Create prompt set"))
    set_url = page.url

    # --- a prompt; preview values kept as test cases ---------------------------------------------------
    press(page.get_by_role("link", name="+ New prompt", exact=True))
    page.get_by_label("Name", exact=True).fill("Welcome")
    type_into(page.get_by_label("Template"), "Hello {{ name }}, welcome to {{ shop }}!")
    press(page.get_by_role("button", name="Add missing parameters (2)"))
    expect(page.locator("[data-param-row]")).to_have_count(2)
    expect(page.locator('[data-check="missing"]')).to_contain_text("none")  # the live checks have settled
    press(page.get_by_role("button", name="Create prompt"))
    expect(flash(page)).to_contain_text("Prompt Welcome created")
    prompt_url = page.url
    checks = page.locator("[data-tests-check]")
    expect(checks).to_contain_text("No test cases yet")

    page.locator("#sample-name").fill("Ann")
    page.locator("#sample-shop").fill("Anvil Books")
    expect(page.locator("#preview-output")).to_contain_text("Hello Ann, welcome to Anvil Books!")
    save_case(page, "greets Ann")
    expect(checks).to_contain_text("The test passes")
    expect(page.locator("[data-dirty-flag]")).to_be_visible()  # the case is in the form, not saved yet
    page.keyboard.press("Control+s")
    expect(flash(page)).to_contain_text("Saved Welcome")
    # the preview's values survive the save
    expect(page.locator("#sample-name")).to_have_value("Ann")
    expect(page.locator("#preview-output")).to_contain_text("Hello Ann")

    page.locator("#sample-name").fill("Bob")
    expect(page.locator("#preview-output")).to_contain_text("Hello Bob")
    page.get_by_label("It checks that").select_option("snapshot")
    save_case(page, "greets Bob")
    expect(checks).to_contain_text("All 2 tests pass")
    press(page.get_by_role("button", name="Save prompt"))
    expect(flash(page)).to_contain_text("Saved Welcome")

    # --- the template changes: both snapshots fail, live, saying why -------------------------------------
    template = page.get_by_label("Template")
    template.fill("Hi {{ name }}, welcome to {{ shop }}!")
    expect(checks).to_contain_text("2 of 2 tests fail")
    failing = checks.locator('[data-test-case="greets Ann"]')
    expect(failing).to_contain_text("snapshot")
    expect(failing.locator(".test-failures")).to_contain_text("Hi Ann")

    # --- switching the preview between the cases ----------------------------------------------------------
    page.get_by_label("Values from").select_option("greets Ann")
    expect(page.locator("#sample-name")).to_have_value("Ann")
    expect(page.locator("#preview-output")).to_contain_text("Hi Ann, welcome to Anvil Books!")
    press(checks.locator('[data-test-case="greets Bob"]').get_by_role("button", name="Preview"))
    expect(page.locator("#sample-name")).to_have_value("Bob")
    expect(page.get_by_label("Values from")).to_have_value("greets Bob")
    expect(page.locator("#preview-output")).to_contain_text("Hi Bob")
    expect(page.locator("#tests-field")).to_have_attribute("open", "")  # the cases as JSON, open once there are some
    expect(page.get_by_label("Test cases")).to_have_value(re.compile(r'"greets Bob"'))
    # the picture: the checks' Tests block, the preview with its case picker, the tests box beside them
    page.set_viewport_size({"width": 1280, "height": 1200})
    page.locator("#tests-field").evaluate("e => window.scrollTo(0, e.getBoundingClientRect().top + scrollY - 420)")
    page.locator("[data-tests-check]").evaluate("e => { const side = e.closest('.editor-side'); side.scrollTop += "
                                                "e.getBoundingClientRect().top - side.getBoundingClientRect().top - 8; }")
    shot(page, "tests-panel", height=1200)
    assert axe_violations(page) == []
    press(page.get_by_role("button", name="Save prompt"))
    expect(flash(page)).to_contain_text("Saved Welcome")

    # --- the set page: each prompt's status ----------------------------------------------------------------
    page.goto(set_url)
    cell = page.locator('[data-tests-for="welcome"]')
    expect(cell).to_contain_text("0/2 passed")
    expect(cell.locator(".bad").last).to_contain_text("greets Ann")
    expect(page.locator("[data-tests-total]")).to_contain_text("2 failing")
    expect(page.locator("[data-tests-gate]")).to_contain_text("while 2 tests fail")
    shot(page, "tests-set-status")
    assert axe_violations(page) == []

    # --- locking is refused while a test fails, naming them ------------------------------------------------
    press(page.get_by_role("button", name="Submit for review"))
    expect(flash(page)).to_contain_text("submitted for review")
    press(page.get_by_role("button", name="Approve and lock"))
    expect(flash(page)).to_contain_text("cannot be locked while tests fail")
    refused = page.locator("[data-lock-refused]")
    expect(refused).to_contain_text("Not locked: 2 tests fail")
    expect(refused).to_contain_text("greets Bob")
    expect(page.locator(".set-status, h1")).to_contain_text("REVIEW")
    shot(page, "tests-lock-refused")
    assert axe_violations(page) == []

    # --- back to LIVE, accept the new output as the snapshots, and lock -----------------------------------
    press(page.get_by_role("button", name="Reject"))
    page.goto(prompt_url)
    expect(checks).to_contain_text("2 of 2 tests fail")
    press(checks.get_by_role("button", name="Update snapshots (2)"))
    expect(page.locator("#tests-action-status")).to_contain_text("updated")
    expect(checks).to_contain_text("All 2 tests pass")
    press(page.get_by_role("button", name="Save prompt"))
    expect(flash(page)).to_contain_text("Saved Welcome")
    page.goto(set_url)
    expect(page.locator('[data-tests-for="welcome"]')).to_contain_text("2/2 passed")
    press(page.get_by_role("button", name="Submit for review"))
    press(page.get_by_role("button", name="Approve and lock"))
    expect(flash(page)).to_contain_text("approved: it is LOCKED now")
