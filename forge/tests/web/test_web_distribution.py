"""Distribution on the web: publishing from the set page, tokens, instances and publications on the project page."""

import re

import pytest
from django.test import Client

from anvil_forge.distribution.services import register_instance as register
from anvil_forge.distribution.models import AccessToken, Delivery
from anvil_forge.distribution.services import authenticate_access_token, create_access_token
from anvil_forge.prompts import services as prompts

PROJECT = "/o/acme/p/support/"
SET = PROJECT + "s/emails/"


pytestmark = pytest.mark.usefixtures("own_data_dir")


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_publish_button_is_enabled_only_for_managers_of_locked_sets(world):
    assert "Only LOCKED prompt sets can be published." in browser(world.admin).get(SET).content.decode()
    prompts.change_status(world.member, world.pset, "review")
    prompts.change_status(world.admin, world.pset, "locked")
    assert "Only owners and admins publish." in browser(world.member).get(SET).content.decode()
    page = browser(world.admin).get(SET).content.decode()
    assert 'action="' + SET + 'publish"' in page


def test_publishing_from_the_page_shows_the_result_on_the_project_page(locked):
    admin = browser(locked.admin)
    response = admin.post(SET + "publish", {"version": "1.0.0"}, follow=True)
    page = response.content.decode()
    assert "Published emails@1.0.0 as sequence 1" in page
    assert "Sequence 1" in page and "emails@1.0.0" in page
    refused = browser(locked.member).post(SET + "publish", {"version": "1.0.0"}, follow=True)
    # A refusal shows the set page again with the service's message, answering with its status.
    assert refused.status_code == 403 and "may not manage access tokens and publish" in refused.content.decode()


def test_tokens_are_shown_once_and_revocable(world):
    admin = browser(world.admin)
    page = admin.post(PROJECT + "tokens/new", {"label": "production"}, follow=True).content.decode()
    secret = re.search(r"(ant_[A-Za-z0-9_-]+)", page).group(1)
    assert authenticate_access_token(secret) is not None
    assert secret not in admin.get(PROJECT).content.decode()  # once only
    token = AccessToken.objects.get()
    admin.post(PROJECT + f"tokens/{token.pk}/revoke", follow=True)
    assert authenticate_access_token(secret) is None
    assert browser(world.member).post(PROJECT + "tokens/new", {"label": "x"}).status_code == 403
    assert AccessToken.objects.count() == 1  # the member's attempt was refused


def test_the_project_page_always_shows_its_id_and_a_connect_command(world):
    page = browser(world.member).get(PROJECT).content.decode()
    assert str(world.project.pk) in page
    command = "anvil-client connect --forge-url http://testserver --project acme/support --token ant_…"
    assert command in page  # the token masked: it is only ever shown once
    fresh = browser(world.admin).post(PROJECT + "tokens/new", {"label": "app"}, follow=True).content.decode()
    secret = re.search(r"(ant_[A-Za-z0-9_-]+)", fresh).group(1)
    assert f"--project acme/support --token {secret}</code>" in fresh  # ready to paste, this once


def test_instances_and_failed_deliveries_with_retry(locked):
    _, secret = create_access_token(locked.admin, locked.project, "prod")
    token = authenticate_access_token(secret)
    register(token, {"instance_id": "i-1", "host": "web-1", "mode": "accepting", "sequence": 0,
                     "receiver_url": "http://127.0.0.1:9/anvil/receive", "receiver_secret": "s",
                     "use_counts": {"emails.welcome": 42}})
    register(token, {"instance_id": "i-2", "host": "batch-1", "mode": "frozen", "versions": {"emails": "0.9.0"}})
    admin = browser(locked.admin)
    admin.post(SET + "publish", {"version": "1.0.0"})
    Delivery.objects.update(state="failed", last_error="the receiver answered 500")
    page = admin.get(PROJECT).content.decode()
    for text in ("web-1", "batch-1", "ACCEPTING", "FROZEN", "emails@0.9.0", "emails.welcome 42",
                 "the receiver answered 500", ">Retry<"):
        assert text in page, text
    delivery = Delivery.objects.get()
    admin.post(PROJECT + f"deliveries/{delivery.pk}/retry")
    delivery.refresh_from_db()
    assert delivery.state == "pending"
    assert ">Retry<" not in browser(locked.member).get(PROJECT).content.decode()


def test_api_keys_on_the_account_page(world):
    from anvil_forge.accounts.services import authenticate_api_key

    me = browser(world.member)
    page = me.post("/account", {"form": "api_key", "name": "ci", "scope_read": "on"}, follow=True).content.decode()
    secret = re.search(r"(ank_[A-Za-z0-9_-]+)", page).group(1)
    key = authenticate_api_key(secret)
    assert key.user == world.member and key.scopes == ["read"]
    assert secret not in me.get("/account").content.decode()
    refused = me.post("/account", {"form": "api_key", "name": "none"}, follow=True).content.decode()
    assert "scope" in refused  # no scope ticked: the service's message is shown
    me.post("/account", {"form": "revoke_key", "key_id": str(key.pk)})
    assert authenticate_api_key(secret) is None


def test_instances_gone_for_a_day_are_counted_not_listed(locked):
    from datetime import timedelta

    from django.utils import timezone

    from anvil_forge.distribution.models import LiveInstance

    _, secret = create_access_token(locked.admin, locked.project, "prod")
    token = authenticate_access_token(secret)
    for n in range(3):  # an application restarted three times: three instances
        register(token, {"instance_id": f"i-{n}", "host": f"web-{n}", "mode": "accepting"})
    LiveInstance.objects.exclude(instance_id="i-2").update(last_seen_at=timezone.now() - timedelta(days=2))
    page = browser(locked.member).get(PROJECT).content.decode()
    assert "web-2" in page and "web-0" not in page and "web-1" not in page
    assert "2 instances not heard from for a day are not listed" in page
    listed = [i.instance_id for i in LiveInstance.objects.filter(project=locked.project)]
    assert sorted(listed) == ["i-0", "i-1", "i-2"]  # kept: the API still lists them
