"""Sign-in and e-mail throttles: counted per e-mail and per address, atomically before the password is
checked, in the database — so parallel guesses are all counted, no flood of other keys lifts a lock-out,
and every process sees the same counts."""

import subprocess
import sys
import threading
import uuid

import pytest
from django.test import Client

from anvil_forge.accounts.models import Counter
from anvil_forge.accounts.services import sign_in
from anvil_forge.accounts.throttle import Throttle, Throttled
from anvil_forge.audit.models import AuditEvent
from anvil_forge.core.errors import ValidationError

from ..conftest import GOOD_PASSWORD
from ..servers import environment

pytestmark = pytest.mark.django_db


def test_limit_per_email():
    throttle = Throttle("t", per_email=2, per_address=100, window_minutes=5)
    throttle.take("a@example.com", "1.1.1.1")
    throttle.take("A@example.com ", "2.2.2.2")  # same e-mail, any case, any address
    with pytest.raises(Throttled) as exc:
        throttle.take("a@example.com", "3.3.3.3")
    assert exc.value.status == 429
    assert "this e-mail address" in exc.value.message
    assert 0 < exc.value.retry_after <= 300
    throttle.take("b@example.com", "3.3.3.3")  # someone else is not affected


def test_a_refusal_counts_nothing():
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
    # ... and that refusal by e-mail did not use up 4.4.4.4's count either
    throttle.take("d@example.com", "4.4.4.4")
    throttle.take("e@example.com", "4.4.4.4")


def test_limit_per_address():
    throttle = Throttle("t", per_email=100, per_address=2, window_minutes=5)
    throttle.take("a@example.com", "9.9.9.9")
    throttle.take("b@example.com", "9.9.9.9")
    with pytest.raises(Throttled, match="network address"):
        throttle.take("c@example.com", "9.9.9.9")


def test_an_address_that_is_out_of_tries_starts_no_more_email_counters():
    """A flood of made-up e-mail addresses from one address creates at most its limit of rows."""
    throttle = Throttle("t", per_email=5, per_address=3, window_minutes=5)
    for n in range(50):
        try:
            throttle.take(f"guess{n}@example.com", "9.9.9.9")
        except Throttled:
            pass
    assert Counter.objects.count() == 1 + 3  # the address's counter and three e-mails'


def test_forgive_clears_the_email_and_gives_the_address_its_attempt_back():
    throttle = Throttle("t", per_email=1, per_address=1, window_minutes=5)
    throttle.take("a@example.com", "1.1.1.1")
    throttle.forgive("a@example.com", "1.1.1.1")
    throttle.take("a@example.com", "1.1.1.1")


def test_window_ends(monkeypatch):
    import time

    now = [time.time()]
    monkeypatch.setattr(time, "time", lambda: now[0])
    throttle = Throttle("t", per_email=1, per_address=100, window_minutes=1)
    throttle.take("a@example.com", "1.1.1.1")
    with pytest.raises(Throttled):
        throttle.take("a@example.com", "1.1.1.1")
    now[0] += 61
    throttle.take("a@example.com", "1.1.1.1")


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
    settings.ANVIL_LOGIN_ATTEMPTS_PER_ADDRESS = 4
    make_user("ann@example.com")
    for _ in range(3):  # six attempts, but successes use up neither the e-mail's count nor the address's
        with pytest.raises(ValidationError):
            sign_in("ann@example.com", "wrong password!!", client_address="1.1.1.1")
        sign_in("ann@example.com", GOOD_PASSWORD, client_address="1.1.1.1")


def test_failed_sign_ins_are_audited(make_user, settings):
    settings.ANVIL_LOGIN_ATTEMPTS_PER_EMAIL = 2
    user = make_user("ann@example.com")
    for _ in range(2):
        with pytest.raises(ValidationError):
            sign_in("ann@example.com", "wrong password!!", client_address="1.1.1.1")
    with pytest.raises(ValidationError):
        sign_in("nobody@example.com", "wrong password!!", client_address="1.1.1.1")
    events = list(AuditEvent.objects.filter(action="user.sign_in_failed").order_by("id"))
    assert [(e.target_id, e.summary["email"], e.summary["address"], e.summary["locked"]) for e in events] == [
        (str(user.pk), "ann@example.com", "1.1.1.1", False),
        (str(user.pk), "ann@example.com", "1.1.1.1", True),  # the last try: the e-mail is locked now
        ("", "nobody@example.com", "1.1.1.1", False),
    ]
    assert all(e.actor is None and e.organisation is None for e in events)


