"""Chat prompts, partials across prompt sets and dependencies, in a real browser, from the keyboard.

A Context Engineer builds a set `common` with a partial `tone`, a set `support` that depends on it with
model defaults, and a chat prompt in it with a placeholder for the conversation so far; she reorders a
message from the keyboard, previews the conversation, saves, versions, sees the dependencies panel once
`common` moves on, reorders a message by dragging it and compares the messages. Screenshots for the user
guide: chat-editor.png, chat-preview.png, dependencies.png, diff-messages.png.
"""

import re

from playwright.sync_api import expect

from .conftest import axe_violations, flash, press, shot, sign_in, signup, type_into

ENGINEER = "cleo@example.com"
HISTORY = ('[{"role": "user", "content": "My invoice shows the wrong address."},\n'
           ' {"role": "assistant", "content": "Sorry about that! Which invoice is it?"}]')


def new_set(page, name: str):
    page.goto(STATE["project_url"])
    press(page.get_by_role("link", name="+ New prompt set"))
    page.get_by_label("Name", exact=True).fill(name)


def new_version(page, set_url: str, label: str):
    page.goto(set_url)
    press(page.get_by_role("link", name="Create version"))
    page.get_by_label("Version label").fill(label)
    press(page.get_by_role("button", name="Create version"))
    expect(flash(page)).to_contain_text(f"Version {label} created")


STATE: dict = {}


