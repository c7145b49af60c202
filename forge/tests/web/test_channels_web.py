"""Channels, staged rollouts and four-eyes publish requests on the web: every form works for an admin, is
refused for a member (403, with the service's message), and bad input gets a 4xx naming the problem."""

import html
import re

import pytest
from django.core import mail
from django.test import Client

from anvil_forge.distribution import queries as dist_queries
from anvil_forge.distribution import services as dist
from anvil_forge.distribution.models import AccessToken, Channel, PublishRequest
from anvil_forge.prompts import services as prompts

from ..conftest import link_in
from ..release_support import new_version

PROJECT = "/o/acme/p/support/"
SET = PROJECT + "s/emails/"
CHANNELS = PROJECT + "channels/"
REFUSED = "may not manage access tokens and publish"

pytestmark = pytest.mark.usefixtures("own_data_dir")


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def apps(world, count: int = 4, channel: str | None = None):
    """``count`` LIVE instances (app-0…) registered with a token of ``channel``."""
    _, secret = dist.create_access_token(world.admin, world.project, "apps", channel)
    token = dist.authenticate_access_token(secret)
    for n in range(count):
        dist.register_instance(token, {"instance_id": f"app-{n}", "host": f"web-{n}", "mode": "accepting",
                                       "sequence": 1, "labels": {"region": "eu" if n % 2 else "us"}})
    return token


def staged(world, percentage: int = 25):
    """1.0.0 to everyone on production, then 1.1.0 to ``percentage`` % of it."""
    dist.publish(world.admin, world.pset, "1.0.0")
    new_version(world, "1.1.0", "Hi {{ name }}!")
    return dist.publish(world.admin, world.pset, "1.1.0", rollout={"percentage": percentage})


def text(response) -> str:
    return html.unescape(response.content.decode())  # the services' messages quote names: 'nowhere'


def test_project_page_lists_channels_with_their_newest_release_and_digests(locked):
    dist.publish(locked.admin, locked.pset, "1.0.0")
    dist.create_channel(locked.admin, locked.project, "canary", "first to get things", requires_approval=True)
    page = text(browser(locked.member).get(PROJECT))
    assert page.index('data-channel="production"') < page.index('data-channel="canary"')  # production first
    digest = dist_queries.release_sets(dist_queries.channel_list(locked.admin, locked.project)[0].head)[0]["digest"]
    assert "emails@1.0.0" in page and digest.split(":")[-1][:12] in page
    assert "requires approval" in page and "Nothing released to it yet." in page
    assert "Create channel" not in page and ">Promote<" not in page  # a member sees, does not act
    admin = text(browser(locked.admin).get(PROJECT))
    assert "Create channel" in admin and ">Promote<" in admin


def test_new_channel_form(locked):
    admin = browser(locked.admin)
    made = admin.post(CHANNELS + "new", {"name": "staging", "description": "before production",
                                         "requires_approval": "on"}, follow=True)
    assert made.status_code == 200 and "Channel staging created" in text(made)
    staging = Channel.objects.get(name="staging")
    assert staging.requires_approval and staging.description == "before production"
    bad = admin.post(CHANNELS + "new", {"name": "Bad Name"})
    assert bad.status_code == 422 and "lower-case letters, digits and hyphens" in text(bad)
    again = admin.post(CHANNELS + "new", {"name": "staging"})
    assert again.status_code == 409 and "already has a channel" in text(again)
    refused = browser(locked.member).post(CHANNELS + "new", {"name": "mine"})
    assert refused.status_code == 403 and REFUSED in text(refused)
    assert not Channel.objects.filter(name="mine").exists()


