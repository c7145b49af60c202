"""Verifying an e-mail address: a link sent to it, without a table of its own.

A sign-up proves nothing about the address it gives, so a new account starts unverified and is
sent ``<ANVIL_BASE_URL>/verify/<uid>/<token>``. The token is an HMAC (Django's
:class:`PasswordResetTokenGenerator` machinery, with its own salt) of the user's id, e-mail and
``email_verified_at`` plus a timestamp: using it sets ``email_verified_at``, so a used link stops
matching, and changing the address voids it. Links expire after ``LIFETIME_DAYS`` (3).

Any other link that reached the mailbox proves it too: a sign-in link, a password reset, an
invitation (see ``accounts.services.mark_email_verified``'s callers).

What depends on it: an invitation adds an existing user at once only when their address is
verified (``orgs.services.invite_member``); otherwise the invitation is e-mailed like any other,
so whoever registered someone else's address cannot be pulled into that person's organisations.
"""

from __future__ import annotations

from django.core.mail import send_mail

from .links import LinkTokenGenerator
from .models import User

LIFETIME_DAYS = 3


class VerificationTokenGenerator(LinkTokenGenerator):
    key_salt = "anvil_forge.accounts.verification.VerificationTokenGenerator"
    path = "verify"

    def lifetime_seconds(self) -> int:
        return LIFETIME_DAYS * 24 * 3600

    def _make_hash_value(self, user, timestamp):
        verified = "" if user.email_verified_at is None else user.email_verified_at.isoformat()
        return f"{user.pk}{user.email}{verified}{timestamp}{user.is_active}"


tokens = VerificationTokenGenerator()


def make_link(user: User) -> str:
    return tokens.link(user)


def send_link(user: User) -> bool:
    """E-mail ``user`` a link that verifies their address; False (and no mail) when it is verified already."""
    if user.email_verified_at is not None or not user.is_active:
        return False
    send_mail(
        "Confirm your e-mail address for Anvil",
        f"Hello {user.name},\n\nConfirm that {user.email} is yours with this link (valid for {LIFETIME_DAYS} days):\n\n"
        f"{make_link(user)}\n\nUntil then, organisations can invite you only by e-mail, not add you at once. "
        f"If you did not sign up for Anvil, ignore this e-mail.\n",
        None, [user.email],
    )
    return True


def user_for_link(uidb64: str, token: str) -> User | None:
    """The user a link verifies, or None when the link is unknown, used, expired or tampered with."""
    return tokens.user_for(uidb64, token)
