"""Projects, prompt sets, prompts and rendering over the API: happy paths and errors."""

import pytest

from anvil_forge.prompts import services as prompts
from anvil_forge.prompts.models import Project, Prompt

from ..api_support import Api, as_role, assert_error, fresh_rate_limits  # noqa: F401


def test_projects(world, as_role):
    admin = as_role("admin")
    created = admin.post("/projects", {"organisation": str(world.org.pk), "name": "Billing",
                                       "description": "invoices"})
    assert created.status_code == 201
    project = created.json()
    assert (project["slug"], project["organisation_id"], project["description"]) == (
        "billing", str(world.org.pk), "invoices")
    assert admin.get(f"/projects/{project['id']}").json() == project
    listed = admin.get("/projects", {"organisation": str(world.org.pk)}).json()["data"]
    assert [p["slug"] for p in listed] == ["support", "billing"]
    everywhere = admin.get("/projects").json()["data"]
    assert {p["slug"] for p in everywhere} == {"support", "billing"}
    renamed = admin.patch(f"/projects/{project['id']}", {"name": "Billing 2"}).json()
    assert (renamed["name"], renamed["slug"]) == ("Billing 2", "billing")
    assert admin.delete(f"/projects/{project['id']}").status_code == 204
    assert not Project.objects.filter(pk=project["id"]).exists()


def test_project_errors(world, as_role):
    admin = as_role("admin")
    body = {"organisation": str(world.org.pk), "name": "Support"}
    assert_error(admin.post("/projects", body), 409, "conflict_error", "name")
    assert_error(admin.post("/projects", {"name": "X"}), 422, "validation_error", "organisation")
    assert_error(admin.post("/projects", {**body, "organisation": str(world.outsider.personal_organisation.pk)}),
                 404, "not_found_error")
    assert_error(admin.get("/projects", {"organisation": "nope"}), 422, "validation_error", "organisation")
    assert_error(as_role("member").post("/projects", {**body, "name": "Other"}), 403, "authorization_error")
    prompts.change_status(world.owner, world.pset, "review")
    assert_error(admin.delete(f"/projects/{world.project.pk}"), 409, "conflict_error")


def test_prompt_sets_and_their_status(world, as_role):
    member = as_role("member")
    created = member.post(f"/projects/{world.project.pk}/prompt_sets",
                          {"name": "Chat", "metadata": {"model": "gpt"}})
    assert created.status_code == 201
    chat = created.json()
    assert (chat["slug"], chat["status"], chat["metadata"], chat["project_id"], chat["organisation_id"]) == (
        "chat", "live", {"model": "gpt"}, str(world.project.pk), str(world.org.pk))
    listed = member.get(f"/projects/{world.project.pk}/prompt_sets").json()["data"]
    assert [s["slug"] for s in listed] == ["emails", "chat"]
    assert member.patch(f"/prompt_sets/{chat['id']}", {"description": "d"}).json()["description"] == "d"

    submitted = member.post(f"/prompt_sets/{chat['id']}/status", {"status": "review"})
    assert submitted.status_code == 200 and submitted.json()["status"] == "review"
    assert_error(member.post(f"/prompt_sets/{chat['id']}/status", {"status": "locked"}), 403, "authorization_error")
    assert_error(member.patch(f"/prompt_sets/{chat['id']}", {"description": "e"}), 409, "conflict_error")
    admin = as_role("admin")
    assert admin.post(f"/prompt_sets/{chat['id']}/status", {"status": "locked"}).json()["status"] == "locked"
    assert_error(admin.post(f"/prompt_sets/{chat['id']}/status", {"status": "review"}), 409, "conflict_error")
    assert_error(admin.post(f"/prompt_sets/{chat['id']}/status", {"status": "gone"}), 422, "validation_error",
                 "status")
    assert_error(admin.delete(f"/prompt_sets/{chat['id']}"), 409, "conflict_error")
    assert admin.post(f"/prompt_sets/{chat['id']}/status", {"status": "live"}).json()["status"] == "live"
    assert_error(member.delete(f"/prompt_sets/{chat['id']}"), 403, "authorization_error")
    assert admin.delete(f"/prompt_sets/{chat['id']}").status_code == 204


def test_a_set_with_undeclared_parameters_cannot_go_to_review(world, as_role):
    member = as_role("member")
    member.patch(f"/prompts/{world.prompt.pk}", {"template": "Hi {{ name }} from {{ company }}"})
    error = assert_error(member.post(f"/prompt_sets/{world.pset.pk}/status", {"status": "review"}), 422,
                         "validation_error", "prompts.welcome")
    assert "company" in error["details"][0]["message"]


def test_prompts_carry_their_template_analysis(world, as_role):
    member = as_role("member")
    created = member.post(f"/prompt_sets/{world.pset.pk}/prompts", {
        "name": "Follow up", "template": "Dear {{ name }}, about {{ topic }}",
        "parameters": [{"name": "name"}, {"name": "tone", "required": False, "default": "warm"}],
        "metadata": {"temperature": 0.2}})
    assert created.status_code == 201
    prompt = created.json()
    assert (prompt["slug"], prompt["flat_id"]) == ("follow_up", "emails.follow_up")
    assert prompt["analysis"] == {"valid": True, "error": None, "variables": ["name", "topic"],
                                  "missing": ["topic"], "unused": ["tone"], "matched": ["name"],
                                  "partials": [], "placeholders": [], "problems": []}
    assert (prompt["kind"], prompt["messages"], prompt["config"]) == ("text", [], {})
    assert prompt["parameters"][1] == {"name": "tone", "type": "string", "description": "", "required": False,
                                       "default": "warm"}
    assert member.get(f"/prompts/{prompt['id']}").json() == prompt
    listed = member.get(f"/prompt_sets/{world.pset.pk}/prompts").json()["data"]
    assert [p["slug"] for p in listed] == ["welcome", "follow_up"]

    updated = member.patch(f"/prompts/{prompt['id']}", {"parameters": [{"name": "name"}, {"name": "topic"}]})
    assert updated.json()["analysis"]["missing"] == [] and updated.json()["template"].startswith("Dear")
    assert member.delete(f"/prompts/{prompt['id']}").status_code == 204
    assert not Prompt.objects.filter(pk=prompt["id"]).exists()


