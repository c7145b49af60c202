"""Sign-in throttling over Django's cache: per e-mail address and per client address.

Each failed attempt counts against the e-mail and the client address for a
window of ``ANVIL_LOGIN_THROTTLE_MINUTES`` (15) that starts with the first
failure. Once either counter reaches its limit (``ANVIL_LOGIN_ATTEMPTS_PER_EMAIL``,
5; ``ANVIL_LOGIN_ATTEMPTS_PER_ADDRESS``, 20), further attempts are refused with
:class:`Throttled` before the password is even checked, until the window ends.
A successful sign-in clears the e-mail's counter. The same machinery, with the
scope ``"mail"``, limits how often sign-in links and password-reset mails can
be requested.

The counters live in the ``default`` cache: local memory per process unless
``REDIS_URL`` is set, which shares them between server processes.
"""

from __future__ import annotations

import hashlib
import logging
import time

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.cache import cache

from anvil_forge.core.errors import AnvilError, ValidationError

logger = logging.getLogger(__name__)


class Throttled(AnvilError):
    """Too many attempts; ``retry_after`` is in seconds."""

    type = "rate_limit_error"
    status = 429

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def _key(scope: str, kind: str, value: str) -> str:
    digest = hashlib.sha256((value or "").strip().lower().encode()).hexdigest()[:32]
    return f"anvil:throttle:{scope}:{kind}:{digest}"


def _minutes(seconds: int) -> str:
    minutes = max(1, round(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


class Throttle:
    def __init__(self, scope: str = "login", *, per_email: int | None = None, per_address: int | None = None,
                 window_minutes: int | None = None):
        self.scope = scope
        self.per_email = per_email if per_email is not None else _setting("ANVIL_LOGIN_ATTEMPTS_PER_EMAIL", 5)
        self.per_address = per_address if per_address is not None else _setting("ANVIL_LOGIN_ATTEMPTS_PER_ADDRESS", 20)
        minutes = window_minutes if window_minutes is not None else _setting("ANVIL_LOGIN_THROTTLE_MINUTES", 15)
        self.window = minutes * 60

    def _counters(self, email: str, address: str):
        return (("email", email, self.per_email), ("address", address, self.per_address))

    def check(self, email: str, address: str) -> None:
        """Raise :class:`Throttled` when either counter is at its limit."""
        for kind, value, limit in self._counters(email, address):
            key = _key(self.scope, kind, value)
            count = _cache(cache.get, key)
            until = _cache(cache.get, key + ":until") or time.time() + self.window
            if count is not None and count >= limit and until > time.time():
                retry = max(1, int(until - time.time()))
                who = "this e-mail address" if kind == "email" else "your network address"
                raise Throttled(f"Too many attempts for {who}. Wait {_minutes(retry)} and try again.", retry)

    def hit(self, email: str, address: str) -> None:
        """Count one attempt (a failure for sign-in, a request for mail). The count is one atomic increment
        (Redis ``INCR``), so concurrent failures are never under-counted; the window starts with the first."""
        now = time.time()
        for kind, value, _ in self._counters(email, address):
            key = _key(self.scope, kind, value)
            until = _cache(cache.get, key + ":until")
            if until is not None and until <= now:  # the window is over: start a new one
                _cache(cache.delete_many, [key, key + ":until"])
            if _cache(cache.add, key, 0, timeout=self.window):
                _cache(cache.set, key + ":until", now + self.window, timeout=self.window)
            try:
                _cache(cache.incr, key)
            except ValueError:  # the window ended between the two calls: this attempt starts a new one
                _cache(cache.set, key, 1, timeout=self.window)
                _cache(cache.set, key + ":until", now + self.window, timeout=self.window)

    def take(self, email: str, address: str) -> None:
        """Count one request that is always counted (an e-mail sent), unless a limit is reached already:
        then raise :class:`Throttled` and count nothing."""
        self.check(email, address)
        self.hit(email, address)

    def reset(self, email: str) -> None:
        _cache(cache.delete, _key(self.scope, "email", email))


def _cache(operation, *args, **kwargs):
    """A cache call that fails open: if the cache (Redis) cannot be reached, sign-in still works —
    unthrottled, with a warning logged — rather than every sign-in failing with a server error."""
    try:
        return operation(*args, **kwargs)
    except ValueError:
        raise
    except Exception:
        logger.warning("sign-in throttling is unavailable (cache error); not counting", exc_info=True)
        return None


def login_throttle() -> Throttle:
    return Throttle("login")


def mail_throttle() -> Throttle:
    """Sign-in links and password resets: a few mails per address per window."""
    return Throttle("mail", per_email=_setting("ANVIL_MAIL_REQUESTS_PER_EMAIL", 3),
                    per_address=_setting("ANVIL_MAIL_REQUESTS_PER_ADDRESS", 20))


def sign_in(email: str, password: str, *, client_address: str, request=None):
    """Check a password sign-in under the throttle; returns the user or raises Throttled / ValidationError."""
    throttle = login_throttle()
    throttle.check(email, client_address)
    user = authenticate(request, username=(email or "").strip().lower(), password=password or "")
    if user is None:
        throttle.hit(email, client_address)
        raise ValidationError("E-mail address or password is not right.",
                              [{"field": "password", "message": "e-mail address or password is not right"}])
    throttle.reset(email)
    return user
