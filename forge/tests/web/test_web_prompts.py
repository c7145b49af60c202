"""Web UI: the prompt editor and its HTMX fragments (checks, preview, parameter rows), saving and refusals."""

import pytest

from anvil_forge.prompts import services as prompts
from anvil_forge.prompts.models import Prompt

from ..conftest import refresh

SET = "/o/acme/p/support/s/emails/"
EDITOR = SET + "prompts/welcome/"
HX = {"HX-Request": "true"}


def text(response):
    return response.content.decode()


def draft(template, *params, **extra):
    """A POST body as the editor form sends it."""
    data = {"name": "Welcome", "slug": "welcome", "description": "", "template": template, "metadata": "{}",
            "param_row": []}
    for i, (name, kind, required, default) in enumerate(params):
        key = f"k{i}"
        data["param_row"].append(key)
        data.update({f"p-{key}-name": name, f"p-{key}-type": kind, f"p-{key}-description": "",
                     f"p-{key}-default": default})
        if required:
            data[f"p-{key}-required"] = "on"
    data.update(extra)
    return data


@pytest.fixture
def member(client, world):
    client.force_login(world.member)
    return client


@pytest.mark.parametrize("role", ["owner", "admin", "member"])
def test_editor_renders(client, world, role):
    client.force_login(world.users[role])
    page = text(client.get(EDITOR))
    assert 'id="prompt-form"' in page and "Hello {{ name }}!" in page
    assert "Template compiles" in page and 'data-check="matched"' in page
    assert "Save prompt" in page


def test_check_fragment_reports_missing_unused_matched(member):
    response = member.post(SET + "editor/check", draft("Hi {{ name }} from {{ company }}", ("name", "string", True, ""),
                                                       ("spare", "number", False, "")), headers=HX)
    assert response.status_code == 200
    page = text(response)
    assert "<html" not in page  # a fragment
    missing = page.split('data-check="missing"')[1].split("</dd>")[0]
    unused = page.split('data-check="unused"')[1].split("</dd>")[0]
    matched = page.split('data-check="matched"')[1].split("</dd>")[0]
    assert "company" in missing and "spare" in unused and "name" in matched
    assert "Add missing parameters (1)" in page
    assert 'id="preview-output"' in page and 'hx-swap-oob="true"' in page


def test_check_fragment_reports_syntax_errors_with_line_and_column(member):
    page = text(member.post(SET + "editor/check", draft("Line one\nHi {{ name "), headers=HX))
    assert "line 2" in page and 'data-goto-line="2"' in page
    assert "Fix the syntax error" in page


def test_check_fragment_reports_bad_parameter_definitions(member):
    page = text(member.post(SET + "editor/check", draft("{{ a }}", ("a", "string", True, "x")), headers=HX))
    assert "cannot have a default" in page


def test_sample_fields_are_only_resent_when_they_change(member):
    first = text(member.post(SET + "editor/check", draft("{{ name }}", ("name", "string", True, "")), headers=HX))
    assert 'id="sample-fields"' in first
    signature = first.split('name="sample_signature" value="')[1].split('"')[0]
    again = text(member.post(SET + "editor/check", draft("{{ name }}!", ("name", "string", True, ""),
                                                         sample_signature=signature), headers=HX))
    assert 'id="sample-fields"' not in again


def test_preview_renders_with_sample_values(member):
    body = draft("Hi {{ name }}, {{ n | plus: 1 }}", ("name", "string", True, ""), ("n", "number", False, "41"))
    page = text(member.post(SET + "editor/preview", dict(body, **{"sample-name": "Ada"}), headers=HX))
    assert "Hi Ada, 42" in page and "token" in page
    page = text(member.post(SET + "editor/preview", body, headers=HX))
    assert "missing required parameter &#x27;name&#x27;" in page
    page = text(member.post(SET + "editor/preview", dict(body, **{"sample-name": "A", "sample-n": "x"}), headers=HX))
    assert "preview-error" in page and "n" in page


def test_param_row_and_missing_rows(member):
    row = text(member.get(SET + "editor/param-row", headers=HX))
    assert 'name="param_row"' in row and "autofocus" in row
    response = member.post(SET + "editor/missing", draft("{{ a }} {{ b }} {{ c }}", ("a", "string", True, "")),
                           headers=HX)
    page = text(response)
    assert page.count('name="param_row"') == 2 and 'value="b"' in page and 'value="c"' in page
    assert response["HX-Trigger-After-Settle"] == "paramsChanged"


