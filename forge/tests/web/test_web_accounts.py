"""Web UI: sign up, sign in (password, magic link), throttling, sign out, password reset, idle expiry, invitations."""

import time

import pytest
from django.core import mail

from anvil_forge.accounts.counters import DatabaseStorage
from anvil_forge.accounts.models import User
from anvil_forge.orgs.models import Membership
from anvil_forge.orgs.services import invite_member

from ..conftest import GOOD_PASSWORD, link_in


pytestmark = pytest.mark.usefixtures("mailbox")


def test_home_sends_visitors_to_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/login"
    assert client.get("/login").status_code == 200
    assert client.get("/o/acme/").status_code == 302  # every page needs a session


def test_signup_creates_user_and_personal_organisation(client, db):
    response = client.post("/signup", {"email": "Sam@Example.com", "display_name": "Sam", "password": GOOD_PASSWORD,
                                       "password2": GOOD_PASSWORD}, follow=True)
    assert response.status_code == 200
    user = User.objects.get(email="sam@example.com")
    assert Membership.objects.get(user=user).organisation.personal
    assert "Welcome to Anvil" in response.content.decode()
    assert response.context["user"] == user


def test_signup_errors_are_next_to_fields(client, make_user):
    make_user("taken@example.com")
    response = client.post("/signup", {"email": "taken@example.com", "password": GOOD_PASSWORD,
                                       "password2": GOOD_PASSWORD})
    assert response.status_code == 200
    assert "already registered" in response.context["form"].errors["email"][0]
    response = client.post("/signup", {"email": "new@example.com", "password": "short", "password2": "short"})
    assert response.context["form"].errors["password"]
    response = client.post("/signup", {"email": "new@example.com", "password": GOOD_PASSWORD, "password2": "other"})
    assert "differ" in response.context["form"].errors["password2"][0]
    assert not User.objects.filter(email="new@example.com").exists()


def test_signup_without_password_is_magic_link_only(client, db):
    client.post("/signup", {"email": "link@example.com", "password": "", "password2": ""})
    assert not User.objects.get(email="link@example.com").has_usable_password()


