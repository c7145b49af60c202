"""API keys: the service functions, the /api_keys endpoints, authentication with keys and sessions, the CLI."""

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from anvil_forge.accounts import queries as account_queries
from anvil_forge.accounts import services as accounts
from anvil_forge.accounts.models import ApiKey
from anvil_forge.audit.models import AuditEvent
from anvil_forge.core.errors import NotFound, ValidationError
from anvil_forge.core.tokens import hash_secret

from ..api_support import Api, as_role, assert_error, fresh_rate_limits, key_for  # noqa: F401

# --- services ------------------------------------------------------------------------


def test_a_key_is_shown_once_and_stored_as_a_hash(make_user):
    ada = make_user("ada@example.com")
    key, secret = accounts.create_api_key(ada, "  CI deploys ", ["write", "read", "read"])
    assert secret.startswith("ank_") and len(secret) > 40
    key.refresh_from_db()
    assert key.key_hash == hash_secret(secret) and secret not in str(vars(key))
    assert key.prefix == secret[:12] and str(key) == f"CI deploys ({secret[:12]}…)"
    assert (key.name, key.scopes, key.last_used_at, key.revoked_at) == ("CI deploys", ["read", "write"], None, None)
    event = AuditEvent.objects.get(action="api_key.create")
    assert (event.actor, event.target_id, event.target_type) == (ada, str(key.pk), "api_key")
    assert secret not in str(event.summary) and event.summary["scopes"] == ["read", "write"]


@pytest.mark.parametrize("name, scopes, field", [
    ("", ["read"], "name"), ("x" * 101, ["read"], "name"), ("ok", [], "scopes"), ("ok", ["admin"], "scopes"),
])
def test_bad_key_requests_name_the_field(make_user, name, scopes, field):
    with pytest.raises(ValidationError) as caught:
        accounts.create_api_key(make_user("ada@example.com"), name, scopes)
    assert caught.value.details[0]["field"] == field


def test_scopes_may_be_given_as_text(make_user):
    key, _ = accounts.create_api_key(make_user("ada@example.com"), "cli", "read, write")
    assert key.scopes == ["read", "write"]


def test_revoking_stops_the_key_and_is_audited(make_user):
    ada, bob = make_user("ada@example.com"), make_user("bob@example.com")
    key, secret = accounts.create_api_key(ada, "k", ["read"])
    with pytest.raises(NotFound):
        accounts.revoke_api_key(bob, key.pk)  # someone else's key does not exist for bob
    with pytest.raises(NotFound):
        accounts.revoke_api_key(ada, "not-a-uuid")
    accounts.revoke_api_key(ada, key.pk)
    assert accounts.authenticate_api_key(secret) is None
    assert list(account_queries.api_keys_for(ada)) == []
    assert list(account_queries.api_keys_for(ada, include_revoked=True)) == [key]
    with pytest.raises(NotFound):
        accounts.revoke_api_key(ada, key.pk)  # already revoked
    assert AuditEvent.objects.filter(action="api_key.revoke", target_id=str(key.pk)).count() == 1


def test_last_used_is_recorded_at_most_once_a_minute(make_user, django_assert_num_queries):
    key, secret = accounts.create_api_key(make_user("ada@example.com"), "k", ["read"])
    first = accounts.authenticate_api_key(secret).last_used_at
    assert first is not None
    with django_assert_num_queries(1):  # the look-up only: no write within the minute
        assert accounts.authenticate_api_key(secret).last_used_at == first
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    assert accounts.authenticate_api_key(secret).last_used_at > first


def test_an_inactive_users_keys_stop_working(make_user):
    ada = make_user("ada@example.com")
    _, secret = accounts.create_api_key(ada, "k", ["read"])
    ada.is_active = False
    ada.save()
    assert accounts.authenticate_api_key(secret) is None


@pytest.mark.parametrize("secret", ["", "ank_", "ank_nope", "inv_x", "x" * 500, None])
def test_garbage_is_not_a_key(db, secret):
    assert accounts.authenticate_api_key(secret) is None


