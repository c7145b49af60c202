"""Links e-mailed to a user (sign-in, address confirmation): signed, expiring, single-use by design,
and without a table of their own.

A link is ``<ANVIL_BASE_URL>/<path>/<uid>/<token>``. The token is Django's
:class:`PasswordResetTokenGenerator` machinery: an HMAC, with a salt per kind of link, of what
``_make_hash_value`` names plus a timestamp. A kind of link is single use when using it changes
something in that hash value. Each kind sets its own lifetime (``lifetime_seconds``), longer or
shorter than the password reset's ``PASSWORD_RESET_TIMEOUT``, which Django's own check would impose.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.crypto import constant_time_compare
from django.utils.encoding import force_bytes, force_str
from django.utils.http import base36_to_int, urlsafe_base64_decode, urlsafe_base64_encode

from .models import User


class LinkTokenGenerator(PasswordResetTokenGenerator):
    path = ""  # the link is <ANVIL_BASE_URL>/<path>/<uid>/<token>

    def lifetime_seconds(self) -> int:
        return settings.PASSWORD_RESET_TIMEOUT  # Django's; each kind of link sets its own

    def link(self, user: User) -> str:
        uid = urlsafe_base64_encode(force_bytes(user.pk))
        return f"{settings.ANVIL_BASE_URL}/{self.path}/{uid}/{self.make_token(user)}"

    def user_for(self, uidb64: str, token: str) -> User | None:
        """The active user a link is for, or None when the link is unknown, used, expired or tampered with."""
        try:
            pk = force_str(urlsafe_base64_decode(uidb64))
            user = User.objects.filter(pk=pk, is_active=True).first()
        except (ValueError, TypeError, OverflowError, DjangoValidationError):  # a malformed id: not valid
            return None
        if user is None or not self.check_token(user, token):
            return None
        return user

    def check_token(self, user, token):
        if not (user and token):
            return False
        try:
            issued = base36_to_int(token.split("-")[0])
        except ValueError:
            return False
        if self._num_seconds(self._now()) - issued > self.lifetime_seconds():
            return False
        return any(constant_time_compare(self._make_token_with_timestamp(user, issued, secret), token)
                   for secret in [self.secret, *self.secret_fallbacks])
