import pytest
from django.core import mail

from anvil_forge.orgs.services import create_user
from anvil_forge.audit.models import AuditEvent
from anvil_forge.core.errors import Conflict, NotFound, ValidationError
from anvil_forge.orgs.models import Invitation, Membership, Organisation, Role
from anvil_forge.orgs.services import (
    accept_invitation, change_role, create_organisation, delete_organisation, invite_member, remove_member,
    update_organisation,
)

from ..conftest import GOOD_PASSWORD


def test_creator_becomes_owner_and_names_are_globally_unique(world, make_user):
    assert Membership.objects.get(user=world.owner, organisation=world.org).role == Role.OWNER
    with pytest.raises(Conflict, match="already exists"):
        create_organisation(world.outsider, "ACME")
    with pytest.raises(ValidationError, match="slug"):
        create_organisation(world.outsider, "Bad", slug="Bad Slug!")


def test_last_owner_cannot_leave_be_demoted_or_removed(world):
    with pytest.raises(Conflict, match="at least one owner"):
        change_role(world.owner, world.org, world.owner, "admin")
    with pytest.raises(Conflict, match="at least one owner"):
        remove_member(world.owner, world.org, world.owner)
    change_role(world.owner, world.org, world.admin, "owner")
    change_role(world.owner, world.org, world.owner, "admin")  # now allowed: another owner exists
    assert Membership.objects.filter(organisation=world.org, role=Role.OWNER).get().user == world.admin


def test_personal_organisation_cannot_be_deleted_or_transferred(world):
    personal = world.owner.personal_organisation
    with pytest.raises(Conflict, match="cannot be deleted"):
        delete_organisation(world.owner, personal)
    with pytest.raises(Conflict, match="exactly one owner"):
        invite_member(world.owner, personal, world.admin.email, "owner")
    invite_member(world.owner, personal, world.admin.email, "admin")
    with pytest.raises(Conflict, match="exactly one owner"):
        change_role(world.owner, personal, world.admin, "owner")
    with pytest.raises(Conflict, match="cannot be changed"):
        change_role(world.owner, personal, world.owner, "member")
    assert Organisation.objects.filter(pk=personal.pk).exists()


def test_inviting_an_existing_user_adds_them_at_once(world):
    result = invite_member(world.owner, world.org, "OUTSIDER@example.com", "admin")
    assert result.token is None and result.joined.role == "admin"
    assert Membership.objects.filter(user=world.outsider, organisation=world.org, role="admin").exists()
    assert mail.outbox == []


def test_inviting_a_new_email_sends_a_link_and_joining_uses_it(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        result = invite_member(world.owner, world.org, "newbie@example.com", "member")
    assert result.joined is None and result.token
    assert len(mail.outbox) == 1 and result.token in mail.outbox[0].body
    assert Invitation.objects.get().token_hash != result.token  # only the hash is stored
    newbie = create_user("newbie@example.com", GOOD_PASSWORD)
    membership = accept_invitation(newbie, result.token)
    assert membership.role == "member" and membership.organisation == world.org
    with pytest.raises(NotFound, match="not valid"):
        accept_invitation(newbie, result.token)  # single use


def test_an_unconfirmed_address_is_invited_by_link_not_added(world, django_capture_on_commit_callbacks):
    """Anyone may sign up with someone else's address: inviting it must not hand that person's place
    to whoever registered it. The link goes to the mailbox; only its reader can accept."""
    squatter = create_user("boss@example.com", GOOD_PASSWORD)  # signed up, never confirmed
    assert squatter.email_verified_at is None
    with django_capture_on_commit_callbacks(execute=True):
        result = invite_member(world.owner, world.org, "boss@example.com", "admin")
    assert result.joined is None and result.token
    assert not Membership.objects.filter(user=squatter, organisation=world.org).exists()
    assert len(mail.outbox) == 1 and result.token in mail.outbox[0].body
    assert "Sign in and join" in mail.outbox[0].body
    # The mailbox's reader accepts (after a password reset, say): that also confirms the address.
    membership = accept_invitation(squatter, result.token)
    assert membership.role == "admin"
    squatter.refresh_from_db()
    assert squatter.email_verified_at is not None


def test_invitation_is_for_its_email_only(world):
    result = invite_member(world.owner, world.org, "someone@example.com", "member")
    with pytest.raises(ValidationError, match="someone@example.com"):
        accept_invitation(world.outsider, result.token)


def test_invite_refuses_bad_role_and_existing_member(world):
    with pytest.raises(ValidationError, match="role"):
        invite_member(world.owner, world.org, "x@example.com", "emperor")
    with pytest.raises(Conflict, match="already a member"):
        invite_member(world.owner, world.org, world.member.email, "member")


def test_members_may_leave_on_their_own(world):
    remove_member(world.member, world.org, world.member)
    assert not Membership.objects.filter(user=world.member, organisation=world.org).exists()


def test_update_organisation_is_audited(world):
    update_organisation(world.owner, world.org, name="Acme Corp", description="hello")
    event = AuditEvent.objects.filter(action="organisation.update").get()
    assert event.actor == world.owner and event.summary == {"fields": ["description", "name"]}


def test_deleting_an_organisation_with_locked_sets_is_refused(world):
    from anvil_forge.prompts import services as prompts

    prompts.change_status(world.owner, world.pset, "review")
    prompts.change_status(world.owner, world.pset, "locked")
    with pytest.raises(Conflict, match="unlock them first"):
        delete_organisation(world.owner, world.org)
    assert Organisation.objects.filter(pk=world.org.pk).exists()
