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
