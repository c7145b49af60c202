"""Every counter that limits a client, as named policies over the ``limits`` library: one mechanism.

A policy names what it counts (the kinds of key), how much of each it allows (a setting, defined once in
settings.py) and where its counters live:

- ``"database"``: counters that guard security — sign-in attempts, e-mails asked for. Nothing a client
  sends can evict them, every process shares them, a restart keeps them (``accounts/counters.py``).
- ``"shared"``: counters that may be lost — the API's request rate. Redis when ``REDIS_URL`` is set (every
  process shares one count), else each process's memory, which evicts nothing (``api/ratelimit.py``).

The app that owns a store registers it (:func:`register_store`); callers ask :func:`limiter` and
:meth:`Policy.item`, so a new limit is a row in :data:`POLICIES` and a setting, not new machinery.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from django.conf import settings
from limits import RateLimitItem, RateLimitItemPerMinute, parse
from limits.strategies import FixedWindowRateLimiter


@dataclass(frozen=True)
class Policy:
    name: str
    store: str  # "database" or "shared"
    limits: dict[str, str] = field(default_factory=dict)  # key kind -> the setting with its amount (or rate)
    window: str = ""  # the setting with the window in minutes, for amounts; "" when the limit is a rate text

    def amount(self, kind: str) -> int:
        return int(getattr(settings, self.limits[kind]))

    def minutes(self) -> int:
        return int(getattr(settings, self.window))

    def item(self, kind: str, amount: int | None = None, minutes: int | None = None) -> RateLimitItem:
        """The limit on one kind of key (``amount`` and ``minutes`` override the settings, for tests)."""
        if not self.window:
            return _parsed(str(getattr(settings, self.limits[kind])))
        return _per_minutes(amount if amount is not None else self.amount(kind),
                            minutes if minutes is not None else self.minutes())


POLICIES: dict[str, Policy] = {
    "login": Policy("login", "database", {"email": "ANVIL_LOGIN_ATTEMPTS_PER_EMAIL",
                                          "address": "ANVIL_LOGIN_ATTEMPTS_PER_ADDRESS"},
                    window="ANVIL_LOGIN_THROTTLE_MINUTES"),
    "mail": Policy("mail", "database", {"email": "ANVIL_MAIL_REQUESTS_PER_EMAIL",
                                        "address": "ANVIL_MAIL_REQUESTS_PER_ADDRESS"},
                   window="ANVIL_LOGIN_THROTTLE_MINUTES"),
    "api": Policy("api", "shared", {"caller": "ANVIL_API_RATE_LIMIT"}),
}

_STORES: dict[str, Callable[[], FixedWindowRateLimiter]] = {}


def register_store(name: str, limiter_for: Callable[[], FixedWindowRateLimiter]) -> None:
    """Make ``name`` a store: ``limiter_for()`` gives the limiter over it (called on every use, so it may
    choose, e.g. Redis or memory by the settings of the moment)."""
    _STORES[name] = limiter_for


def policy(name: str) -> Policy:
    return POLICIES[name]


def limiter(store: str) -> FixedWindowRateLimiter:
    return _STORES[store]()


@lru_cache(maxsize=64)
def _per_minutes(amount: int, minutes: int) -> RateLimitItem:
    return RateLimitItemPerMinute(amount, minutes, namespace="throttle")


@lru_cache(maxsize=8)
def _parsed(text: str) -> RateLimitItem:
    return parse(text)