def test_chat_prompt_with_partials_and_dependencies(new_page):
    page = new_page()
    signup(page, ENGINEER, "Cleo")
    expect(page).to_have_url(re.compile(r"/$"))
    page.goto("/projects/")
    press(page.get_by_role("link", name="Create the first project"))
    page.get_by_label("Name").fill("Helpdesk")
    press(page.get_by_role("button", name="Create project"))
    expect(flash(page)).to_contain_text("Project Helpdesk created")
    STATE["project_url"] = page.url

    # --- a set `common` with a text prompt `tone`, versioned --------------------------------------
    new_set(page, "Common")
    press(page.get_by_role("button", name="Create prompt set"))
    expect(flash(page)).to_contain_text("Prompt set Common created")
    common_url = page.url
    press(page.get_by_role("link", name="+ New prompt", exact=True))
    page.get_by_label("Name", exact=True).fill("Tone")
    page.get_by_label("Template").fill("Be warm and brief; never blame the customer.")
    press(page.get_by_role("button", name="Create prompt"))
    expect(flash(page)).to_contain_text("Prompt Tone created")
    new_version(page, common_url, "1.0.0")

    # --- a set `support` that depends on common ^1.0, with model defaults (checked as typed) ------------
    new_set(page, "Support")
    page.get_by_label("Model", exact=True).fill("gpt-4o-mini")
    temperature = page.get_by_label("Temperature")
    type_into(temperature, "3")
    expect(page.locator("#cfg-temperature-check")).to_contain_text("between 0 and 2")
    expect(temperature).to_have_attribute("aria-invalid", "true")
    temperature.fill("")
    type_into(temperature, "0.3")
    expect(page.locator("#cfg-temperature-check")).to_be_empty()
    press(page.get_by_role("button", name="+ Add dependency"))
    row = page.locator("#dep-rows [data-row]")
    expect(row.get_by_label("Prompt set")).to_be_focused()
    row.get_by_label("Prompt set").select_option("common")
    row.get_by_label("Version").fill("^1.0")
    press(page.get_by_role("button", name="Create prompt set"))
    expect(flash(page)).to_contain_text("Prompt set Support created")
    STATE["set_url"] = set_url = page.url
    expect(page.locator(".deps-table")).to_contain_text("^1.0")

    # --- a chat prompt: system and user messages, then a placeholder moved up from the keyboard ---------
    press(page.get_by_role("link", name="+ New chat prompt"))
    expect(page.get_by_label("Chat")).to_be_checked()
    page.get_by_label("Name", exact=True).fill("Reply")
    rows = page.locator("[data-msg-row]")
    expect(rows).to_have_count(2)
    system = rows.nth(0).get_by_role("textbox")
    type_into(system, "You are the support assistant of {{ product }. ")
    expect(rows.nth(0).locator(".row-check")).to_contain_text("line 1")  # the error sits in its message's row
    system.fill("You are the support assistant of {{ product }}.\n{% render 'common.tone' %}")
    type_into(rows.nth(1).get_by_role("textbox"), "{{ question }}")
    press(page.get_by_role("button", name="+ Add placeholder"))
    expect(rows).to_have_count(3)
    placeholder = page.get_by_label("Placeholder name")  # the one placeholder, wherever it moves
    expect(placeholder).to_be_focused()
    placeholder.press_sequentially("history")
    placeholder.press("Alt+ArrowUp")  # the conversation so far goes before the new question
    expect(rows.nth(1)).to_contain_text("placeholder")
    expect(rows.nth(1).locator("[data-msg-index]").first).to_have_text("messages[1]")
    expect(placeholder).to_be_focused()
    expect(page.locator("#msg-announce")).to_have_text("Moved to messages[1], 2 of 3.")
    expect(page.locator('[data-check="placeholders"]')).to_contain_text("history")
    expect(page.locator("[data-partials]")).to_contain_text("common.tone")
    expect(page.locator("[data-partials]")).to_contain_text("common@1.0.0")
    press(page.get_by_role("button", name="Add missing parameters (2)"))
    expect(page.locator("[data-param-row]")).to_have_count(2)
    expect(page.locator('[data-check="missing"]')).to_contain_text("none")
    product = page.locator("[data-param-row]").filter(has=page.locator('input[value="product"]'))
    product.get_by_label("Required").uncheck()
    product.get_by_label("Default").fill("Anvil Cloud")
    expect(page.locator('label[for="sample-product"]')).to_contain_text("default Anvil Cloud")
    press(page.locator("details.config-details > summary"))
    page.get_by_label("Max tokens").fill("400")

    # --- the preview is the conversation, with the placeholder's messages and the merged configuration ----
    page.locator("#sample-question").fill("Can you fix it?")
    page.locator("#sample-history").fill(HISTORY)
    bubbles = page.locator("#preview-output .bubble")
    expect(bubbles).to_have_count(4)
    expect(bubbles.nth(0)).to_contain_text("Be warm and brief")
    expect(bubbles.nth(2)).to_contain_text("from history")
    expect(bubbles.nth(3)).to_contain_text("Can you fix it?")
    expect(page.locator(".config-merged")).to_contain_text("gpt-4o-mini")
    expect(page.locator(".config-merged")).to_contain_text("max_tokens")
    page.locator("#sample-question").focus()
    shot(page, "chat-preview", height=1100)
    page.keyboard.press("Control+s")
    expect(flash(page)).to_contain_text("Prompt Reply created")
    STATE["prompt_url"] = prompt_url = page.url
    page.goto(prompt_url)  # saved in the order shown
    expect(page.locator("#msg-rows .msg-index")).to_have_text(["messages[0]", "messages[1] · placeholder",
                                                               "messages[2]"])
    expect(page.locator("[data-msg-row]").nth(1).get_by_label("Placeholder name")).to_have_value("history")
    page.locator("#sample-question").fill("Can you fix it?")
    page.locator("#sample-history").fill(HISTORY)
    expect(page.locator("#preview-output .bubble")).to_have_count(4)
    page.get_by_label("Placeholder name").focus()
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "chat-editor", height=1100)
    assert axe_violations(page) == []

    # --- version it; common moves on: 1.1.0 matches ^1.0, 2.0.0 does not ---------------------------------
    new_version(page, set_url, "0.1.0")
    page.goto(common_url + "prompts/tone/")
    page.get_by_label("Template").fill("Be warm, brief and concrete; never blame the customer.")
    press(page.get_by_role("button", name="Save prompt"))
    expect(flash(page)).to_contain_text("Saved Tone")
    new_version(page, common_url, "1.1.0")
    new_version(page, common_url, "2.0.0")
    page.goto(set_url)
    deps = page.locator(".deps-table tbody tr")
    expect(deps).to_have_count(1)
    expect(deps.locator("td").nth(1)).to_contain_text("1.1.0")  # what a new version would lock
    expect(deps.locator("td").nth(2)).to_have_text("1.0.0")  # what 0.1.0 locks
    expect(deps.locator("td").nth(3)).to_contain_text("1.1.0")
    expect(deps.locator("td").nth(4)).to_contain_text("2.0.0")
    page.locator("#deps-h").scroll_into_view_if_needed()
    shot(page, "dependencies")
    assert axe_violations(page) == []

    # --- edit the messages: reword the system message, drag the question above the history ---------------
    page.goto(prompt_url)
    rows = page.locator("[data-msg-row]")
    rows.nth(0).get_by_role("textbox").fill(
        "You are the friendly support assistant of {{ product }}.\n{% render 'common.tone' %}")
    rows.nth(2).locator("[data-drag-handle]").drag_to(rows.nth(1), target_position={"x": 20, "y": 5})
    expect(rows.nth(1).locator("[data-msg-index]").first).to_have_text("messages[1]")
    expect(rows.nth(1)).not_to_contain_text("placeholder")
    rows.nth(1).locator("[data-move]").first.focus()
    press(rows.nth(1).get_by_role("button", name="Move down"))  # and back with the button: the history first
    expect(rows.nth(1)).to_contain_text("placeholder")
    press(page.get_by_role("button", name="+ Add message"))
    expect(rows).to_have_count(4)
    rows.nth(3).get_by_label("Role").select_option("assistant")
    rows.nth(3).get_by_role("textbox").fill("Let me check that for you.")
    press(page.get_by_role("button", name="Save prompt"))
    expect(flash(page)).to_contain_text("Saved Reply")

    # --- compare: message-level changes, locks --------------------------------------------------------
    page.goto(set_url + "compare?from=0.1.0&to=working")
    article = page.locator("article.diff-prompt")
    expect(article).to_contain_text("~ messages[0] system · changed")
    expect(article.locator("mark").first).to_be_visible()
    expect(article).to_contain_text("+ messages[3] assistant · added")
    expect(page.locator("article.diff-set")).to_contain_text("common")
    page.locator("article.diff-prompt h4").first.scroll_into_view_if_needed()
    page.locator("#diff-h").scroll_into_view_if_needed()
    shot(page, "diff-messages")
    assert axe_violations(page) == []


def test_set_settings_and_version_pages_are_accessible(new_page):
    page = new_page()
    sign_in(page, ENGINEER)
    for url in (STATE["set_url"] + "edit", STATE["set_url"] + "v/0.1.0/", STATE["set_url"] + "new-prompt?kind=chat"):
        page.goto(url)
        assert axe_violations(page) == [], url
    page.goto(STATE["set_url"] + "v/0.1.0/")
    expect(page.locator(".locks")).to_contain_text("common@1.0.0")
    phone = new_page(width=390, height=844)
    sign_in(phone, ENGINEER)
    for url in (STATE["prompt_url"], STATE["set_url"], STATE["set_url"] + "edit",
                STATE["set_url"] + "compare?from=0.1.0&to=working"):
        phone.goto(url)
        overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, (url, overflow)