def test_publish_form_targets_a_channel_and_part_of_it(locked):
    admin = browser(locked.admin)
    page = text(admin.get(SET))
    assert 'name="channel"' in page and 'id="publish-percentage"' in page and "Roll out to" in page
    dist.create_channel(locked.admin, locked.project, "staging")
    done = admin.post(SET + "publish", {"version": "1.0.0", "channel": "staging"}, follow=True)
    assert "Published emails@1.0.0 to staging as sequence 1" in text(done)
    assert dist_queries.published_version_of(locked.pset, "staging").label == "1.0.0"
    assert dist_queries.published_version_of(locked.pset) is None  # production untouched
    admin.post(SET + "publish", {"version": "1.0.0"})
    new_version(locked, "1.1.0", "Hi {{ name }}!")
    for bad, names in (({"percentage": "abc"}, "whole number from 0 to 100, not 'abc'"),
                       ({"percentage": "150"}, "whole number from 0 to 100"),
                       ({"labels": "region"}, "name=value pairs"),
                       ({"labels": "Region=eu"}, "label name 'Region'"),
                       ({"channel": "nowhere"}, "has no channel 'nowhere'")):
        answer = admin.post(SET + "publish", {"version": "1.1.0", **bad})
        assert 400 <= answer.status_code < 500 and names in text(answer), (bad, answer.status_code)
    partial = admin.post(SET + "publish", {"version": "1.1.0", "percentage": "25", "labels": "region=eu, tier=gold",
                                           "instance_ids": "app-1, app-2"}, follow=True)
    assert "as sequence 2 to 25 % of instances with region=eu, tier=gold, and 2 named instances" in text(partial)
    head = dist_queries.channel_list(locked.admin, locked.project)[0].head
    assert (head.percentage, head.labels, head.instance_ids) == (25, {"region": "eu", "tier": "gold"},
                                                                 ["app-1", "app-2"])
    refused = browser(locked.member).post(SET + "publish", {"version": "1.1.0", "channel": "staging"})
    assert refused.status_code == 403 and REFUSED in text(refused)


def test_rollout_progress_expand_to_everyone_and_roll_back(locked):
    apps(locked)
    staged(locked, 25)
    admin, member = browser(locked.admin), browser(locked.member)
    page = text(admin.get(PROJECT))
    assert "rollout in progress" in page and "25 % of instances" in page and "<progress" in page
    assert ">Expand<" in page and "Expand to everyone" in page and ">Roll back" in page
    for count in ("in_cohort", "on_release", "on_previous", "errors"):
        assert f'data-count="{count}"' in page
    assert "Expand to everyone" not in text(member.get(PROJECT))
    smaller = admin.post(CHANNELS + "production/expand", {"percentage": "10"})
    assert smaller.status_code == 409 and "a rollout only grows" in text(smaller)
    junk = admin.post(CHANNELS + "production/expand", {"percentage": "lots"})
    assert junk.status_code == 422 and "whole number" in text(junk)
    refused = member.post(CHANNELS + "production/expand", {"everyone": "1"})
    assert refused.status_code == 403 and REFUSED in text(refused)
    wider = admin.post(CHANNELS + "production/expand", {"percentage": "50"}, follow=True)
    assert "Expanded the rollout of production: sequence 2 to 50 % of instances" in text(wider)
    everyone = admin.post(CHANNELS + "production/expand", {"everyone": "1", "back": "channel"}, follow=True)
    assert everyone.redirect_chain[-1][0] == CHANNELS + "production/"
    assert "sequence 2 to everyone" in text(everyone)
    again = admin.post(CHANNELS + "production/expand", {"everyone": "1"})
    assert again.status_code == 409 and "has no rollout in progress" in text(again)
    assert member.post(CHANNELS + "production/rollback").status_code == 403
    back = admin.post(CHANNELS + "production/rollback", follow=True)
    assert "Rolled back (restoring sequence 1) production: sequence 3 to everyone" in text(back)
    assert dist_queries.published_version_of(locked.pset).label == "1.0.0"


def test_roll_back_of_a_first_release_is_refused_naming_why(locked):
    dist.publish(locked.admin, locked.pset, "1.0.0")
    admin = browser(locked.admin)
    assert ">Roll back" not in text(admin.get(PROJECT))  # one release: nothing before it
    refused = admin.post(CHANNELS + "production/rollback")
    assert refused.status_code == 409 and "is the first release of channel 'production'" in text(refused)


