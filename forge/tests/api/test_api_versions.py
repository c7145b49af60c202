"""Versions over the API: create, list, read by label and id, diff, roll back; and ETags on single resources."""

from anvil_forge.prompts import services as prompts

from ..api_support import Api, as_role, assert_error, fresh_rate_limits  # noqa: F401


def test_create_list_and_read_versions(world, as_role):
    member = as_role("member")
    member.patch(f"/prompts/{world.prompt.pk}", {"template": "Hi {{ name }}!"})
    created = member.post(f"/prompt_sets/{world.pset.pk}/versions", {"label": "1.1.0", "changelog": "friendlier"})
    assert created.status_code == 201
    version = created.json()
    assert (version["label"], version["sequence"], version["changelog"], version["created_by_email"]) == (
        "1.1.0", 2, "friendlier", "member@example.com")
    assert version["snapshot"]["prompts"]["welcome"]["template"] == "Hi {{ name }}!"
    assert version["snapshot"]["metadata"] == {"model": "m1"}

    listed = member.get(f"/prompt_sets/{world.pset.pk}/versions").json()
    assert [v["label"] for v in listed["data"]] == ["1.1.0", "1.0.0"]  # newest first
    assert "snapshot" not in listed["data"][0]
    assert member.get(f"/prompt_sets/{world.pset.pk}/versions/1.1.0").json() == version
    assert member.get(f"/versions/{version['id']}").json() == version


def test_version_errors(world, as_role):
    member = as_role("member")
    url = f"/prompt_sets/{world.pset.pk}/versions"
    assert_error(member.post(url, {"label": "0.9.0"}), 422, "validation_error", "label")
    assert_error(member.post(url, {"label": "1.0.0"}), 422, "validation_error", "label")
    assert_error(member.post(url, {"label": "one"}), 422, "validation_error", "label")
    assert_error(member.post(url, {"label": "1." + "1" * 200}), 422, "validation_error", "label")
    assert_error(member.get(f"{url}/9.9.9"), 404, "not_found_error")
    assert_error(member.get(f"/versions/{world.prompt.pk}"), 404, "not_found_error")


def test_versions_can_be_made_of_a_locked_set(world, as_role):
    prompts.change_status(world.owner, world.pset, "review")
    prompts.change_status(world.owner, world.pset, "locked")
    response = as_role("member").post(f"/prompt_sets/{world.pset.pk}/versions", {"label": "1.0.1"})
    assert response.status_code == 201


def test_diff_between_versions_and_with_the_working_copy(world, as_role):
    member = as_role("member")
    member.patch(f"/prompts/{world.prompt.pk}", {"template": "Hi {{ name }}!",
                                                 "parameters": [{"name": "name", "description": "who"}]})
    member.post(f"/prompt_sets/{world.pset.pk}/prompts", {"name": "Bye", "template": "Bye"})
    working = member.get(f"/prompt_sets/{world.pset.pk}/diff", {"from": "1.0.0"})
    assert working.status_code == 200
    diff = working.json()
    assert (diff["from"], diff["to"]) == ("1.0.0", None)
    assert diff["summary"] == {"added": 1, "removed": 0, "changed": 1, "unchanged": 0}
    assert diff["prompts"]["added"] == ["bye"]
    change = diff["prompts"]["changed"][0]
    assert change["slug"] == "welcome"
    assert [(line["op"], line["text"]) for line in change["template"]["lines"]] == [
        ("remove", "Hello {{ name }}!"), ("add", "Hi {{ name }}!")]
    assert change["parameters"]["changed"] == [{"name": "name", "changes": {"description": {"from": "", "to": "who"}}}]

    member.post(f"/prompt_sets/{world.pset.pk}/versions", {"label": "2.0.0"})
    between = member.get(f"/prompt_sets/{world.pset.pk}/diff", {"from": "1.0.0", "to": "2.0.0"}).json()
    assert between["to"] == "2.0.0" and between["summary"] == diff["summary"]
    assert_error(member.get(f"/prompt_sets/{world.pset.pk}/diff", {"from": "3.0.0"}), 404, "not_found_error")
    assert_error(member.get(f"/prompt_sets/{world.pset.pk}/diff"), 422, "validation_error", "from")


def test_rollback_creates_a_new_version_equal_to_an_old_one(world, as_role):
    member = as_role("member")
    member.patch(f"/prompts/{world.prompt.pk}", {"template": "Hi {{ name }}!"})
    member.post(f"/prompt_sets/{world.pset.pk}/versions", {"label": "1.1.0"})
    rolled = member.post(f"/prompt_sets/{world.pset.pk}/rollback", {"to": "1.0.0", "label": "1.2.0"})
    assert rolled.status_code == 201
    body = rolled.json()
    assert (body["label"], body["sequence"], body["changelog"]) == ("1.2.0", 3, "Roll back to 1.0.0")
    assert body["snapshot"]["prompts"]["welcome"]["template"] == "Hello {{ name }}!"
    assert member.get(f"/prompts/{world.prompt.pk}").json()["template"] == "Hi {{ name }}!"  # working copy kept
    assert_error(member.post(f"/prompt_sets/{world.pset.pk}/rollback", {"to": "0.1.0", "label": "1.3.0"}),
                 404, "not_found_error", "to")
    assert_error(member.post(f"/prompt_sets/{world.pset.pk}/rollback", {"to": "1.0.0", "label": "1.0.5"}),
                 422, "validation_error", "label")
    assert_error(member.post(f"/prompt_sets/{world.pset.pk}/rollback", {"label": "1.3.0"}),
                 422, "validation_error", "to")


# --- ETags ------------------------------------------------------------------------------------


def test_single_resources_send_an_etag_and_answer_304(world, as_role):
    api = as_role("member")
    for path in (f"/organisations/{world.org.pk}", f"/projects/{world.project.pk}", f"/prompt_sets/{world.pset.pk}",
                 f"/prompts/{world.prompt.pk}", f"/versions/{world.version.pk}",
                 f"/prompt_sets/{world.pset.pk}/versions/1.0.0"):
        first = api.get(path)
        tag = first["ETag"]
        assert first.status_code == 200 and tag.startswith('"') and len(tag) == 34, path
        assert api.get(path)["ETag"] == tag  # same body, same tag
        again = api.get(path, **{"If-None-Match": tag})
        assert again.status_code == 304 and again.content == b"" and again["ETag"] == tag, path
        assert "X-RateLimit-Remaining" in again
        assert api.get(path, **{"If-None-Match": f'"other", W/{tag}'}).status_code == 304
        assert api.get(path, **{"If-None-Match": "*"}).status_code == 304
        assert api.get(path, **{"If-None-Match": '"other"'}).status_code == 200


def test_the_etag_changes_with_the_resource(world, as_role):
    api = as_role("member")
    tag = api.get(f"/prompts/{world.prompt.pk}")["ETag"]
    api.patch(f"/prompts/{world.prompt.pk}", {"description": "new"})
    changed = api.get(f"/prompts/{world.prompt.pk}", **{"If-None-Match": tag})
    assert changed.status_code == 200 and changed["ETag"] != tag


def test_lists_and_errors_have_no_etag(world, as_role):
    api = as_role("member")
    assert "ETag" not in api.get("/organisations")
    assert "ETag" not in api.get(f"/prompts/{world.outsider.pk}")
