"""Organisations, members and the audit log over the API: happy paths and errors."""

from anvil_forge.orgs.models import Invitation, Membership, Organisation

from ..api_support import Api, as_role, assert_error, fresh_rate_limits, key_for  # noqa: F401

RESOURCE = {"id", "created_at", "updated_at"}


def test_list_shows_the_callers_organisations_with_their_role(world, as_role):
    body = as_role("admin").get("/organisations").json()
    assert body["meta"] == {"next_cursor": None, "has_more": False}
    assert {(o["slug"], o["role"], o["personal"]) for o in body["data"]} == {
        ("admin", "owner", True), ("acme", "admin", False)}
    assert [o["slug"] for o in as_role("outsider").get("/organisations").json()["data"]] == ["outsider"]


def test_create_read_update_delete(world, as_role):
    api = as_role("member")
    created = api.post("/organisations", {"name": "Globex", "description": "d"})
    assert created.status_code == 201
    org = created.json()
    assert RESOURCE <= set(org) and (org["name"], org["slug"], org["role"], org["personal"]) == (
        "Globex", "globex", "owner", False)
    assert api.get(f"/organisations/{org['id']}").json() == org
    updated = api.patch(f"/organisations/{org['id']}", {"name": "Globex Corp", "slug": "globex-corp"})
    assert updated.status_code == 200 and updated.json()["slug"] == "globex-corp"
    assert updated.json()["description"] == "d"  # fields not sent are kept
    assert api.delete(f"/organisations/{org['id']}").status_code == 204
    assert not Organisation.objects.filter(pk=org["id"]).exists()
    assert_error(api.get(f"/organisations/{org['id']}"), 404, "not_found_error")


def test_organisation_errors(world, as_role):
    owner = as_role("owner")
    assert_error(owner.post("/organisations", {"name": "Acme"}), 409, "conflict_error", "name")
    assert_error(owner.post("/organisations", {"name": "New", "slug": "Bad Slug"}), 422, "validation_error", "slug")
    assert_error(owner.post("/organisations", {}), 422, "validation_error", "name")
    assert_error(owner.post("/organisations", {"name": "a\x00b"}), 422, "validation_error", "name")
    assert_error(owner.patch(f"/organisations/{world.org.pk}", {"name": ""}), 422, "validation_error", "name")
    personal = world.owner.personal_organisation
    assert_error(owner.delete(f"/organisations/{personal.pk}"), 409, "conflict_error")
    assert_error(owner.get("/organisations/not-a-uuid"), 404, "not_found_error")
    assert_error(as_role("admin").patch(f"/organisations/{world.org.pk}", {"description": "x"}), 403,
                 "authorization_error")
    assert_error(as_role("outsider").get(f"/organisations/{world.org.pk}"), 404, "not_found_error")


def test_members_list_invite_change_and_remove(world, as_role, make_user):
    owner = as_role("owner")
    members = owner.get(f"/organisations/{world.org.pk}/members").json()["data"]
    assert {(m["email"], m["role"]) for m in members} == {
        ("owner@example.com", "owner"), ("admin@example.com", "admin"), ("member@example.com", "member"),
        ("other-member@example.com", "member")}
    assert all(m["object"] == "membership" and RESOURCE <= set(m) for m in members)

    joined = owner.post(f"/organisations/{world.org.pk}/members", {"email": "OUTSIDER@example.com", "role": "admin"})
    assert joined.status_code == 201
    assert joined.json()["object"] == "membership"
    assert (joined.json()["user_id"], joined.json()["role"]) == (str(world.outsider.pk), "admin")

    invited = owner.post(f"/organisations/{world.org.pk}/members", {"email": "new@example.com", "role": "member"})
    assert invited.status_code == 201
    invitation = invited.json()
    assert (invitation["object"], invitation["email"], invitation["role"], invitation["accepted_at"]) == (
        "invitation", "new@example.com", "member", None)
    assert Invitation.objects.get(pk=invitation["id"]).accepted_at is None

    make_user("unconfirmed@example.com", email_verified=False)  # an account, its address not confirmed
    pending = owner.post(f"/organisations/{world.org.pk}/members", {"email": "unconfirmed@example.com", "role": "member"})
    assert pending.status_code == 201
    assert (pending.json()["object"], pending.json()["accepted_at"]) == ("invitation", None)

    changed = owner.patch(f"/organisations/{world.org.pk}/members/{world.other.pk}", {"role": "admin"})
    assert changed.status_code == 200 and changed.json()["role"] == "admin"
    assert owner.delete(f"/organisations/{world.org.pk}/members/{world.other.pk}").status_code == 204
    assert not Membership.objects.filter(user=world.other, organisation=world.org).exists()


def test_member_errors(world, as_role):
    owner, org = as_role("owner"), world.org.pk
    assert_error(owner.post(f"/organisations/{org}/members", {"email": "member@example.com", "role": "member"}),
                 409, "conflict_error")
    assert_error(owner.post(f"/organisations/{org}/members", {"email": "nope", "role": "member"}),
                 422, "validation_error", "email")
    assert_error(owner.post(f"/organisations/{org}/members", {"email": "a@example.com", "role": "boss"}),
                 422, "validation_error", "role")
    assert_error(owner.patch(f"/organisations/{org}/members/{world.outsider.pk}", {"role": "admin"}),
                 404, "not_found_error")
    # the last owner cannot leave or be demoted
    assert_error(owner.patch(f"/organisations/{org}/members/{world.owner.pk}", {"role": "member"}),
                 409, "conflict_error")
    assert_error(owner.delete(f"/organisations/{org}/members/{world.owner.pk}"), 409, "conflict_error")
    member = as_role("member")
    assert_error(member.delete(f"/organisations/{org}/members/{world.other.pk}"), 403, "authorization_error")
    assert member.delete(f"/organisations/{org}/members/{world.member.pk}").status_code == 204  # leaving


def test_the_audit_log_is_newest_first_and_paginated(world, as_role):
    api = as_role("member")
    api.patch(f"/prompts/{world.prompt.pk}", {"template": "Hi {{ name }}"})
    first = api.get(f"/organisations/{world.org.pk}/audit", {"limit": 2}).json()
    assert [e["action"] for e in first["data"]] == ["prompt.update", "version.create"]
    assert first["data"][0]["actor_email"] == "member@example.com"
    assert first["data"][0]["summary"] == {"prompt_set": "emails", "fields": ["template"]}
    assert first["meta"]["has_more"] is True
    rest = api.get(f"/organisations/{world.org.pk}/audit", {"cursor": first["meta"]["next_cursor"]}).json()
    assert [e["action"] for e in rest["data"]] == ["prompt.create", "prompt_set.create", "project.create",
                                                   "organisation.create"]
    assert rest["meta"] == {"next_cursor": None, "has_more": False}
    assert_error(as_role("outsider").get(f"/organisations/{world.org.pk}/audit"), 404, "not_found_error")