def test_password_sign_in_and_out(client, make_user):
    make_user("ann@example.com")
    response = client.post("/login", {"email": "ANN@example.com", "password": GOOD_PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    response = client.post("/login?next=/help", {"email": "ann@example.com", "password": GOOD_PASSWORD})
    assert response["Location"] == "/help"
    assert client.get("/logout").status_code == 405  # sign out is a POST (a link cannot sign you out)
    client.post("/logout")
    assert client.get("/").status_code == 302


def test_wrong_password_and_open_redirects(client, make_user):
    make_user("ann@example.com")
    response = client.post("/login", {"email": "ann@example.com", "password": "nope nope nope"})
    assert response.status_code == 200 and "not right" in response.content.decode()
    response = client.post("/login?next=https://evil.example/", {"email": "ann@example.com", "password": GOOD_PASSWORD})
    assert response["Location"] == "/"


def test_login_throttling(client, make_user, settings):
    settings.ANVIL_LOGIN_ATTEMPTS_PER_EMAIL = 3
    make_user("ann@example.com")
    for _ in range(3):
        client.post("/login", {"email": "ann@example.com", "password": "wrong password!"})
    response = client.post("/login", {"email": "ann@example.com", "password": GOOD_PASSWORD})
    assert response.status_code == 429
    assert "Too many attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_admin_site_signs_in_through_the_throttled_sign_in_page(client, make_user, settings):
    settings.ANVIL_LOGIN_ATTEMPTS_PER_EMAIL = 3
    make_user("root@example.com", site_admin=True)
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0] == "/login?next=%2Fadmin%2F"
    for _ in range(5):  # the admin's own form is not there to guess passwords at
        response = client.post("/admin/login/", {"username": "root@example.com", "password": "wrong password!"})
        assert response.status_code == 302 and response["Location"].startswith("/login?next=")
    assert client.get("/admin/login/?next=https://evil.example/").headers["Location"] == "/login?next=%2Fadmin%2F"
    for _ in range(3):
        client.post("/login?next=/admin/", {"email": "root@example.com", "password": "wrong password!"})
    assert client.post("/login?next=/admin/", {"email": "root@example.com", "password": GOOD_PASSWORD}).status_code == 429
    DatabaseStorage().reset()  # the lock-out ends (as its window would)
    response = client.post("/login?next=/admin/", {"email": "root@example.com", "password": GOOD_PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_magic_link_sign_in(client, make_user):
    user = make_user("ann@example.com")
    response = client.post("/login/magic", {"email": "ann@example.com"}, follow=True)
    assert "sign-in link is on its way" in response.content.decode()
    client.post("/login/magic", {"email": "nobody@example.com"})  # same answer, no mail
    assert len(mail.outbox) == 1
    path = link_in(mail.outbox[0])
    page = client.get(path)
    assert page.status_code == 200 and "Sign in as ann@example.com" in page.content.decode()
    assert "_auth_user_id" not in client.session  # a GET (a mail scanner) does not use the link
    response = client.post(path)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)
    client.post("/logout")
    assert client.get(path).status_code == 400  # single use
    assert client.post(path).status_code == 400


def test_magic_link_requests_are_throttled(client, make_user, settings):
    settings.ANVIL_MAIL_REQUESTS_PER_EMAIL = 2
    make_user("ann@example.com")
    for _ in range(2):
        client.post("/login/magic", {"email": "ann@example.com"})
    response = client.post("/login/magic", {"email": "ann@example.com"})
    assert "Too many attempts" in response.content.decode()
    assert len(mail.outbox) == 2


def test_password_reset(client, make_user):
    user = make_user("ann@example.com")
    client.post("/password-reset", {"email": "ann@example.com"})
    assert len(mail.outbox) == 1
    path = link_in(mail.outbox[0])
    response = client.get(path, follow=True)
    assert response.status_code == 200 and "Choose a new password" in response.content.decode()
    new_password = "another correct horse battery"
    response = client.post(response.redirect_chain[-1][0], {"new_password1": new_password, "new_password2": new_password},
                           follow=True)
    assert "Password changed" in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(new_password)


def test_idle_session_expires(client, make_user, settings):
    settings.ANVIL_SESSION_IDLE_MINUTES = 30
    user = make_user("ann@example.com")
    client.force_login(user)
    assert client.get("/").status_code == 200
    session = client.session
    session["anvil_last_seen"] = int(time.time()) - 31 * 60
    session.save()
    response = client.get("/help")
    assert response.status_code == 302 and response["Location"] == "/login?next=%2Fhelp"
    page = client.get(response["Location"])
    assert "signed out after 30 minutes" in page.content.decode()
    assert client.get("/help").status_code == 302  # signed out for good


def test_idle_expiry_of_an_htmx_request_redirects_the_window(client, make_user):
    client.force_login(make_user("ann@example.com"))
    session = client.session
    session["anvil_last_seen"] = 1
    session.save()
    response = client.get("/help", headers={"HX-Request": "true"})
    assert response.status_code == 200 and response["HX-Redirect"] == "/login"


def test_account_page(client, make_user):
    user = make_user("ann@example.com")
    client.force_login(user)
    assert client.get("/account").status_code == 200
    client.post("/account", {"form": "profile", "display_name": "Ann"})
    user.refresh_from_db()
    assert user.display_name == "Ann"
    response = client.post("/account", {"form": "password", "current_password": "wrong", "password": "x",
                                        "password2": "x"})
    assert "not your current password" in response.content.decode()
    new = "yet another fine passphrase"
    client.post("/account", {"form": "password", "current_password": GOOD_PASSWORD, "password": new, "password2": new})
    user.refresh_from_db()
    assert user.check_password(new)
    assert client.get("/").status_code == 200  # still signed in


def test_invitation_for_a_new_user(client, world):
    result = invite_member(world.owner, world.org, "newbie@example.com", "member")
    path = f"/invitations/{result.token}"
    page = client.get(path)
    assert page.status_code == 200 and "Create your account to accept" in page.content.decode()
    client.post(f"/signup?next={path}", {"email": "newbie@example.com", "password": GOOD_PASSWORD,
                                         "password2": GOOD_PASSWORD, "next": path})
    response = client.post(path, follow=True)
    assert "You joined Acme as member" in response.content.decode()
    assert Membership.objects.filter(organisation=world.org, user__email="newbie@example.com").exists()
    assert client.get(path).status_code == 404  # used


def test_invitation_for_someone_else(client, world):
    result = invite_member(world.owner, world.org, "newbie@example.com", "admin")
    client.force_login(world.outsider)
    page = client.get(f"/invitations/{result.token}")
    assert "This invitation is for newbie@example.com" in page.content.decode()
    response = client.post(f"/invitations/{result.token}", follow=True)
    assert response.status_code == 200
    assert "not outsider@example.com" in response.content.decode()
    assert not Membership.objects.filter(organisation=world.org, user=world.outsider).exists()


def test_unknown_invitation(client, db):
    response = client.get("/invitations/inv_nothing")
    assert response.status_code == 404 and "does not work" in response.content.decode()


def test_changing_the_password_offers_to_revoke_the_api_keys(client, make_user):
    from anvil_forge.accounts.services import create_api_key
    from ..api_support import Api

    user = make_user("keys@example.com")
    _, secret = create_api_key(user, "laptop", ["read"])
    create_api_key(user, "ci", ["read"])
    client.force_login(user)
    page = client.get("/account").content.decode()
    assert "Also revoke my 2 API keys" in page
    new = "a brand new passphrase 7"
    answer = client.post("/account", {"form": "password", "current_password": GOOD_PASSWORD, "password": new,
                                      "password2": new, "revoke_api_keys": "on"}, follow=True)
    assert "Password changed. 2 API key(s) revoked." in answer.content.decode()
    assert Api(secret).get("/organisations").status_code == 401
    assert "Also revoke my" not in client.get("/account").content.decode()  # nothing left to revoke


def test_the_account_page_lists_recent_sign_ins_and_failures(client, make_user):
    make_user("seen@example.com")
    client.post("/login", {"email": "seen@example.com", "password": "not it at all"})
    client.post("/login", {"email": "seen@example.com", "password": GOOD_PASSWORD})
    page = client.get("/account").content.decode()
    assert "Wrong password" in page and "Signed in" in page and "with password" in page
