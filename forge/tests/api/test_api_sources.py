"""Sources over the REST API: a prompt set as prompt files hold it, read with an ETag and replaced with
If-Match (what `anvil-client pull/diff/push` use; docs/prompts-as-code.md)."""

import pytest

from anvil_forge.prompts import services as prompts
from anvil_forge.prompts.models import Prompt

from ..api_support import Api, fresh_rate_limits, key_for  # noqa: F401

pytestmark = pytest.mark.django_db

TEST = {"name": "greets", "variables": {"name": "Ann"}, "assert": [{"type": "contains", "value": "Ann"}]}


@pytest.fixture
def api(world):
    return Api(key_for(world.member))


def url(world, slug="emails"):
    return f"/projects/{world.project.pk}/sources/{slug}"


def test_a_source_holds_the_whole_working_copy_with_a_content_etag(world, api):
    prompts.update_prompt(world.owner, world.prompt, tests=[TEST])
    response = api.get(url(world))
    assert response.status_code == 200
    body = response.json()
    assert response["ETag"] == body["etag"] and body["status"] == "live" and body["version"] is None
    [prompt] = body["prompts"]
    assert prompt["slug"] == "welcome" and prompt["template"] == "Hello {{ name }}!"
    assert prompt["tests"] == [TEST] and prompt["parameters"][0]["name"] == "name"
    assert api.get(url(world), **{"If-None-Match": body["etag"]}).status_code == 304
    listed = api.get(f"/projects/{world.project.pk}/sources").json()["items"]
    assert [s["slug"] for s in listed] == ["emails"] and listed[0]["etag"] == body["etag"]


def _document(body):
    return {k: body[k] for k in ("slug", "name", "description", "dependencies", "config", "metadata", "prompts")}


def test_a_put_creates_changes_and_deletes_prompts_in_one_go(world, api):
    current = api.get(url(world)).json()
    document = _document(current)
    document["prompts"] = [
        {"slug": "bye", "name": "Bye", "template": "Bye {{ name }}", "parameters": [{"name": "name"}],
         "tests": [{**TEST, "assert": [{"type": "equals", "value": "Bye Ann"}]}]},
    ]
    response = api.put(url(world), document, **{"If-Match": current["etag"]})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["changes"] == {"set": [], "created": ["bye"], "changed": {}, "deleted": ["welcome"]}
    assert sorted(Prompt.objects.filter(prompt_set=world.pset).values_list("slug", flat=True)) == ["bye"]
    assert body["pushed_etag"] == body["etag"] == response["ETag"]
    # The same document again: nothing changes, the ETag stays.
    again = api.put(url(world), document, **{"If-Match": body["etag"]}).json()
    assert again["changes"] == {"set": [], "created": [], "changed": {}, "deleted": []}
    assert again["etag"] == body["etag"]


def test_a_stale_if_match_is_412_and_nothing_is_written(world, api):
    current = api.get(url(world)).json()
    prompts.update_prompt(world.owner, world.prompt, template="Edited on the FORGE {{ name }}")
    document = _document(current)
    document["prompts"][0]["template"] = "From files {{ name }}"
    response = api.put(url(world), document, **{"If-Match": current["etag"]})
    assert response.status_code == 412
    assert response.json()["error"]["type"] == "precondition_failed"
    assert "changed on the FORGE" in response.json()["error"]["message"]
    world.prompt.refresh_from_db()
    assert world.prompt.template == "Edited on the FORGE {{ name }}"
    after = api.get(url(world)).json()
    assert after["pushed_etag"] is None  # an edit on the FORGE: not what a push wrote


def test_review_and_locked_sets_are_never_replaced(world, api):
    current = api.get(url(world)).json()
    prompts.change_status(world.member, world.pset, "review")
    document = _document(current)
    document["prompts"][0]["template"] = "Changed {{ name }}"
    response = api.put(url(world), document, **{"If-Match": current["etag"]})
    assert response.status_code == 409 and "REVIEW" in response.json()["error"]["message"]


def test_if_none_match_star_creates_a_new_set_once(world, api):
    document = {"slug": "common", "name": "Common", "prompts": [
        {"slug": "tone", "name": "Tone", "template": "Be kind."}]}
    created = api.put(url(world, "common"), document, **{"If-None-Match": "*"})
    assert created.status_code == 201, created.json()
    assert created.json()["changes"]["created"] == ["tone"]
    assert api.put(url(world, "common"), document, **{"If-None-Match": "*"}).status_code == 412
    assert api.put(url(world, "missing"), {**document, "slug": "missing"}).status_code == 404


