"""The query functions the web UI added: lookups by slug, overviews, transitions, labels, draft checks, search."""

import pytest

from anvil_forge.core.errors import NotFound
from anvil_forge.orgs import queries as org_queries
from anvil_forge.orgs.services import invite_member
from anvil_forge.prompts import queries
from anvil_forge.prompts import services as prompts

from ..conftest import refresh


def test_lookups_by_slug_are_scoped(world):
    assert queries.get_project_by_slug(world.member, world.org, "support") == world.project
    assert queries.get_prompt_set_by_slug(world.member, world.project, "emails") == world.pset
    assert queries.get_prompt_by_slug(world.member, world.pset, "welcome") == world.prompt
    for call in (
        lambda: queries.get_project_by_slug(world.outsider, world.org, "support"),
        lambda: queries.get_project_by_slug(world.member, world.org, "nope"),
        lambda: queries.get_prompt_set_by_slug(world.outsider, world.project, "emails"),
        lambda: queries.get_prompt_by_slug(world.outsider, world.pset, "welcome"),
        lambda: queries.get_prompt_by_slug(world.member, world.pset, "nope"),
    ):
        with pytest.raises(NotFound):
            call()


def test_overviews_count(world):
    other = prompts.create_prompt_set(world.owner, world.project, "Chat", "chat")
    prompts.create_prompt(world.owner, other, "A", "a", "x")
    prompts.create_prompt(world.owner, other, "B", "b", "y")
    prompts.create_project(world.owner, world.org, "Empty", "empty")
    overview = {p.slug: p for p in queries.projects_overview(world.member, world.org)}
    assert (overview["support"].prompt_set_count, overview["support"].prompt_count,
            overview["support"].version_count) == (2, 3, 1)
    assert (overview["empty"].prompt_set_count, overview["empty"].prompt_count) == (0, 0)
    sets = {s.slug: s for s in queries.prompt_sets_overview(world.member, world.project)}
    assert (sets["emails"].prompt_count, sets["emails"].version_count, sets["emails"].latest_label) == (1, 1, "1.0.0")
    assert (sets["chat"].prompt_count, sets["chat"].version_count, sets["chat"].latest_label) == (2, 0, None)
    contents = queries.project_contents(world.member, world.project)
    assert (contents["prompt_set_count"], contents["prompt_count"], contents["version_count"]) == (2, 3, 1)
    assert list(queries.projects_overview(world.outsider, world.org)) == []


def test_dashboard_counts(world):
    prompts.change_status(world.member, world.pset, "review")
    counts = queries.counts(world.member, world.org)
    assert counts == {"projects": 1, "prompt_sets": 1, "prompts": 1, "versions": 1, "in_review": 1, "locked": 0,
                      "live_instances": 0}
    assert queries.counts(world.outsider, world.org)["projects"] == 0


@pytest.mark.parametrize("role,status,verbs", [
    ("member", "live", ["submit"]),
    ("member", "review", []),
    ("member", "locked", []),
    ("admin", "live", ["submit"]),
    ("admin", "review", ["approve", "reject"]),
    ("owner", "locked", ["unlock"]),
    ("outsider", "live", []),
])
def test_allowed_transitions(world, role, status, verbs):
    if status in ("review", "locked"):
        prompts.change_status(world.owner, world.pset, "review")
    if status == "locked":
        prompts.change_status(world.owner, world.pset, "locked")
    found = [t["verb"] for t in queries.allowed_transitions(world.users[role], refresh(world.pset))]
    assert sorted(found) == sorted(verbs)


def test_suggested_labels(world):
    assert queries.suggested_labels(world.pset) == [("patch", "1.0.1"), ("minor", "1.1.0"), ("major", "2.0.0")]
    prompts.create_version(world.owner, world.pset, "1.1.0-beta.1")
    assert queries.suggested_labels(world.pset)[:2] == [("release", "1.1.0"), ("next pre-release", "1.1.0-beta.2")]
    empty = prompts.create_prompt_set(world.owner, world.project, "New", "new")
    assert queries.suggested_labels(empty)[0] == ("first", "0.1.0")
    from anvil_client.versions import check_new_label

    existing = list(world.pset.versions.values_list("label", flat=True))
    for _, label in queries.suggested_labels(world.pset):  # every suggestion would be accepted
        check_new_label(label, existing)


def test_check_draft():
    ok = queries.check_draft("Hi {{ name }} {{ age }}", [{"name": "name"}, {"name": "spare", "type": "number"}])
    assert ok["syntax"] is None
    assert (ok["missing"], ok["unused"], ok["matched"]) == (["age"], ["spare"], ["name"])
    bad = queries.check_draft("Hi {{ name", [])
    assert bad["syntax"]["line"] == 1 and bad["syntax"]["column"] and "line 1" in bad["syntax"]["message"]
    errors = queries.check_draft("{{ a }}", [{"name": "a", "type": "colour"}, {"name": "1x"}, {"name": "a"}])
    assert "a" in errors["parameter_errors"] and "" not in errors["missing"]
    assert errors["matched"] == ["a"]
    required_default = queries.check_draft("{{ a }}", [{"name": "a", "required": True, "default": "x"}])
    assert "cannot have a default" in required_default["parameter_errors"]["a"]


def test_search_finds_only_visible_things(world, make_user):
    stranger = make_user("stranger@example.com")
    hits = queries.search(world.member, "welc")
    assert hits[0]["kind"] == "prompt" and hits[0]["path"] == "acme/support/emails/welcome"
    assert queries.search(world.member, "emails")[0]["kind"] == "prompt_set"
    assert queries.search(world.outsider, "welc") == []
    assert queries.search(stranger, "") == []
    assert {h["kind"] for h in queries.search(world.member, "")} == {"project", "prompt_set", "prompt"}
    assert len(queries.search(world.member, "", limit=2)) == 2


def test_organisations_overview(world):
    rows = {o.slug: o for o in org_queries.organisations_overview(world.member)}
    assert rows["acme"].my_role == "member"
    assert (rows["acme"].member_count, rows["acme"].project_count) == (4, 1)
    assert next(iter(org_queries.organisations_overview(world.member))).personal  # personal first


def test_member_lookup(world):
    assert org_queries.member(world.member, world.org, world.admin.pk).user == world.admin
    for user_id in (world.outsider.pk, "not-a-uuid"):
        with pytest.raises(NotFound):
            org_queries.member(world.member, world.org, user_id)
    with pytest.raises(NotFound):
        org_queries.member(world.outsider, world.org, world.admin.pk)


def test_invitation_for_token(world, settings):
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    result = invite_member(world.owner, world.org, "new@example.com", "member")
    invitation = org_queries.invitation_for_token(result.token)
    assert invitation.email == "new@example.com"
    assert org_queries.invitee_has_account(invitation) is False
    with pytest.raises(NotFound):
        org_queries.invitation_for_token("inv_wrong")
