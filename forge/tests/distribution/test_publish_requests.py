"""Four-eyes approval: on a channel that requires it, a publish or promote waits for an owner or admin other
than the requester — whether they act in the UI or with an API key — is e-mailed to them, audited, and
expires."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from anvil_forge.audit.models import AuditEvent
from anvil_forge.core.errors import Conflict, PermissionDenied
from anvil_forge.distribution import queries as dist_queries
from anvil_forge.distribution import services as dist
from anvil_forge.distribution.models import PublishRequest

from ..api_support import Api, key_for
from ..release_support import new_version

pytestmark = pytest.mark.usefixtures("own_data_dir", "mailbox")


@pytest.fixture
def guarded(locked):
    """Production requires approval."""
    production = dist_queries.channel(locked.admin, locked.project, "production")
    dist.update_channel(locked.owner, production, requires_approval=True)
    locked.production = production
    return locked


def test_a_publish_waits_for_another_approver_and_is_mailed_to_them(guarded, django_capture_on_commit_callbacks):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        result = dist.publish(guarded.admin, guarded.pset)
    request = result.request
    assert request is not None and request.state == "pending" and not result.changed
    assert dist_queries.current_sequence(guarded.project) == 0  # nothing released yet
    [message] = mail.outbox
    assert message.to == ["owner@example.com"]  # the other owners and admins; not the requester, not members
    assert "Emails 1.0.0" in message.subject and "production" in message.subject
    assert "/o/acme/p/support/#requests" in message.body and "expires at" in message.body
    with pytest.raises(PermissionDenied, match="another owner or admin must approve it"):
        dist.approve_request(guarded.admin, request)
    with pytest.raises(PermissionDenied):
        dist.approve_request(guarded.member, request)
    assert dist_queries.current_sequence(guarded.project) == 0
    approved = dist.approve_request(guarded.owner, request)
    assert approved.sequence == 1 and approved.changed
    publication = approved.publication
    assert (publication.published_by, publication.approved_by) == (guarded.admin, guarded.owner)
    request.refresh_from_db()
    assert (request.state, request.decided_by, request.publication) == ("approved", guarded.owner, publication)
    actions = list(AuditEvent.objects.filter(action__startswith="publish_request.").order_by("created_at")
                   .values_list("action", "actor_email"))
    assert actions == [("publish_request.create", "admin@example.com"),
                       ("publish_request.approve", "owner@example.com")]
    published = AuditEvent.objects.get(action="prompt_set.publish")
    assert published.actor_email == "owner@example.com" and published.summary["requested_by"] == "admin@example.com"
    with pytest.raises(Conflict, match="this publish request is approved"):
        dist.approve_request(guarded.owner, request)


def test_the_requester_cannot_approve_with_an_api_key_either(guarded):
    admin, owner = Api(key_for(guarded.admin)), Api(key_for(guarded.owner))
    asked = admin.post(f"/prompt_sets/{guarded.pset.pk}/publish", {"rollout": None})
    assert asked.status_code == 202, asked.content
    request_id = asked.json()["request"]["id"]
    assert asked.json()["request"]["state"] == "pending" and asked.json()["request"]["what"] == "Emails 1.0.0"
    refused = admin.post(f"/publish_requests/{request_id}/approve")
    assert refused.status_code == 403 and "four-eyes" in refused.json()["error"]["message"]
    listed = admin.get(f"/projects/{guarded.project.pk}/publish_requests", {"state": "pending"}).json()["data"]
    assert [r["id"] for r in listed] == [request_id]
    approved = owner.post(f"/publish_requests/{request_id}/approve")
    assert approved.status_code == 200 and approved.json()["sequence"] == 1
    assert admin.get(f"/projects/{guarded.project.pk}/publish_requests", {"state": "pending"}).json()["data"] == []


def test_a_promote_request_releases_what_the_source_held_when_it_was_asked(guarded):
    dist.create_channel(guarded.admin, guarded.project, "staging")
    dist.publish(guarded.admin, guarded.pset, channel="staging")
    request = dist.promote(guarded.admin, guarded.production, "staging").request
    held = dict(request.content)
    assert held and request.kind == "promote"
    approved = dist.approve_request(guarded.owner, request)
    assert approved.publication.content == held and approved.publication.source_channel == "staging"


def test_requests_expire_and_can_be_rejected_or_cancelled(guarded):
    first = dist.publish(guarded.admin, guarded.pset).request
    PublishRequest.objects.filter(pk=first.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(Conflict, match="this publish request is expired"):
        dist.approve_request(guarded.owner, PublishRequest.objects.get(pk=first.pk))
    assert PublishRequest.objects.get(pk=first.pk).state == "expired"
    assert AuditEvent.objects.filter(action="publish_request.expire").count() == 1
    second = dist.publish(guarded.admin, guarded.pset).request
    PublishRequest.objects.filter(pk=second.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert dist.expire_publish_requests() == 1 and PublishRequest.objects.get(pk=second.pk).state == "expired"
    third = dist.publish(guarded.admin, guarded.pset).request
    assert dist.reject_request(guarded.owner, third).state == "rejected"
    fourth = dist.publish(guarded.admin, guarded.pset).request
    assert dist.cancel_request(guarded.admin, fourth).state == "cancelled"
    with pytest.raises(Conflict):
        dist.approve_request(guarded.owner, fourth)
    assert dist_queries.current_sequence(guarded.project) == 0


def test_roll_back_and_expand_do_not_wait_for_approval(guarded):
    dist.approve_request(guarded.owner, dist.publish(guarded.admin, guarded.pset).request)
    new_version(guarded, "1.1.0", "Hi {{ name }}!")
    staged = dist.publish(guarded.admin, guarded.pset, rollout={"percentage": 50}).request
    assert staged.rollout["percentage"] == 50
    assert dist.approve_request(guarded.owner, staged).publication.percentage == 50
    assert dist.expand_rollout(guarded.admin, guarded.production, {"everyone": True}).sequence == 2
    rolled = dist.rollback(guarded.admin, guarded.production)
    assert rolled.sequence == 3 and rolled.publication.restores_sequence == 1 and rolled.request is None
