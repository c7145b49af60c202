"""Sign-in links sent by e-mail: single-use, expiring, and without a table of their own.

A link is ``<ANVIL_BASE_URL>/login/magic/<uid>/<token>`` (``accounts.links``). The token is an HMAC
(Django's :class:`PasswordResetTokenGenerator` machinery, with its own salt) of
the user's id, e-mail, password hash and ``last_login`` (to the microsecond)
plus a timestamp. Signing in sets ``last_login``, so a used link stops
matching: single use with no state to store. Links expire after
``ANVIL_MAGIC_LINK_MINUTES`` (15 by default); changing the password or the
e-mail also voids them.
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail

from .links import LinkTokenGenerator
from .models import User


def lifetime_minutes() -> int:
    return int(settings.ANVIL_MAGIC_LINK_MINUTES)


class MagicLinkTokenGenerator(LinkTokenGenerator):
    key_salt = "anvil_forge.accounts.magic_links.MagicLinkTokenGenerator"
    path = "login/magic"

    def lifetime_seconds(self) -> int:
        return lifetime_minutes() * 60

    def _make_hash_value(self, user, timestamp):
        login = "" if user.last_login is None else user.last_login.isoformat()
        return f"{user.pk}{user.password}{login}{timestamp}{user.email}{user.is_active}"


tokens = MagicLinkTokenGenerator()


def make_link(user: User) -> str:
    return tokens.link(user)


def send_link(email: str) -> bool:
    """E-mail a sign-in link if an active account has this address. Says nothing either way to the caller's user."""
    user = User.objects.filter(email__iexact=(email or "").strip(), is_active=True).first()
    if user is None:
        return False
    minutes = lifetime_minutes()
    send_mail(
        "Your Anvil sign-in link",
        f"Hello {user.name},\n\nSign in to Anvil with this link (valid for {minutes} minutes, usable once):\n\n"
        f"{make_link(user)}\n\nIf you did not ask for it, ignore this e-mail: nobody can use it without access "
        f"to your mailbox.\n",
        None, [user.email],
    )
    return True


def user_for_link(uidb64: str, token: str) -> User | None:
    """The user a link signs in, or None when the link is unknown, used, expired or tampered with."""
    return tokens.user_for(uidb64, token)