# --- the /api_keys endpoints ---------------------------------------------------------------


def test_create_list_and_revoke_keys_over_the_api(world, as_role):
    api = as_role("member")
    created = api.post("/api_keys", {"name": "laptop", "scopes": ["read"]})
    assert created.status_code == 201
    body = created.json()
    secret = body.pop("key")
    assert secret.startswith("ank_") and body["prefix"] == secret[:12] and body["scopes"] == ["read"]
    assert set(body) == {"id", "created_at", "updated_at", "name", "prefix", "scopes", "last_used_at", "revoked_at",
                         "expires_at"}

    listed = api.get("/api_keys").json()
    assert [k["name"] for k in listed["data"]] == ["member key", "laptop"]  # in creation order
    assert all("key" not in k and "key_hash" not in k for k in listed["data"])
    assert Api(secret).get("/organisations").status_code == 200

    assert api.delete(f"/api_keys/{body['id']}").status_code == 204
    assert_error(Api(secret).get("/organisations"), 401, "authentication_error")
    assert_error(api.delete(f"/api_keys/{body['id']}"), 404, "not_found_error")
    other = as_role("admin").get("/api_keys").json()["data"]
    assert_error(api.delete(f"/api_keys/{other[0]['id']}"), 404, "not_found_error")


def test_key_creation_errors(world, as_role):
    api = as_role("member")
    assert_error(api.post("/api_keys", {"name": "k", "scopes": []}), 422, "validation_error", "scopes")
    assert_error(api.post("/api_keys", {"name": "k", "scopes": ["admin"]}), 422, "validation_error", "scopes.0")
    assert_error(api.post("/api_keys", {"name": " ", "scopes": ["read"]}), 422, "validation_error", "name")
    assert_error(api.post("/api_keys", {"scopes": ["read"]}), 422, "validation_error", "name")


# --- authentication ------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer ", "Bearer ank_wrong", "Basic YTpi", "Token abc",
                                    "Bearer ank_a b"])
def test_missing_or_bad_credentials_are_401(world, header):
    headers = {"Authorization": header} if header is not None else {}
    for response in (Api().get("/organisations", **headers), Api().post("/organisations", {"name": "X"}, **headers)):
        assert_error(response, 401, "authentication_error")


def test_scopes_decide_reads_and_writes(world):
    read_only, write_only = Api(key_for(world.member, ["read"])), Api(key_for(world.member, ["write"]))
    assert read_only.get(f"/prompts/{world.prompt.pk}").status_code == 200
    error = assert_error(read_only.patch(f"/prompts/{world.prompt.pk}", {"description": "x"}), 403,
                         "authorization_error", "scopes")
    assert "'write' scope" in error["message"]
    assert_error(read_only.delete(f"/prompts/{world.prompt.pk}"), 403, "authorization_error")
    assert_error(write_only.get(f"/prompts/{world.prompt.pk}"), 403, "authorization_error")
    assert write_only.patch(f"/prompts/{world.prompt.pk}", {"description": "x"}).status_code == 200
    # rendering changes nothing: the read scope is enough
    assert read_only.post(f"/prompts/{world.prompt.pk}/render", {"variables": {"name": "Ada"}}).status_code == 200
    assert read_only.post("/render", {"address": "acme/support/emails/welcome",
                                      "variables": {"name": "Ada"}}).status_code == 200


def test_a_bad_key_is_not_rescued_by_a_session(world):
    client = Client()
    client.force_login(world.member)
    assert Api(client=client).get("/organisations").status_code == 200
    assert_error(Api("ank_wrong", client=client).get("/organisations"), 401, "authentication_error")


def test_a_browser_session_works_and_needs_csrf_for_writes(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.member)
    api = Api(client=client)
    assert api.get(f"/prompts/{world.prompt.pk}").status_code == 200
    error = assert_error(api.patch(f"/prompts/{world.prompt.pk}", {"description": "x"}), 403,
                         "authorization_error")
    assert "CSRF" in error["message"]
    docs = client.get("/api/v1/docs")  # any page that sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    assert docs.status_code == 200
    ok = api.patch(f"/prompts/{world.prompt.pk}", {"description": "x"}, **{"X-CSRFToken": token})
    assert ok.status_code == 200 and ok.json()["description"] == "x"