@pytest.mark.parametrize("body, field", [
    ({"name": "X", "template": "{% if %}"}, "template"),
    ({"name": "X", "parameters": [{"name": "1bad"}]}, "parameters.1bad"),
    ({"name": "X", "parameters": [{"name": "n", "type": "date"}]}, "parameters.0.type"),
    ({"name": "X", "metadata": ["not", "an", "object"]}, "metadata"),
    ({"name": "Welcome"}, "name"),
    ({"template": "x"}, "name"),
])
def test_prompt_errors_name_the_field(world, as_role, body, field):
    response = as_role("member").post(f"/prompt_sets/{world.pset.pk}/prompts", body)
    assert_error(response, 409 if body.get("name") == "Welcome" else 422,
                 "conflict_error" if body.get("name") == "Welcome" else "validation_error", field)


def test_a_template_syntax_error_says_where(world, as_role):
    error = assert_error(as_role("member").patch(f"/prompts/{world.prompt.pk}", {"template": "Hi\n{% if %}"}),
                         422, "validation_error", "template")
    assert (error["details"][0]["line"], error["details"][0]["column"]) == (2, 4)


def test_edits_to_a_locked_set_are_refused(world, as_role):
    prompts.change_status(world.owner, world.pset, "review")
    prompts.change_status(world.owner, world.pset, "locked")
    member = as_role("member")
    assert_error(member.patch(f"/prompts/{world.prompt.pk}", {"template": "x"}), 409, "conflict_error")
    assert_error(member.post(f"/prompt_sets/{world.pset.pk}/prompts", {"name": "New"}), 409, "conflict_error")
    assert_error(member.delete(f"/prompts/{world.prompt.pk}"), 409, "conflict_error")
    assert member.get(f"/prompts/{world.prompt.pk}").status_code == 200


def test_render_the_working_copy(world, as_role):
    member = as_role("member")
    rendered = member.post(f"/prompts/{world.prompt.pk}/render", {"variables": {"name": "Ada"}})
    assert rendered.status_code == 200 and rendered.json() == {"kind": "text", "rendered": "Hello Ada!",
                                                               "messages": None, "config": {}}
    error = assert_error(member.post(f"/prompts/{world.prompt.pk}/render", {}), 422, "validation_error",
                         "variables.name")
    assert "name" in error["message"]
    assert_error(member.post(f"/prompts/{world.prompt.pk}/render", {"variables": []}), 422, "validation_error",
                 "variables")


def test_render_by_address_with_any_specifier(world, as_role):
    member = as_role("member")
    prompts.update_prompt(world.owner, world.prompt, template="Hi {{ name }}!")
    prompts.create_version(world.owner, world.pset, "1.1.0-beta.1")
    cases = {
        "acme/support/emails/welcome": ("Hi Ada!", None),
        "support/emails@1.0.0/welcome": ("Hello Ada!", "1.0.0"),
        "acme/support/emails@latest/welcome": ("Hi Ada!", "1.1.0-beta.1"),
        "acme/support/emails@stable/welcome": ("Hello Ada!", "1.0.0"),
        "@support/emails@^1.0/welcome": ("Hello Ada!", "1.0.0"),
        "acme/support/emails@>=1.0.0 <2.0.0/welcome": ("Hello Ada!", "1.0.0"),
        "acme/support/emails@1.1.0-beta.1/welcome": ("Hi Ada!", "1.1.0-beta.1"),
    }
    for address, (text, label) in cases.items():
        response = member.post("/render", {"address": address, "variables": {"name": "Ada"}})
        assert response.status_code == 200, (address, response.json())
        body = response.json()
        assert (body["rendered"], body["version"], body["prompt"], body["prompt_set_id"]) == (
            text, label, "welcome", str(world.pset.pk)), address


@pytest.mark.parametrize("address, status, field", [
    ("acme/support", 422, "address"),
    ("acme/Support/emails/welcome", 422, "project"),
    ("acme/support/emails@1.0/welcome@2", 422, "version"),
    ("acme/nope/emails/welcome", 404, "project"),
    ("acme/support/nope/welcome", 404, "prompt_set"),
    ("acme/support/emails@9.0.0/welcome", 404, "version"),
    ("acme/support/emails/nope", 404, "prompt"),
    ("other/support/emails/welcome", 404, "organisation"),
])
def test_a_bad_address_names_the_wrong_part(world, as_role, address, status, field):
    response = as_role("member").post("/render", {"address": address, "variables": {"name": "Ada"}})
    assert_error(response, status, "validation_error" if status == 422 else "not_found_error", field)


def test_an_outsider_cannot_render_the_organisations_prompts(world, as_role):
    response = as_role("outsider").post("/render", {"address": "acme/support/emails/welcome",
                                                    "variables": {"name": "Ada"}})
    assert_error(response, 404, "not_found_error", "organisation")
