"""Registering LIVE instances: what a token holder may say about an instance, and which instance is whose.

Everything here goes through the API with an access token, as a LIVE client (or an attacker holding a
token) would."""

import threading

import pytest

from anvil_forge.distribution.registration import MAX_USE_COUNTS, MAX_VERSIONS
from anvil_forge.distribution.models import LiveInstance
from anvil_forge.distribution.services import create_access_token

from ..api_support import Api, assert_error, fresh_rate_limits  # noqa: F401

pytestmark = pytest.mark.usefixtures("own_data_dir")
SECRET = "s3cr3t-" + "x" * 36


def registration(**fields) -> dict:
    return {"instance_id": "i-1", "mode": "accepting", **fields}


@pytest.fixture
def register(locked):
    _, token = create_access_token(locked.admin, locked.project, "prod")

    def post(body, token=token):
        return Api(token).post(f"/projects/{locked.project.pk}/live_instances", body)

    post.token = token
    return post


@pytest.mark.parametrize("url", [
    "http://xn--/anvil/receive",  # a malformed IDNA A-label: httpx refuses it only when pushing
    "http://[::1/anvil/receive",  # an unclosed IPv6 literal
    "http://ex ample.com/anvil/receive", "http://host:99999/", "http:///anvil/receive", "ftp://host/",
    "http://user:pw@host/anvil/receive", "http://-bad-.example/", "http://host\u0000/",
])
def test_receiver_urls_that_cannot_be_pushed_to_are_refused(register, url):
    response = register(registration(receiver_url=url, receiver_secret=SECRET))
    error = assert_error(response, 422, "validation_error")
    assert "receiver_url" in str(error)
    assert not LiveInstance.objects.exists()


@pytest.mark.parametrize("url", ["http://127.0.0.1:8765/anvil/receive", "https://app.example.com/anvil/receive",
                                 "http://[::1]:8765/anvil/receive", "https://bücher.example/anvil/receive",
                                 "http://xn--bcher-kva.example/anvil/receive", "http://localhost/x"])
def test_usable_receiver_urls_are_kept(register, url, fake_dns):
    for name in ("app.example.com", "xn--bcher-kva.example"):
        fake_dns[name] = "93.184.215.14"  # public (names that resolve are checked in test_receiver_networks)
    assert register(registration(receiver_url=url, receiver_secret=SECRET)).status_code == 200
    assert LiveInstance.objects.get().receiver_url == url


@pytest.mark.parametrize("secret", ["sécret-" + "x" * 30, "two words", "new\nline", "tab\there"])
def test_receiver_secrets_that_cannot_be_sent_in_a_header_are_refused(register, secret):
    response = register(registration(receiver_url="http://127.0.0.1:1/r", receiver_secret=secret))
    error = assert_error(response, 422, "validation_error")
    assert "receiver_secret" in str(error)


def test_a_receiver_needs_a_secret(register):
    error = assert_error(register(registration(receiver_url="http://127.0.0.1:1/r")), 422, "validation_error")
    assert "receiver_secret" in str(error)


def test_an_instance_belongs_to_the_token_that_registered_it(locked, register, fake_dns):
    """A second token of the same project cannot re-point an existing instance's pushes at itself."""
    fake_dns["evil.example"] = "93.184.215.14"  # a public address: refused for whose instance it is, not where
    assert register(registration(receiver_url="http://127.0.0.1:1/r", receiver_secret=SECRET, host="prod-1"))\
        .status_code == 200
    _, other = create_access_token(locked.admin, locked.project, "someone else's")
    takeover = register(registration(receiver_url="http://evil.example/r", receiver_secret="stolen" * 5,
                                     host="evil", sequence=99), token=other)
    error = assert_error(takeover, 409, "conflict_error")
    assert "another access token" in error["message"]
    instance = LiveInstance.objects.get()
    assert (instance.receiver_url, instance.receiver_secret, instance.host, instance.sequence) == (
        "http://127.0.0.1:1/r", SECRET, "prod-1", None)
    # Its own token goes on heartbeating it.
    assert register(registration(receiver_url="http://127.0.0.1:1/r", receiver_secret=SECRET, sequence=1))\
        .status_code == 200


def test_once_its_token_is_revoked_another_token_may_take_the_instance_over(locked, register):
    from anvil_forge.distribution.models import AccessToken
    from anvil_forge.distribution.services import revoke_access_token

    assert register(registration(host="old")).status_code == 200
    revoke_access_token(locked.admin, AccessToken.objects.get(label="prod"))
    _, rotated = create_access_token(locked.admin, locked.project, "rotated")
    assert register(registration(host="new"), token=rotated).status_code == 200
    assert LiveInstance.objects.get().host == "new"


def test_sizes_and_counts_are_capped_naming_the_field(register):
    too_many_versions = {f"set-{n}": "1.0.0" for n in range(MAX_VERSIONS + 1)}
    too_many_uses = {f"set.p{n}": 1 for n in range(MAX_USE_COUNTS + 1)}
    cases = [
        ("versions", {"versions": too_many_versions}),
        ("versions", {"versions": {"s" * 65: "1.0.0"}}),
        ("versions", {"versions": {"emails": "1" * 129}}),
        ("use_counts", {"use_counts": too_many_uses}),
        ("use_counts", {"use_counts": {"p" * 201: 1}}),
        ("use_counts", {"use_counts": {"emails.welcome": 2**60}}),
        ("sequence", {"sequence": 2**40}),
        ("host", {"host": "h" * 256}),
        ("client_version", {"client_version": "v" * 33}),
    ]
    for field, body in cases:
        error = assert_error(register(registration(**body)), 422, "validation_error")
        assert field in str(error), (field, error)
    assert not LiveInstance.objects.exists()
    ok = {"versions": {f"set-{n}": "1.0.0" for n in range(MAX_VERSIONS)},
          "use_counts": {f"set.p{n}": n for n in range(MAX_USE_COUNTS)}}
    assert register(registration(**ok)).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_the_instance_limit_holds_under_parallel_registrations(locked, settings):
    """Forty registrations at once against a limit of ten: exactly ten are stored, the rest refused naming
    the limit."""
    from anvil_forge.distribution.models import AccessToken
    from anvil_forge.distribution.services import register_instance

    settings.ANVIL_MAX_LIVE_INSTANCES = 10
    create_access_token(locked.admin, locked.project, "prod")
    token = AccessToken.objects.select_related("project__organisation").get()
    start, outcomes = threading.Barrier(40), []

    def race(n):
        from django.db import connection

        start.wait()
        try:
            register_instance(token, registration(instance_id=f"i-{n}"))
            outcomes.append("stored")
        except Exception as exc:  # the limit (422), or on SQLite a writer that waited too long
            outcomes.append(type(exc).__name__ + ("/limit" if "ANVIL_MAX_LIVE_INSTANCES" in str(exc) else ""))
        finally:
            connection.close()

    threads = [threading.Thread(target=race, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert LiveInstance.objects.count() == 10
    assert sorted(outcomes) == ["ValidationError/limit"] * 30 + ["stored"] * 10
