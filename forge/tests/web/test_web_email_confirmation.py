"""Confirming an e-mail address: sign-up sends a link; any link that reached the mailbox confirms it;
an unconfirmed address is invited by link instead of being added to an organisation at once."""

import pytest
from django.core import mail

from anvil_forge.accounts.models import User
from anvil_forge.audit.models import AuditEvent
from anvil_forge.orgs.models import Membership
from anvil_forge.orgs.services import invite_member

from ..conftest import GOOD_PASSWORD, link_in

pytestmark = pytest.mark.usefixtures("mailbox")


@pytest.fixture
def sign_up(client, db, django_capture_on_commit_callbacks):
    """Sign up through the page; the confirmation e-mail goes out when the sign-up commits."""
    def sign_up(email="sam@example.com") -> User:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post("/signup", {"email": email, "password": GOOD_PASSWORD, "password2": GOOD_PASSWORD},
                                   follow=True)
        assert f"We sent a link to {email}" in response.content.decode()
        return User.objects.get(email=email)
    return sign_up


def test_sign_up_sends_a_link_that_confirms_the_address_once(client, sign_up):
    user = sign_up()
    assert user.email_verified_at is None
    assert "not confirmed" in client.get("/account").content.decode()
    [message] = mail.outbox
    assert message.to == ["sam@example.com"] and "Confirm" in message.subject
    path = link_in(message)
    assert path.startswith("/verify/")

    response = client.get(path, follow=True)
    assert "sam@example.com is confirmed" in response.content.decode()
    user.refresh_from_db()
    assert user.email_verified_at is not None
    assert AuditEvent.objects.filter(action="user.verify_email", target_id=str(user.pk),
                                     summary={"by": "verification link"}).count() == 1
    assert "not confirmed" not in client.get("/account").content.decode()
    assert client.get(path).status_code == 400  # used: the link stops matching


def test_a_tampered_or_foreign_link_confirms_nothing(client, make_user, sign_up):
    sign_up("sam@example.com")
    path = link_in(mail.outbox[0])
    uid, token = path.split("/")[2:4]
    other = make_user("other@example.com", email_verified=False)
    from anvil_forge.accounts import verification

    other_uid = verification.make_link(other).split("/")[-2]
    for bad in (f"/verify/{uid}/{token[:-1]}x", f"/verify/{other_uid}/{token}", "/verify/!!/nonsense"):
        response = client.get(bad)
        assert response.status_code == 400 and "does not work" in response.content.decode()
    assert not User.objects.filter(email_verified_at__isnull=False).exists()


def test_the_account_page_sends_the_link_again_within_the_mail_limit(client, make_user, settings):
    settings.ANVIL_MAIL_REQUESTS_PER_EMAIL = 2
    user = make_user("ann@example.com", email_verified=False)
    client.force_login(user)
    for _ in range(2):
        response = client.post("/account", {"form": "verify_email"}, follow=True)
        assert "A link to confirm ann@example.com is on its way" in response.content.decode()
    response = client.post("/account", {"form": "verify_email"}, follow=True)
    assert "Too many attempts" in response.content.decode()
    assert len(mail.outbox) == 2
    client.get(link_in(mail.outbox[0]))  # the first link still works: nothing used it
    user.refresh_from_db()
    assert user.email_verified_at is not None
    assert "Send the link again" not in client.get("/account").content.decode()


def test_a_confirmed_address_is_sent_nothing(client, make_user):
    client.force_login(make_user("ann@example.com"))
    client.post("/account", {"form": "verify_email"})
    assert mail.outbox == []


def test_a_sign_in_link_confirms_the_address(client, make_user):
    user = make_user("ann@example.com", email_verified=False)
    client.post("/login/magic", {"email": "ann@example.com"})
    client.post(link_in(mail.outbox[0]))
    user.refresh_from_db()
    assert user.email_verified_at is not None


def test_a_password_reset_confirms_the_address(client, make_user):
    user = make_user("ann@example.com", email_verified=False)
    client.post("/password-reset", {"email": "ann@example.com"})
    response = client.get(link_in(mail.outbox[0]), follow=True)
    new_password = "another correct horse battery"
    client.post(response.redirect_chain[-1][0], {"new_password1": new_password, "new_password2": new_password})
    user.refresh_from_db()
    assert user.check_password(new_password) and user.email_verified_at is not None


def test_an_address_someone_else_registered_is_won_back_through_the_invitation(client, world, sign_up):
    """A squatter signs up with the boss's address; the owner invites the boss. The squatter is not
    added, and the boss, who reads the mailbox, resets the password and accepts."""
    sign_up("boss@example.com")
    client.post("/logout")
    mail.outbox.clear()
    result = invite_member(world.owner, world.org, "boss@example.com", "admin")
    assert result.joined is None
    assert not Membership.objects.filter(organisation=world.org, user__email="boss@example.com").exists()

    page = client.get(f"/invitations/{result.token}").content.decode()
    assert "Sign in to accept" in page and "Reset the password" in page

    client.post("/password-reset", {"email": "boss@example.com"})
    response = client.get(link_in(mail.outbox[-1]), follow=True)
    password = "the boss's own long password"
    client.post(response.redirect_chain[-1][0], {"new_password1": password, "new_password2": password})
    client.post("/login", {"email": "boss@example.com", "password": password})
    response = client.post(f"/invitations/{result.token}", follow=True)
    assert "You joined Acme as admin" in response.content.decode()
    assert User.objects.get(email="boss@example.com").email_verified_at is not None


def test_the_link_lasts_three_days_not_the_password_resets_hour(client, make_user):
    from datetime import datetime, timedelta
    from unittest import mock

    from anvil_forge.accounts import verification

    user = make_user("ann@example.com", email_verified=False)
    uid, token = verification.make_link(user).split("/")[-2:]
    now = datetime.now()
    with mock.patch.object(verification.tokens, "_now", return_value=now + timedelta(days=3, minutes=1)):
        assert verification.user_for_link(uid, token) is None
    with mock.patch.object(verification.tokens, "_now", return_value=now + timedelta(days=2, hours=23)):
        assert verification.user_for_link(uid, token) == user