def test_channel_page_shows_history_progress_and_settings(locked):
    token = apps(locked)
    staged(locked, 50)
    dist.register_instance(token, {"instance_id": "app-3", "host": "web-3", "mode": "accepting", "sequence": 1,
                                   "labels": {"region": "eu"}, "last_error": "pull failed: timeout"})
    progress = dist_queries.rollout_progress(locked.admin, locked.project, "production")
    page = text(browser(locked.member).get(CHANNELS + "production/"))
    assert "<h1>Channel production" in page and "rollout in progress" in page
    for row in progress["instances"]:
        i = row["instance"]
        assert f'data-instance="{i.instance_id}" data-cohort="{row["cohort"]}"' in page
        assert i.host in page
    assert "region=eu" in page and "pull failed: timeout" in page
    assert re.search(r"<th scope=\"row\">2</th>\s*<td><span class=\"badge\">publish</span>", page)
    assert "emails@1.1.0" in page and "emails@1.0.0" in page  # the history: both releases
    assert "Not deletable" not in page and "Save channel" not in page  # a member reads the settings
    admin = browser(locked.admin)
    assert "Not deletable: The production channel cannot be deleted." in text(admin.get(CHANNELS + "production/"))
    saved = admin.post(CHANNELS + "production/settings", {"description": "the apps", "requires_approval": "on",
                                                          "back": "channel"}, follow=True)
    assert "Channel production saved." in text(saved) and "requires approval" in text(saved)
    production = Channel.objects.get(name="production")
    assert production.requires_approval and production.description == "the apps"
    long = admin.post(CHANNELS + "production/settings", {"description": "x" * 201, "back": "channel"})
    assert long.status_code == 422 and "at most 200 characters" in text(long)
    assert browser(locked.member).post(CHANNELS + "production/settings", {"description": "x"}).status_code == 403
    assert admin.post(CHANNELS + "production/delete").status_code == 409
    assert admin.get(CHANNELS + "nowhere/").status_code == 404


def test_delete_a_channel_nothing_depends_on(locked):
    dist.create_channel(locked.admin, locked.project, "scratch")
    admin = browser(locked.admin)
    assert "Delete channel" in text(admin.get(CHANNELS + "scratch/"))
    assert browser(locked.member).post(CHANNELS + "scratch/delete").status_code == 403
    gone = admin.post(CHANNELS + "scratch/delete", {"back": "channel"}, follow=True)
    assert "Channel scratch deleted." in text(gone) and not Channel.objects.filter(name="scratch").exists()
    dist.create_channel(locked.admin, locked.project, "followed")
    dist.create_access_token(locked.admin, locked.project, "t", "followed")
    kept = admin.post(CHANNELS + "followed/delete", {"back": "channel"})
    assert kept.status_code == 409 and "has releases or access tokens" in text(kept)


def test_promote_form(locked):
    dist.create_channel(locked.admin, locked.project, "staging")
    dist.publish(locked.admin, locked.pset, "1.0.0", channel="staging")
    admin = browser(locked.admin)
    same = admin.post(CHANNELS + "promote", {"source": "staging", "to": "staging"})
    assert same.status_code == 422 and "cannot be promoted to itself" in text(same)
    unknown = admin.post(CHANNELS + "promote", {"source": "nowhere", "to": "production"})
    assert unknown.status_code == 404 and "has no channel 'nowhere'" in text(unknown)
    refused = browser(locked.member).post(CHANNELS + "promote", {"source": "staging", "to": "production"})
    assert refused.status_code == 403 and REFUSED in text(refused)
    done = admin.post(CHANNELS + "promote", {"source": "staging", "to": "production"}, follow=True)
    assert "Promoted staging to production: sequence 1 to everyone" in text(done)
    assert dist_queries.published_version_of(locked.pset).label == "1.0.0"


