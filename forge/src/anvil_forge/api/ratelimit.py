"""Rate limiting for the API, with the ``limits`` library.

``limits`` (maintained, used by Flask-Limiter and SlowAPI) parses the limit ("600/minute"), runs the
fixed-window strategy and reports the window's remaining count and reset time. The counters live in
Redis when ``REDIS_URL`` is set (through Django's cache, :class:`DjangoCacheStorage`), so every server
process shares one count; otherwise in ``limits``' own memory storage, per process. That store expires
keys by time and never evicts one to make room for another (Django's local-memory cache did, at 300
entries, so a flood of made-up keys reset everyone's count). These counters may be lost on a restart;
the ones that guard sign-in live in the database (``accounts/counters.py``).

Callers are counted by API key, else LIVE instance (a project access token and the client's
``X-Anvil-Instance`` header, when that instance is registered with the token), else signed-in user,
else client address (its IPv6 /64) (:func:`identity`). So the keys one caller can create are bounded:
by its keys, by the project's registered instances, or by its addresses.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest
from limits import RateLimitItem
from limits.storage import MemoryStorage, Storage
from limits.strategies import FixedWindowRateLimiter

from anvil_forge.core import limits
from anvil_forge.core.network import client_network
from anvil_forge.distribution.queries import instance_registered

from .auth import access_token_of, api_key_of

logger = logging.getLogger("anvil_forge.api")


class DjangoCacheStorage(Storage):
    """A ``limits`` storage on a Django cache (any backend with atomic ``add`` and ``incr``)."""

    STORAGE_SCHEME = None  # built directly, never from a URI

    def __init__(self, cache_alias: str = "default", *, cache=None, wrap_exceptions: bool = False):
        super().__init__(wrap_exceptions=wrap_exceptions)
        self.cache_alias = cache_alias
        self._cache = cache

    @property
    def cache(self):
        return self._cache if self._cache is not None else caches[self.cache_alias]

    @property
    def base_exceptions(self):
        return (ConnectionError, OSError)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        cache = self.cache
        for _ in range(3):
            if cache.add(key, amount, timeout=expiry):  # first hit: a new window starts now
                cache.set(f"{key}:expires", time.time() + expiry, timeout=expiry)
                return amount
            try:
                count = cache.incr(key, amount)
            except ValueError:  # the window ended between add() and incr(): start a new one
                continue
            if count == amount:
                # The key vanished between the backend's existence check and its increment, which then
                # recreated it without an expiry (Redis INCRBY): give it one so it cannot count forever.
                cache.touch(key, timeout=expiry)
                cache.set(f"{key}:expires", time.time() + expiry, timeout=expiry)
            return count
        return amount

    def get(self, key: str) -> int:
        return int(self.cache.get(key) or 0)

    def get_expiry(self, key: str) -> float:
        return float(self.cache.get(f"{key}:expires") or time.time())

    def check(self) -> bool:
        try:
            self.cache.get("anvil-ratelimit-check")
        except Exception:
            return False
        return True

    def reset(self) -> int | None:
        return None  # keys expire by themselves; Django's cache cannot list them

    def clear(self, key: str) -> None:
        self.cache.delete_many([key, f"{key}:expires"])


@dataclass(frozen=True)
class Usage:
    limit: int
    remaining: int
    reset: int  # Unix time (seconds) when the window ends
    allowed: bool

    @property
    def retry_after(self) -> int:
        return max(1, self.reset - int(time.time()))

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }


def configured_limit() -> RateLimitItem:
    return limits.policy("api").item("caller")


_shared = FixedWindowRateLimiter(DjangoCacheStorage())
_local = FixedWindowRateLimiter(MemoryStorage())


def limiter() -> FixedWindowRateLimiter:
    """Redis (shared by every process) when REDIS_URL is set, else memory (per process)."""
    return _shared if settings.REDIS_URL else _local


limits.register_store("shared", limiter)  # counters that may be lost (core/limits.py)


def reset_local() -> None:
    """Forget every per-process count (tests)."""
    _local.storage.reset()


def client_address(request) -> str:
    return client_network(request)


# Ways a request names who sends it, tried in order before the session user and the address:
# each takes the request and returns an identity string, or None when it does not apply.
IDENTIFIERS: list[Callable[[HttpRequest], str | None]] = []


def identifier(func: Callable[[HttpRequest], str | None]):
    """Register another credential to count by (e.g. a project access token for LIVE clients)."""
    IDENTIFIERS.append(func)
    return func


@identifier
def _by_api_key(request: HttpRequest) -> str | None:
    key = api_key_of(request)
    return f"key:{key.pk}" if key is not None else None


@identifier
def _by_live_instance(request: HttpRequest) -> str | None:
    """A LIVE client (a project access token) counts per instance: an application's many instances
    often share one address (a NAT), and each polls, streams and heartbeats on its own. The instance is
    the client's ``X-Anvil-Instance`` header when the token registered that instance — else its address, so
    made-up instance ids share one count instead of each getting a fresh one."""
    token = access_token_of(request)
    if token is None:
        return None
    instance = (request.headers.get("X-Anvil-Instance") or "")[:64]
    if not (instance and instance_registered(token, instance)):
        instance = f"ip:{client_address(request)}"
    return f"live:{token.pk}:{instance}"


def identity(request) -> str:
    """What the limit counts: a valid API key (or another registered credential: a LIVE instance), else the
    signed-in user, else the client address. An invalid credential counts as its address, so guessing keys
    gains nothing."""
    for find in IDENTIFIERS:
        who = find(request)
        if who:
            return who
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return f"ip:{client_address(request)}"


def hit(request, *, using: FixedWindowRateLimiter | None = None) -> Usage:
    """Count one request and say whether it is within the limit.

    If the cache cannot be reached the request is let through (fail open) and the failure logged:
    an outage of the cache must not take the API down with it.
    """
    counters = using or limiter()
    item = configured_limit()
    who = identity(request)
    try:
        allowed = counters.hit(item, "anvil-api", who)
        stats = counters.get_window_stats(item, "anvil-api", who)
    except Exception:
        logger.warning("rate limiting is unavailable (cache error); letting the request through", exc_info=True)
        return Usage(limit=item.amount, remaining=item.amount, reset=math.ceil(time.time()) + item.get_expiry(),
                     allowed=True)
    return Usage(limit=item.amount, remaining=stats.remaining, reset=math.ceil(stats.reset_time), allowed=allowed)
