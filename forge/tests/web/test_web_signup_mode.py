"""Who may sign up: anyone (ANVIL_SIGNUP=open, the default) or only invited addresses through their
invitation's link (ANVIL_SIGNUP=invitation); and sign-ups, which send e-mail, are throttled."""

import pytest
from django.core import mail

from anvil_forge.accounts.models import User
from anvil_forge.orgs.services import sign_up
from anvil_forge.core.errors import PermissionDenied, ValidationError
from anvil_forge.orgs.models import Membership
from anvil_forge.orgs.services import invite_member

from ..conftest import GOOD_PASSWORD

pytestmark = pytest.mark.usefixtures("mailbox")


def form(email: str, **extra) -> dict:
    return {"email": email, "password": GOOD_PASSWORD, "password2": GOOD_PASSWORD, **extra}


def test_open_sign_up_is_offered_to_anyone(client, db, settings):
    assert settings.ANVIL_SIGNUP == "open"
    assert "Create an account" in client.get("/login").content.decode()
    assert client.post("/signup", form("sam@example.com")).status_code == 302
    assert User.objects.filter(email="sam@example.com").exists()


def test_invitation_only_sign_up_refuses_everyone_else(client, db, settings, django_capture_on_commit_callbacks):
    settings.ANVIL_SIGNUP = "invitation"
    login = client.get("/login").content.decode()
    assert "Create an account" not in login and "Sign-up is by invitation" in login
    page = client.get("/signup")
    assert page.status_code == 403 and "by invitation only" in page.content.decode()
    assert 'name="password2"' not in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/signup", form("sam@example.com"))
    assert response.status_code == 403
    response = client.post("/signup?next=/invitations/inv_forged", form("sam@example.com", next="/invitations/inv_forged"))
    assert response.status_code == 200 and "by invitation only" in response.content.decode()
    assert not User.objects.filter(email="sam@example.com").exists()
    assert mail.outbox == []


def test_invitation_only_sign_up_through_the_invitation(client, world, settings, django_capture_on_commit_callbacks):
    settings.ANVIL_SIGNUP = "invitation"
    result = invite_member(world.owner, world.org, "newbie@example.com", "member")
    path = f"/invitations/{result.token}"
    invitation_page = client.get(path).content.decode()
    assert "Create your account to accept" in invitation_page
    assert "Create an account" in client.get(f"/login?next={path}").content.decode()

    response = client.post(f"/signup?next={path}", form("someone-else@example.com", next=path))
    assert "this invitation is for newbie@example.com" in response.content.decode()
    assert not User.objects.filter(email="someone-else@example.com").exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/signup?next={path}", form("newbie@example.com", next=path))
    assert response.status_code == 302 and response["Location"] == path
    assert mail.outbox == []  # no confirmation e-mail: accepting the invitation confirms the address
    response = client.post(path, follow=True)
    assert "You joined Acme as member" in response.content.decode()
    newbie = User.objects.get(email="newbie@example.com")
    assert newbie.email_verified_at is not None
    assert Membership.objects.filter(organisation=world.org, user=newbie).exists()


def test_the_service_holds_the_rule_too(world, settings):
    settings.ANVIL_SIGNUP = "invitation"
    with pytest.raises(PermissionDenied, match="by invitation only"):
        sign_up("sam@example.com", GOOD_PASSWORD)
    token = invite_member(world.owner, world.org, "newbie@example.com", "member").token
    with pytest.raises(ValidationError, match="for newbie@example.com"):
        sign_up("sam@example.com", GOOD_PASSWORD, invitation_token=token)
    assert sign_up("NewBie@example.com", GOOD_PASSWORD, invitation_token=token).email == "newbie@example.com"


def test_sign_ups_from_one_network_address_are_throttled(client, db, settings, django_capture_on_commit_callbacks):
    settings.ANVIL_MAIL_REQUESTS_PER_ADDRESS = 3
    for n in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            assert client.post("/signup", form(f"user{n}@example.com")).status_code == 302
        client.post("/logout")
    response = client.post("/signup", form("user3@example.com"))
    assert response.status_code == 429 and "Too many attempts" in response.content.decode()
    assert not User.objects.filter(email="user3@example.com").exists()
    assert len(mail.outbox) == 3


def test_a_misspelt_mode_stops_the_forge_from_starting(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "ANVIL_SIGNUP": "invite-only", "ANVIL_DATA_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "anvil_forge.cli", "check"], env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "ANVIL_SIGNUP must be 'open' or 'invitation', not 'invite-only'" in result.stderr