def test_approval_is_refused_to_the_requester_and_releases_for_a_second_admin(
        locked, mailbox, django_capture_on_commit_callbacks):
    dist.update_channel(locked.admin, Channel.objects.get(name="production"), requires_approval=True)
    admin = browser(locked.admin)
    with django_capture_on_commit_callbacks(execute=True):  # the e-mail to the approvers goes on commit
        asked = admin.post(SET + "publish", {"version": "1.0.0"}, follow=True)
    page = text(asked)
    assert asked.redirect_chain[-1][0] == PROJECT + "#requests"
    assert "Waiting for approval by another owner or admin" in page
    assert 'id="requests"' in page and "Emails 1.0.0" in page and "admin@example.com" in page
    assert dist_queries.published_version_of(locked.pset) is None
    request = PublishRequest.objects.get()
    asking = next(m for m in mail.outbox if m.subject.startswith("Approval needed"))
    assert asking.to == ["owner@example.com"] and link_in(asking) == PROJECT + "#requests"  # the card above
    decide = PROJECT + f"requests/{request.pk}/"
    own = admin.post(decide + "approve")
    assert own.status_code == 403 and "another owner or admin must approve it" in text(own)
    assert browser(locked.member).post(decide + "approve").status_code == 403
    assert admin.post(decide + "nonsense").status_code == 404
    released = browser(locked.owner).post(decide + "approve", follow=True)
    assert "Approved Emails 1.0.0 to production: released as sequence 1 to everyone" in text(released)
    assert dist_queries.published_version_of(locked.pset).label == "1.0.0"
    head = dist_queries.channel_list(locked.admin, locked.project)[0].head
    assert (head.published_by, head.approved_by) == (locked.admin, locked.owner)
    late = browser(locked.owner).post(decide + "reject")
    assert late.status_code == 409 and "this publish request is approved" in text(late)


def test_requests_can_be_rejected_or_cancelled(locked):
    dist.update_channel(locked.admin, Channel.objects.get(name="production"), requires_approval=True)
    first = dist.publish(locked.admin, locked.pset, "1.0.0").request
    admin, owner = browser(locked.admin), browser(locked.owner)
    page = text(admin.get(PROJECT))
    assert ">Cancel<" in page and "You asked for it" in page
    assert ">Cancel<" not in text(owner.get(PROJECT))  # only the requester is offered Cancel
    assert browser(locked.member).post(PROJECT + f"requests/{first.pk}/reject").status_code == 403
    rejected = owner.post(PROJECT + f"requests/{first.pk}/reject", follow=True)
    assert "Request rejected: Emails 1.0.0 to production." in text(rejected)
    second = dist.publish(locked.admin, locked.pset, "1.0.0").request
    cancelled = admin.post(PROJECT + f"requests/{second.pk}/cancel", follow=True)
    assert "Request cancelled" in text(cancelled) and "Nothing is waiting for approval." in text(cancelled)
    assert dist_queries.published_version_of(locked.pset) is None


def test_tokens_have_a_channel_and_instances_show_theirs_and_their_cohort(locked):
    dist.create_channel(locked.admin, locked.project, "staging")
    admin = browser(locked.admin)
    made = admin.post(PROJECT + "tokens/new", {"label": "stage apps", "channel": "staging"}, follow=True)
    assert "Access token stage apps for channel staging created" in text(made)
    assert AccessToken.objects.get().channel.name == "staging"
    unknown = admin.post(PROJECT + "tokens/new", {"label": "x", "channel": "nowhere"})
    assert unknown.status_code == 404 and "has no channel 'nowhere'" in text(unknown)
    empty = admin.post(PROJECT + "tokens/new", {"label": ""})
    assert empty.status_code == 422 and "label must be 1-100 characters" in text(empty)
    assert 'id="token-channel"' in text(admin.get(PROJECT))
    apps(locked)
    staged(locked, 50)
    page = text(admin.get(PROJECT))
    cohorts = [row["cohort"]
               for row in dist_queries.rollout_progress(locked.admin, locked.project, "production")["instances"]]
    assert page.count(">in rollout<") == cohorts.count("rollout")
    assert page.count(">keeps previous<") == cohorts.count("previous")
    assert len(cohorts) == 4 and page.count('<span class="mono">production</span>') == 4