def test_new_prompts_may_render_each_other_and_a_broken_partial_is_refused_whole(world, api):
    current = api.get(url(world)).json()
    document = _document(current)
    document["prompts"] += [
        {"slug": "a_outer", "name": "Outer", "template": "{% render 'z_inner' %}!"},
        {"slug": "z_inner", "name": "Inner", "template": "inner"},
    ]
    ok = api.put(url(world), document, **{"If-Match": current["etag"]})
    assert ok.status_code == 200, ok.json()
    broken = _document(ok.json())
    broken["prompts"] = [p for p in broken["prompts"] if p["slug"] != "z_inner"]
    response = api.put(url(world), broken, HTTP_IF_MATCH=ok.json()["etag"])
    assert response.status_code == 422 and "z_inner" in response.json()["error"]["message"]
    assert Prompt.objects.filter(prompt_set=world.pset, slug="z_inner").exists()  # nothing half-written


def test_an_invalid_test_is_422_naming_the_prompt_and_path(world, api):
    current = api.get(url(world)).json()
    document = _document(current)
    document["prompts"][0]["tests"] = [{"name": "t", "assert": [{"type": "regex", "value": "("}]}]
    response = api.put(url(world), document, **{"If-Match": current["etag"]})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["details"][0]["field"] == "prompts[0].tests[0].assert[0].value"
    assert "welcome" in error["message"]


def test_the_document_slug_must_be_the_address(world, api):
    current = api.get(url(world)).json()
    response = api.put(url(world), {**_document(current), "slug": "other"})
    assert response.status_code == 422 and response.json()["error"]["details"][0]["field"] == "slug"


def test_a_version_can_be_read_as_a_source(world, api):
    prompts.update_prompt(world.owner, world.prompt, template="Newer {{ name }}")
    body = api.get(url(world), {"version": "1.0.0"}).json()
    assert body["version"] == "1.0.0" and body["prompts"][0]["template"] == "Hello {{ name }}!"
    assert api.get(url(world), {"version": "9.9.9"}).status_code == 404


def test_run_tests_and_update_snapshots(world, api):
    prompts.update_prompt(world.owner, world.prompt, tests=[TEST, {"name": "snap", "assert": [
        {"type": "snapshot"}], "variables": {"name": "Bo"}}])
    run = api.post(f"/prompts/{world.prompt.pk}/run_tests").json()
    assert (run["total"], run["passed"], run["failed"]) == (2, 1, 1)
    assert run["results"][1]["failures"] and run["results"][1]["assertions"][0]["type"] == "snapshot"
    updated = api.post(f"/prompts/{world.prompt.pk}/test_snapshots", {"names": ["snap"]}).json()
    assert updated == {"updated": ["snap"]}
    assert api.post(f"/prompts/{world.prompt.pk}/run_tests").json()["failed"] == 0


def test_locking_through_the_api_is_refused_while_a_test_fails(world):
    owner = Api(key_for(world.owner))
    prompts.update_prompt(world.owner, world.prompt, tests=[{**TEST, "assert": [{"type": "contains",
                                                                                  "value": "Zed"}]}])
    assert owner.post(f"/prompt_sets/{world.pset.pk}/status", {"status": "review"}).status_code == 200
    refused = owner.post(f"/prompt_sets/{world.pset.pk}/status", {"status": "locked"})
    assert refused.status_code == 409 and "welcome: greets" in refused.json()["error"]["message"]
    assert owner.patch(f"/projects/{world.project.pk}", {"tests_gate": False}).json()["tests_gate"] is False
    assert owner.post(f"/prompt_sets/{world.pset.pk}/status", {"status": "locked"}).status_code == 200
    assert Api(key_for(world.member)).patch(f"/projects/{world.project.pk}", {"tests_gate": True}).status_code == 403


def test_the_client_computes_the_same_etag_from_its_files(world, api):
    """`anvil-client` decides "nothing to push" and conflicts from its files: the tags must agree."""
    from anvil_client import project_files

    prompts.update_prompt(world.owner, world.prompt, tests=[TEST], config={"temperature": 0.2})
    body = api.get(url(world)).json()
    document = _document(body)
    assert project_files.etag(document) == body["etag"]
    files = project_files.set_files(document)
    assert project_files.etag(project_files.parse_set_files("emails", files)) == body["etag"]
