"""Web UI: organisations, members, invitations, roles, the audit log; refused actions are messages, outsiders 404."""

import pytest
from django.core import mail

from anvil_forge.orgs.models import Membership, Organisation


@pytest.fixture(autouse=True)
def memory_mail(settings):
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}


def signed_in(client, user):
    client.force_login(user)
    return client


def text(response):
    return response.content.decode()


@pytest.mark.parametrize("role", ["owner", "admin", "member"])
def test_organisation_pages_render_for_every_role(client, world, role):
    signed_in(client, world.users[role])
    for path in ("/", "/orgs/", "/o/acme/", "/o/acme/members", "/o/acme/audit", "/o/acme/settings", "/help",
                 "/forges", "/account"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert 'aria-label="Breadcrumb"' in text(response), path


def test_outsiders_get_404(client, world):
    signed_in(client, world.outsider)
    for path in ("/o/acme/", "/o/acme/members", "/o/acme/audit", "/o/acme/settings", "/o/acme/delete",
                 "/o/acme/p/support/", "/o/acme/p/support/s/emails/", "/o/acme/p/support/s/emails/prompts/welcome/",
                 "/o/acme/p/support/s/emails/v/1.0.0/", "/o/nope/"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "404" in text(response)
    assert client.post("/o/acme/members/invite", {"email": "x@example.com", "role": "member"}).status_code == 404
    assert client.post("/orgs/switch", {"organisation": "acme"}).status_code == 404


def test_create_and_switch_organisation(client, world):
    signed_in(client, world.member)
    response = client.post("/orgs/new", {"name": "Beta Corp", "slug": "", "description": ""}, follow=True)
    assert "Organisation Beta Corp created" in text(response)
    beta = Organisation.objects.get(slug="beta-corp")
    assert response.context["shell"].organisation == beta
    response = client.post("/orgs/switch", {"organisation": "acme"}, follow=True)
    assert response.context["shell"].organisation == world.org
    assert response.redirect_chain[-1][0] == "/o/acme/"
    response = client.post("/orgs/new", {"name": "beta corp"})
    assert "already taken" in text(response)


def test_settings_edit_owner_only(client, world):
    signed_in(client, world.member)
    page = client.get("/o/acme/settings")
    assert "Only owners change these settings" in text(page)
    response = client.post("/o/acme/settings", {"name": "Hacked", "slug": "acme"}, follow=True)
    assert response.status_code == 200 and "may not edit or delete the organisation" in text(response)
    assert Organisation.objects.get(pk=world.org.pk).name == "Acme"
    signed_in(client, world.owner)
    response = client.post("/o/acme/settings", {"name": "Acme Inc", "slug": "acme", "description": "d"}, follow=True)
    assert "Organisation settings saved" in text(response)
    assert Organisation.objects.get(pk=world.org.pk).name == "Acme Inc"
    response = client.post("/o/acme/settings", {"name": "Acme Inc", "slug": "Bad Slug"})
    assert "is not valid" in text(response)


def test_delete_organisation(client, world, make_user):
    signed_in(client, world.owner)
    response = client.post("/o/acme/delete", {"confirm": "wrong"})
    assert "Type exactly acme" in text(response)
    response = client.post("/o/acme/delete", {"confirm": "acme"}, follow=True)
    assert "deleted" in text(response)
    assert not Organisation.objects.filter(slug="acme").exists()
    personal = Organisation.objects.get(personal_for=world.owner)
    response = client.post(f"/o/{personal.slug}/delete", {"confirm": personal.slug}, follow=True)
    assert "cannot be deleted" in text(response)


def test_members_page_by_role(client, world):
    signed_in(client, world.member)
    page = text(client.get("/o/acme/members"))
    assert "admin@example.com" in page and "Invite someone" not in page and 'name="role"' not in page
    signed_in(client, world.owner)
    page = text(client.get("/o/acme/members"))
    assert "Invite someone" in page and 'name="role"' in page


def test_invite_change_role_and_remove(client, world, django_capture_on_commit_callbacks):
    signed_in(client, world.owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/o/acme/members/invite", {"email": "new@example.com", "role": "admin"}, follow=True)
    assert "Invitation sent to new@example.com" in text(response)
    assert len(mail.outbox) == 1 and "/invitations/inv_" in mail.outbox[0].body
    response = client.post("/o/acme/members/invite", {"email": "outsider@example.com", "role": "member"}, follow=True)
    assert "already had an account and joined" in text(response)
    response = client.post("/o/acme/members/invite", {"email": "member@example.com", "role": "member"})
    assert "already a member" in text(response)
    response = client.post(f"/o/acme/members/{world.member.pk}/role", {"role": "admin"}, follow=True)
    assert "member@example.com is now admin" in text(response)
    response = client.post(f"/o/acme/members/{world.owner.pk}/role", {"role": "member"}, follow=True)
    assert "at least one owner" in text(response)
    assert client.get(f"/o/acme/members/{world.other.pk}/remove").status_code == 200
    response = client.post(f"/o/acme/members/{world.other.pk}/remove", follow=True)
    assert "was removed" in text(response)
    assert not Membership.objects.filter(organisation=world.org, user=world.other).exists()


def test_members_cannot_manage_members(client, world):
    signed_in(client, world.member)
    response = client.post(f"/o/acme/members/{world.admin.pk}/role", {"role": "member"}, follow=True)
    assert response.status_code == 200 and "may not manage members" in text(response)
    response = client.post(f"/o/acme/members/{world.admin.pk}/remove", follow=True)
    assert "may not manage members" in text(response)
    response = client.post("/o/acme/members/invite", {"email": "x@example.com", "role": "member"})
    assert response.status_code == 422 and "may not manage members" in text(response)


def test_member_can_leave(client, world):
    signed_in(client, world.member)
    response = client.post(f"/o/acme/members/{world.member.pk}/remove", follow=True)
    assert "You left Acme" in text(response)


def test_audit_log(client, world):
    signed_in(client, world.member)
    page = text(client.get("/o/acme/audit"))
    assert "version.create" in page and "prompt_set.create" in page
    assert client.get("/o/acme/audit?page=999").status_code == 200
