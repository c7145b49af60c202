from datetime import datetime, timedelta
from unittest import mock

import pytest
from django.core import mail
from django.utils import timezone

from anvil_forge.accounts import magic_links


pytestmark = pytest.mark.usefixtures("mailbox")


def _parts(link):
    uid, token = link.rstrip("/").split("/")[-2:]
    return uid, token


def test_link_signs_in_its_user(make_user):
    user = make_user("ann@example.com")
    uid, token = _parts(magic_links.make_link(user))
    assert magic_links.user_for_link(uid, token) == user


def test_link_is_single_use(make_user):
    user = make_user("ann@example.com")
    uid, token = _parts(magic_links.make_link(user))
    user.last_login = timezone.now()  # what signing in does
    user.save(update_fields=["last_login"])
    assert magic_links.user_for_link(uid, token) is None


def test_link_expires(make_user, settings):
    settings.ANVIL_MAGIC_LINK_MINUTES = 15
    user = make_user("ann@example.com")
    uid, token = _parts(magic_links.make_link(user))
    later = datetime.now() + timedelta(minutes=16)
    with mock.patch.object(magic_links.tokens, "_now", return_value=later):
        assert magic_links.user_for_link(uid, token) is None
    with mock.patch.object(magic_links.tokens, "_now", return_value=datetime.now() + timedelta(minutes=14)):
        assert magic_links.user_for_link(uid, token) == user


def test_a_lifetime_longer_than_the_password_resets_hour_is_honoured(make_user, settings):
    settings.ANVIL_MAGIC_LINK_MINUTES = 90
    user = make_user("ann@example.com")
    uid, token = _parts(magic_links.make_link(user))
    with mock.patch.object(magic_links.tokens, "_now", return_value=datetime.now() + timedelta(minutes=89)):
        assert magic_links.user_for_link(uid, token) == user
    with mock.patch.object(magic_links.tokens, "_now", return_value=datetime.now() + timedelta(minutes=91)):
        assert magic_links.user_for_link(uid, token) is None


def test_tampered_or_malformed_links_fail(make_user):
    user = make_user("ann@example.com")
    uid, token = _parts(magic_links.make_link(user))
    assert magic_links.user_for_link(uid, token[:-1] + ("0" if token[-1] != "0" else "1")) is None
    assert magic_links.user_for_link("not-base64!", token) is None
    assert magic_links.user_for_link("", "") is None


def test_password_reset_tokens_are_not_magic_links(make_user):
    from django.contrib.auth.tokens import default_token_generator

    user = make_user("ann@example.com")
    uid, _ = _parts(magic_links.make_link(user))
    assert magic_links.user_for_link(uid, default_token_generator.make_token(user)) is None


def test_inactive_users_get_nothing(make_user):
    user = make_user("ann@example.com")
    uid, token = _parts(magic_links.make_link(user))
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert magic_links.user_for_link(uid, token) is None
    assert magic_links.send_link("ann@example.com") is False
    assert mail.outbox == []


def test_send_link_mails_the_address(make_user, settings):
    settings.ANVIL_BASE_URL = "https://forge.example"
    make_user("ann@example.com")
    assert magic_links.send_link("ANN@example.com ") is True
    assert magic_links.send_link("nobody@example.com") is False
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ann@example.com"]
    assert "https://forge.example/login/magic/" in message.body