@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_passwords_check_at_most_the_limit(make_user, settings):
    """Fourteen guesses at the same moment: exactly five are checked, the others refused unchecked."""
    settings.ANVIL_LOGIN_ATTEMPTS_PER_EMAIL = 5
    make_user("ann@example.com")
    start, outcomes = threading.Barrier(14), []

    def guess(n):
        start.wait()
        try:
            sign_in("ann@example.com", f"wrong password {n}", client_address=f"10.0.0.{n}")
        except Throttled:
            outcomes.append("throttled")
        except ValidationError:
            outcomes.append("checked")
        finally:
            from django.db import connection

            connection.close()

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(14)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["checked"] * 5 + ["throttled"] * 9


def test_a_flood_of_other_keys_does_not_lift_a_lock_out(world, settings):
    """Five wrong passwords lock the account; then 400 API requests with a valid access token and made-up
    instance ids (each once a fresh cache key) — the lock-out holds."""
    from anvil_forge.distribution.services import create_access_token

    settings.ANVIL_LOGIN_ATTEMPTS_PER_EMAIL = 5
    browser = Client()
    for _ in range(5):
        browser.post("/login", {"email": "member@example.com", "password": "wrong password!"})
    assert browser.post("/login", {"email": "member@example.com", "password": GOOD_PASSWORD}).status_code == 429
    _, token = create_access_token(world.admin, world.project, "attacker's own")
    flood = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    for n in range(400):
        flood.get(f"/api/v1/projects/{world.project.pk}/current_bundle", HTTP_X_ANVIL_INSTANCE=f"i-{n}")
    response = browser.post("/login", {"email": "member@example.com", "password": GOOD_PASSWORD})
    assert response.status_code == 429 and "_auth_user_id" not in browser.session


@pytest.mark.django_db(transaction=True)
def test_every_process_sees_the_same_counts(make_user, settings):
    """A lock-out made here holds in another process (as with `anvil serve --workers 2`, no Redis)."""
    settings.ANVIL_LOGIN_ATTEMPTS_PER_EMAIL = 2
    make_user("ann@example.com")
    for _ in range(2):
        with pytest.raises(ValidationError):
            sign_in("ann@example.com", "wrong password!!", client_address="1.1.1.1")
    code = ("import django; django.setup()\n"
            "from anvil_forge.accounts.services import Throttled, sign_in\n"
            "try:\n    sign_in('ann@example.com', 'correct horse battery staple', client_address='2.2.2.2')\n"
            "except Throttled:\n    print('throttled')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env=environment(DJANGO_SETTINGS_MODULE="anvil_forge.settings",
                                            ANVIL_LOGIN_ATTEMPTS_PER_EMAIL="2", REDIS_URL=""))
    assert result.stdout.strip() == "throttled", result.stderr


def test_throttling_needs_no_cache(make_user, settings):
    """With REDIS_URL pointing at a Redis that is not there, sign-in is still throttled (the counters are
    rows), and still works."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:9/0",  # nothing listens there
                                   "OPTIONS": {"socket_connect_timeout": 0.2}}}
    settings.ANVIL_LOGIN_ATTEMPTS_PER_EMAIL = 1
    user = make_user(f"{uuid.uuid4().hex[:8]}@example.com")
    assert sign_in(user.email, GOOD_PASSWORD, client_address="1.1.1.1") == user
    with pytest.raises(ValidationError):
        sign_in(user.email, "wrong password!!", client_address="1.1.1.1")
    with pytest.raises(Throttled):
        sign_in(user.email, GOOD_PASSWORD, client_address="1.1.1.1")