def test_save_prompt(member, world):
    body = draft("Dear {{ name }}, {{ tone }}", ("name", "string", True, ""), ("tone", "string", False, ""))
    body["metadata"] = '{"model": "x"}'
    response = member.post(EDITOR, body, follow=True)
    assert "Saved Welcome" in text(response)
    prompt = refresh(world.prompt)
    assert prompt.template == "Dear {{ name }}, {{ tone }}"
    assert prompt.parameters[1] == {"name": "tone", "type": "string", "description": "", "required": False,
                                    "default": None}
    assert prompt.metadata == {"model": "x"}


def test_empty_string_default_survives_a_round_trip(member, world):
    prompts.update_prompt(world.owner, world.prompt, template="{{ name }}{{ x }}",
                          parameters=[{"name": "name"}, {"name": "x", "required": False, "default": ""}])
    page = text(member.get(EDITOR))
    assert 'name="p-r1-empty" value="1"' in page
    body = draft("{{ name }}{{ x }}", ("name", "string", True, ""), ("x", "string", False, ""))
    body["param_row"] = ["r0", "r1"]
    body = {k.replace("p-k0-", "p-r0-").replace("p-k1-", "p-r1-"): v for k, v in body.items()}
    body["p-r1-empty"] = "1"
    member.post(EDITOR, body)
    assert refresh(world.prompt).parameters[1]["default"] == ""


def test_save_errors_are_shown_not_500(member, world):
    response = member.post(EDITOR, draft("Hi {{ name "))
    assert response.status_code == 200 and "syntax error" in text(response)
    response = member.post(EDITOR, draft("{{ a }}", ("1a", "string", True, "")))
    assert response.status_code == 200 and "invalid parameter name" in text(response)
    response = member.post(EDITOR, draft("{{ a }}", ("a", "string", True, "oops")))
    assert "cannot have a default" in text(response)
    response = member.post(EDITOR, draft("{{ a }}", metadata="[]"))
    assert "must be a JSON object" in text(response)
    assert refresh(world.prompt).template == "Hello {{ name }}!"


def test_locked_editor_is_read_only_and_saving_is_refused(member, world):
    prompts.change_status(world.owner, world.pset, "review")
    prompts.change_status(world.owner, world.pset, "locked")
    page = text(member.get(EDITOR))
    assert "is <strong>LOCKED</strong>" in page and "readonly" in page and "Save prompt" not in page
    response = member.post(EDITOR, draft("Changed {{ name }}", ("name", "string", True, "")))
    assert response.status_code == 200 and "is LOCKED: its content cannot change" in text(response)
    assert "Changed {{ name }}" in text(response)  # the unsaved text is kept on the page
    assert refresh(world.prompt).template == "Hello {{ name }}!"
    check = member.post(SET + "editor/check", draft("{{ name }}", ("name", "string", True, "")), headers=HX)
    assert check.status_code == 200 and "Add missing" not in text(check)


def test_create_and_delete_prompt(member, world):
    assert member.get(SET + "new-prompt").status_code == 200
    body = draft("Bye {{ name }}", ("name", "string", True, ""))
    body.update(name="Goodbye", slug="")
    response = member.post(SET + "new-prompt", body, follow=True)
    assert "Prompt Goodbye created" in text(response)
    assert response.redirect_chain[-1][0] == SET + "prompts/goodbye/"
    response = member.post(SET + "new-prompt", body)
    assert "already used" in text(response)
    response = member.post(SET + "prompts/goodbye/delete", follow=True)
    assert "Prompt Goodbye deleted" in text(response)
    assert not Prompt.objects.filter(slug="goodbye").exists()


def test_htmx_endpoints_need_access(client, world):
    client.force_login(world.outsider)
    assert client.post(SET + "editor/check", draft("x"), headers=HX).status_code == 404
    assert client.post(SET + "editor/preview", draft("x"), headers=HX).status_code == 404
    client.logout()
    response = client.post(SET + "editor/check", draft("x"), headers=HX)
    assert response["HX-Redirect"] == "/login"
