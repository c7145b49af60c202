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


# --- what else is recorded: exports, peers' reads; and history that outlives its organisation --------------


def test_deleting_an_organisation_keeps_its_history(world):
    from anvil_forge.orgs.services import create_organisation, delete_organisation

    temp = create_organisation(world.owner, "Temporary", "temporary")
    project = prompts.create_project(world.owner, temp, "Short lived")
    org_id = str(temp.pk)
    delete_organisation(world.owner, temp)
    kept = AuditEvent.objects.filter(organisation_ref=org_id).order_by("created_at", "id")
    assert [e.action for e in kept] == ["organisation.create", "project.create", "organisation.delete"]
    assert {(e.organisation_id, e.organisation_name) for e in kept} == {(None, "Temporary")}
    assert kept[1].target_id == str(project.pk) and kept[2].actor == world.owner


def test_exports_are_recorded_however_they_are_made(world, client, tmp_path):
    from django.core.management import call_command

    from ..api_support import Api, key_for

    assert Api(key_for(world.member)).get(f"/projects/{world.project.pk}/export").status_code == 200
    client.force_login(world.member)
    assert client.get("/o/acme/p/support/export").status_code == 200
    call_command("export", str(world.project.pk), "-o", str(tmp_path / "a.json"))
    exports = AuditEvent.objects.filter(action="project.export").order_by("created_at", "id")
    assert [(e.summary["via"], e.actor_email) for e in exports] == [
        ("api", "member@example.com"), ("download", "member@example.com"), ("cli", "")]
    assert all(e.organisation == world.org and e.summary["checksum"].startswith("sha256:") for e in exports)
    assert audit_queries.events_for_organisation(world.member, world.org).filter(action="project.export").count() == 3


def test_peer_reads_are_recorded_once_per_window(world):
    from datetime import timedelta

    from ..api_support import Api, key_for

    peer = Api(key_for(world.member, ["read"], name="peer forge"))
    for _ in range(3):
        assert peer.get(f"/forge/projects/{world.project.pk}").status_code == 200
    reads = AuditEvent.objects.filter(action="peer.read")
    assert reads.count() == 1 and reads.get().actor == world.member and reads.get().target_id == str(world.project.pk)
    reads.update(created_at=reads.get().created_at - timedelta(minutes=11))
    peer.get(f"/forge/projects/{world.project.pk}")
    assert reads.count() == 2
