import pytest

from anvil_forge.audit import queries as audit_queries
from anvil_forge.audit.models import AuditEvent
from anvil_forge.core.errors import ValidationError
from anvil_forge.prompts import services as prompts


def test_every_change_is_recorded_with_actor_target_and_summary(world):
    prompts.update_prompt(world.member, world.prompt, template="Hi {{ name }}")
    event = audit_queries.events_for_organisation(world.owner, world.org).first()
    assert (event.action, event.actor, event.organisation, event.target_type) == (
        "prompt.update", world.member, world.org, "prompt")
    assert event.target_id == str(world.prompt.pk)
    assert event.summary == {"prompt_set": "emails", "fields": ["template"]}


def test_the_log_of_an_organisation_is_newest_first_and_complete(world):
    actions = list(audit_queries.events_for_organisation(world.owner, world.org).values_list("action", flat=True))
    assert actions == ["version.create", "prompt.create", "prompt_set.create", "project.create", "organisation.create"]


def test_a_refused_change_leaves_no_event(world):
    before = AuditEvent.objects.count()
    with pytest.raises(ValidationError):
        prompts.update_prompt(world.member, world.prompt, template="{% if %}")
    assert AuditEvent.objects.count() == before


def test_dashboard_activity_covers_only_the_users_organisations(world):
    assert list(audit_queries.recent_events_for_user(world.outsider)) == [
        e for e in AuditEvent.objects.filter(organisation=world.outsider.personal_organisation)
    ]
    assert len(audit_queries.recent_events_for_user(world.member)) > 3
