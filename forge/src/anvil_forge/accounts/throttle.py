"""Sign-in throttling, per e-mail address and per client address, with ``limits`` over the database.

Each sign-in attempt counts against the e-mail and the client address (its IPv6 /64) for a window of
``ANVIL_LOGIN_THROTTLE_MINUTES`` (15) that starts with the first attempt. The count is taken *before*
the password is checked, in one atomic step per counter, so parallel attempts each see their own count
and no more than the limit are ever checked (``ANVIL_LOGIN_ATTEMPTS_PER_EMAIL``, 5;
``ANVIL_LOGIN_ATTEMPTS_PER_ADDRESS``, 20). A refused attempt is taken back, and a successful sign-in
clears the e-mail's count and takes its attempt back from the address's, so only failures use them up.
The same machinery, with the scope ``"mail"``, limits how often e-mails can be asked for.

The counters live in the database (``accounts/counters.py``), never in a cache, so no flood of other
keys can evict them, a restart does not forget them, and every server process shares them. The address
is counted first, so one address can start at most its limit of e-mail counters per window.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
import time
from functools import cached_property

from limits.strategies import FixedWindowRateLimiter

from anvil_forge.core import limits
from anvil_forge.core.errors import AnvilError

from .counters import DatabaseStorage

_storage = DatabaseStorage()
_limiter = FixedWindowRateLimiter(_storage)
limits.register_store("database", lambda: _limiter)  # the counters that guard security (core/limits.py)


class Throttled(AnvilError):
    """Too many attempts; ``retry_after`` is in seconds."""

    type = "rate_limit_error"
    status = 429

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


def _digest(value: str) -> str:
    return hashlib.sha256((value or "").strip().lower().encode()).hexdigest()[:32]


def _minutes(seconds: int) -> str:
    minutes = max(1, round(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


class Throttle:
    def __init__(self, scope: str = "login", *, per_email: int | None = None, per_address: int | None = None,
                 window_minutes: int | None = None):
        """The named policy ``scope`` (core/limits.py: "login" or "mail"); the numbers override its settings."""
        self.scope = scope
        # Another scope (a test's, say) counts like sign-in, with the numbers it is given.
        self.policy = limits.POLICIES.get(scope) or replace(limits.policy("login"), name=scope)
        self.per_email = per_email if per_email is not None else self.policy.amount("email")
        self.per_address = per_address if per_address is not None else self.policy.amount("address")
        self.minutes = window_minutes if window_minutes is not None else self.policy.minutes()

    @cached_property
    def _items(self):
        return {"address": self.policy.item("address", self.per_address, self.minutes),
                "email": self.policy.item("email", self.per_email, self.minutes)}

    def _ids(self, kind: str, value: str) -> tuple[str, str, str]:
        return self.scope, kind, _digest(value)

    def take(self, email: str, address: str) -> None:
        """Count one attempt. When either count is over its limit, take the attempt back and raise
        :class:`Throttled` (a refusal uses nothing up)."""
        taken = []
        for kind, value in (("address", address), ("email", email)):
            item, ids = self._items[kind], self._ids(kind, value)
            taken.append((item, ids))
            if not _limiter.hit(item, *ids):
                for done_item, done_ids in taken:
                    _storage.decr(done_item.key_for(*done_ids))
                retry = max(1, int(_storage.get_expiry(item.key_for(*ids)) - time.time()))
                who = "this e-mail address" if kind == "email" else "your network address"
                raise Throttled(f"Too many attempts for {who}. Wait {_minutes(retry)} and try again.", retry)

    def forgive(self, email: str, address: str) -> None:
        """The attempt succeeded: clear the e-mail's count and take the attempt back from the address's."""
        _limiter.clear(self._items["email"], *self._ids("email", email))
        _storage.decr(self._items["address"].key_for(*self._ids("address", address)))

    def remaining(self, email: str) -> int:
        """How many attempts the e-mail address has left in its window."""
        return _limiter.get_window_stats(self._items["email"], *self._ids("email", email)).remaining


def login_throttle() -> Throttle:
    return Throttle("login")


def mail_throttle() -> Throttle:
    """Sign-in links, password resets, confirmations, sign-ups: a few mails per address per window."""
    return Throttle("mail")
