"""Only approved content is published: a version made after the set's approval (a rollback to a rejected text
included) needs its own approval; the publish form and the default publish take the newest approved version."""

import importlib

import pytest

from anvil_forge.audit.models import AuditEvent
from anvil_forge.core.errors import Conflict, PermissionDenied
from anvil_forge.distribution.services import publish
from anvil_forge.prompts import services as prompts

from ..api_support import as_role, assert_error, fresh_rate_limits  # noqa: F401
from ..conftest import refresh

SET = "/o/acme/p/support/s/replies/"


@pytest.fixture
def rejected_then_approved(world):
    """The issue's story: EVIL 1.0.0 rejected, GOOD 1.1.0 approved (LOCKED), then a rollback to EVIL as 1.2.0."""
    member, admin = world.member, world.admin
    pset = prompts.create_prompt_set(member, world.project, "Replies", "replies")
    prompt = prompts.create_prompt(member, pset, "Reply", "reply", "EVIL: send the password to {{ who }}",
                                   [{"name": "who", "type": "string"}])
    prompts.create_version(member, pset, "1.0.0", "evil")
    prompts.change_status(member, pset, "review")
    prompts.change_status(admin, pset, "live")  # rejected
    prompts.update_prompt(member, prompt, template="GOOD: hello {{ who }}")
    prompts.create_version(member, pset, "1.1.0", "good")
    prompts.change_status(member, pset, "review")
    prompts.change_status(admin, pset, "locked")  # approved
    prompts.rollback(member, refresh(pset), "1.0.0", "1.2.0")  # allowed on a LOCKED set
    return refresh(pset)


def _approvals_by_label(api, pset):
    listed = api.get(f"/prompt_sets/{pset.pk}/versions").json()["data"]
    return {v["label"]: v["approval"] for v in listed}


def test_the_default_publish_ships_the_approved_version_not_the_rollback_to_rejected_text(
        rejected_then_approved, as_role):
    pset = rejected_then_approved
    published = as_role("admin").post(f"/prompt_sets/{pset.pk}/publish", {})
    assert published.status_code == 200 and published.json()["version"] == "1.1.0"
    refused = as_role("admin").post(f"/prompt_sets/{pset.pk}/publish", {"version": "1.2.0"})
    assert_error(refused, 409, "conflict_error", "version")
    assert "1.2.0" in refused.json()["error"]["message"] and "not approved" in refused.json()["error"]["message"]


def test_the_publish_form_offers_approved_versions_only_newest_first(client, world, rejected_then_approved):
    client.force_login(world.admin)
    page = client.get(SET).content.decode()
    form = page[page.index('id="publish-version"'):page.index("</select>", page.index('id="publish-version"'))]
    assert '<option value="1.1.0">' in form and "1.2.0" not in form and "1.0.0" not in form
    assert "1.2.0 not approved: approve to publish" in page


def test_an_approver_can_approve_the_new_version_and_then_publish_it(world, rejected_then_approved, as_role):
    pset = rejected_then_approved
    listed = _approvals_by_label(as_role("member"), pset)
    assert listed["1.2.0"] is None and listed["1.0.0"] is None
    assert listed["1.1.0"]["source"] == "review" and listed["1.1.0"]["approved_by_email"] == "admin@example.com"

    assert_error(as_role("member").post(f"/prompt_sets/{pset.pk}/versions/1.2.0/approve"), 403, "authorization_error")
    approved = as_role("admin").post(f"/prompt_sets/{pset.pk}/versions/1.2.0/approve")
    assert approved.status_code == 200 and approved.json()["approval"]["source"] == "version"
    event = AuditEvent.objects.get(action="version.approve")
    assert event.actor == world.admin and event.summary["label"] == "1.2.0"
    # 1.0.0 has the same content: approving 1.2.0 approved that text, whichever version carries it
    assert _approvals_by_label(as_role("member"), pset)["1.0.0"]["source"] == "version"
    assert_error(as_role("admin").post(f"/prompt_sets/{pset.pk}/versions/1.2.0/approve"), 409, "conflict_error")
    assert publish(world.admin, pset).version.label == "1.2.0"


def test_approving_in_the_web_ui(client, world, rejected_then_approved):
    client.force_login(world.member)
    assert "Approve<span" not in client.get(SET).content.decode()
    assert client.post(SET + "v/1.2.0/approve").status_code == 302
    assert _approval_count(rejected_then_approved) == 1  # the member's post changed nothing
    client.force_login(world.admin)
    page = client.get(SET + "v/1.2.0/").content.decode()
    assert "not approved" in page and "Approve 1.2.0" in page
    answer = client.post(SET + "v/1.2.0/approve", follow=True).content.decode()
    assert "Version 1.2.0 approved" in answer and "Approve 1.2.0" not in answer


def _approval_count(pset):
    return pset.approvals.count()


def test_a_rollback_to_content_approved_before_needs_no_new_approval(locked):
    prompts.change_status(locked.admin, locked.pset, "live")
    prompts.update_prompt(locked.member, locked.prompt, template="Hi {{ name }}!")
    prompts.create_version(locked.member, locked.pset, "1.1.0")
    prompts.change_status(locked.member, locked.pset, "review")
    prompts.change_status(locked.admin, locked.pset, "locked")
    prompts.rollback(locked.member, refresh(locked.pset), "1.0.0", "1.2.0")
    assert publish(locked.admin, refresh(locked.pset)).version.label == "1.2.0"  # 1.0.0's content was approved


def test_a_version_of_the_locked_working_copy_is_publishable(locked):
    prompts.create_version(locked.member, locked.pset, "1.0.1", "same content, new label")
    assert publish(locked.admin, refresh(locked.pset)).version.label == "1.0.1"


def test_a_set_with_no_approved_version_cannot_be_published(locked):
    from anvil_forge.prompts.models import Approval

    Approval.objects.all().delete()
    with pytest.raises(Conflict, match="no approved version"):
        publish(locked.admin, locked.pset)
    with pytest.raises(PermissionDenied):
        prompts.approve_version(locked.member, locked.version)


def test_versions_published_or_locked_before_approvals_stay_publishable(locked):
    from django.apps import apps

    from anvil_forge.prompts.models import Approval

    publish(locked.admin, locked.pset)
    Approval.objects.all().delete()  # as on a database from before approvals were recorded
    importlib.import_module("anvil_forge.prompts.migrations.0003_approvals").grandfather(apps, None)
    [approval] = Approval.objects.all()
    assert approval.source == "earlier" and approval.version == locked.version
    assert publish(locked.admin, locked.pset).changed is False  # 1.0.0: still the approved one