def test_a_signed_out_session_is_401(world):
    client = Client()
    client.force_login(world.member)
    client.logout()
    assert_error(Api(client=client).get("/organisations"), 401, "authentication_error")


# --- the CLI ----------------------------------------------------------------------------------


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("apikey", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_anvil_apikey_create_prints_a_key_that_works(world):
    out, err = run("create", "MEMBER@example.com", "--name", "curl", "--scopes", "read,write")
    secret = out.strip()
    assert secret.startswith("ank_") and "\n" not in secret and "shown only this once" in err
    response = Api(secret).get(f"/prompts/{world.prompt.pk}")
    assert response.status_code == 200 and response.json()["slug"] == "welcome"
    key = ApiKey.objects.get(key_hash=hash_secret(secret))
    assert (key.user, key.scopes, key.name) == (world.member, ["read", "write"], "curl")

    listing, _ = run("list", "member@example.com")
    assert "curl" in listing and key.prefix in listing and secret not in listing
    revoked, _ = run("revoke", "member@example.com", str(key.pk))
    assert "Revoked" in revoked
    assert Api(secret).get(f"/prompts/{world.prompt.pk}").status_code == 401
    assert "revoked" in run("list", "member@example.com", "--all")[0]


@pytest.mark.parametrize("args, message", [
    (["create", "nobody@example.com", "--name", "x"], "no user"),
    (["create", "member@example.com", "--name", "x", "--scopes", "admin"], "unknown scope"),
    (["create", "member@example.com", "--name", " "], "name must be"),
    (["revoke", "member@example.com", "5"], "not found"),
])
def test_anvil_apikey_errors(world, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)


# --- expiry and revoking with a password change ------------------------------------------------------


def test_an_expired_key_is_refused_with_401(world):
    key, secret = accounts.create_api_key(world.member, "ci", ["read"], timezone.now() + timedelta(days=30))
    assert Api(secret).get("/organisations").status_code == 200
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    refused = Api(secret).get("/organisations")
    assert_error(refused, 401, "authentication_error")
    assert "expired" in refused.json()["error"]["message"]


def test_an_expiry_is_given_and_shown_over_the_api(world, as_role):
    api = as_role("member")
    created = api.post("/api_keys", {"name": "ci", "scopes": ["read"], "expires_at": "2030-01-31T00:00:00Z"})
    assert created.status_code == 201 and created.json()["expires_at"].startswith("2030-01-31T00:00:00")
    assert_error(api.post("/api_keys", {"name": "ci", "scopes": ["read"], "expires_at": "2020-01-01T00:00:00Z"}),
                 422, "validation_error", "expires_at")
    assert_error(api.post("/api_keys", {"name": "ci", "scopes": ["read"], "expires_at": "2030-01-31T00:00:00"}),
                 422, "validation_error", "expires_at")  # no time zone: ambiguous
    assert_error(api.post("/api_keys", {"name": "ci", "scopes": ["read"], "expires_at": "2999-01-31T00:00:00Z"}),
                 422, "validation_error", "expires_at")


def test_the_cli_creates_an_expiring_key(world):
    out, err = io.StringIO(), io.StringIO()
    call_command("apikey", "create", world.member.email, "--name", "deploys", "--expires-in", "7", stdout=out,
                 stderr=err)
    key = ApiKey.objects.get(key_hash=hash_secret(out.getvalue().strip()))
    assert timedelta(days=6, hours=23) < key.expires_at - timezone.now() <= timedelta(days=7)
    assert "expires" in err.getvalue()
    with pytest.raises(CommandError, match="at least 1"):
        call_command("apikey", "create", world.member.email, "--name", "x", "--expires-in", "0")
