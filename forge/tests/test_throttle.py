import pytest
from django.core.cache import cache

from anvil_forge.accounts.throttle import Throttle, Throttled, sign_in
from anvil_forge.core.errors import ValidationError

from .conftest import GOOD_PASSWORD


@pytest.fixture(autouse=True)
def clean_cache():
    cache.clear()
    yield
    cache.clear()


def test_limit_per_email():
    throttle = Throttle("t", per_email=2, per_address=100, window_minutes=5)
    throttle.check("a@example.com", "1.1.1.1")
    throttle.hit("a@example.com", "1.1.1.1")
    throttle.hit("A@example.com ", "2.2.2.2")  # same e-mail, any case, any address
    with pytest.raises(Throttled) as exc:
        throttle.check("a@example.com", "3.3.3.3")
    assert exc.value.status == 429
    assert "this e-mail address" in exc.value.message
    assert 0 < exc.value.retry_after <= 300
    throttle.check("b@example.com", "3.3.3.3")  # someone else is not affected


def test_take_counts_until_the_limit_and_then_counts_nothing():
    throttle = Throttle("t", per_email=2, per_address=2, window_minutes=5)
    throttle.take("a@example.com", "1.1.1.1")
    throttle.take("b@example.com", "1.1.1.1")
    for _ in range(3):
        with pytest.raises(Throttled, match="your network address"):
            throttle.take("c@example.com", "1.1.1.1")
    # The refusals were not counted against c: two more elsewhere are allowed, the third is not.
    throttle.take("c@example.com", "2.2.2.2")
    throttle.take("c@example.com", "3.3.3.3")
    with pytest.raises(Throttled, match="this e-mail address"):
        throttle.take("c@example.com", "4.4.4.4")


def test_limit_per_address():
    throttle = Throttle("t", per_email=100, per_address=2, window_minutes=5)
    throttle.hit("a@example.com", "9.9.9.9")
    throttle.hit("b@example.com", "9.9.9.9")
    with pytest.raises(Throttled, match="network address"):
        throttle.check("c@example.com", "9.9.9.9")


def test_reset_clears_the_email_counter():
    throttle = Throttle("t", per_email=1, per_address=100, window_minutes=5)
    throttle.hit("a@example.com", "1.1.1.1")
    throttle.reset("a@example.com")
    throttle.check("a@example.com", "1.1.1.1")


def test_window_ends(monkeypatch):
    import anvil_forge.accounts.throttle as module

    now = [1000.0]
    monkeypatch.setattr(module.time, "time", lambda: now[0])
    throttle = Throttle("t", per_email=1, per_address=100, window_minutes=1)
    throttle.hit("a@example.com", "1.1.1.1")
    with pytest.raises(Throttled):
        throttle.check("a@example.com", "1.1.1.1")
    now[0] += 61
    throttle.check("a@example.com", "1.1.1.1")


def test_sign_in(make_user, settings):
    settings.ANVIL_LOGIN_ATTEMPTS_PER_EMAIL = 3
    user = make_user("ann@example.com")
    assert sign_in("Ann@Example.com", GOOD_PASSWORD, client_address="1.1.1.1") == user
    for _ in range(3):
        with pytest.raises(ValidationError):
            sign_in("ann@example.com", "wrong password!!", client_address="1.1.1.1")
    with pytest.raises(Throttled):  # even the right password is refused now
        sign_in("ann@example.com", GOOD_PASSWORD, client_address="1.1.1.1")


def test_success_resets_failures(make_user, settings):
    settings.ANVIL_LOGIN_ATTEMPTS_PER_EMAIL = 2
    make_user("ann@example.com")
    with pytest.raises(ValidationError):
        sign_in("ann@example.com", "wrong password!!", client_address="1.1.1.1")
    sign_in("ann@example.com", GOOD_PASSWORD, client_address="1.1.1.1")
    with pytest.raises(ValidationError):
        sign_in("ann@example.com", "wrong password!!", client_address="1.1.1.1")
    sign_in("ann@example.com", GOOD_PASSWORD, client_address="1.1.1.1")


def test_concurrent_failures_are_all_counted(settings):
    """Over Redis, as with REDIS_URL: eight threads failing at once are each counted (one atomic INCR)."""
    import os

    working = settings.CACHES
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": os.environ.get("ANVIL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
                                   "KEY_PREFIX": f"throttle-test-{os.getpid()}"}}
    try:
        cache.clear()
        _count_concurrent_failures()
    finally:
        cache.clear()
        settings.CACHES = working


def _count_concurrent_failures():
    import threading

    throttle = Throttle("t", per_email=1000, per_address=1000, window_minutes=5)
    start = threading.Barrier(8)

    def fail():
        start.wait()
        for _ in range(25):
            throttle.hit("a@example.com", "1.1.1.1")

    threads = [threading.Thread(target=fail) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    Throttle("t", per_email=201, per_address=1000).check("a@example.com", "2.2.2.2")  # 200: under 201
    with pytest.raises(Throttled):
        Throttle("t", per_email=200, per_address=1000).check("a@example.com", "2.2.2.2")


def test_sign_in_works_when_the_cache_is_down(make_user, settings, caplog):
    """With REDIS_URL pointing at a Redis that is not there, sign-in is unthrottled, not broken."""
    working = settings.CACHES
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:9/0",  # nothing listens there
                                   "OPTIONS": {"socket_connect_timeout": 0.2}}}
    try:
        user = make_user("ann@example.com")
        with pytest.raises(ValidationError):
            sign_in("ann@example.com", "wrong password!!", client_address="1.1.1.1")
        assert sign_in("ann@example.com", GOOD_PASSWORD, client_address="1.1.1.1") == user
        assert "sign-in throttling is unavailable" in caplog.text
    finally:
        settings.CACHES = working  # before the cache is cleared at teardown
