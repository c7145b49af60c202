"""The project archive (build, schema, checksum) and importing it (round trip, idempotence, merges, conflicts)."""

import json

import pytest

from anvil_forge.audit.models import AuditEvent
from anvil_forge.core.errors import Conflict, NotFound, PermissionDenied
from anvil_forge.peering import archive
from anvil_forge.peering import queries as peering_queries
from anvil_forge.peering.archive import InvalidArchive
from anvil_forge.peering.services import import_archive
from anvil_forge.prompts import services as prompts
from anvil_forge.prompts.models import Project, Prompt, PromptSet, Version

from ..peering_support import resealed, rich, tampered, target_org  # noqa: F401  (fixtures)


def export(world, project=None):
    return peering_queries.export_archive(world.owner, project or world.project)


def counts():
    return (Project.objects.count(), PromptSet.objects.count(), Prompt.objects.count(), Version.objects.count())


# --- the format --------------------------------------------------------------------------------------

def test_the_archive_holds_the_whole_project_and_nothing_else(rich):
    data = export(rich)
    assert data["format"] == "anvil-project-archive" and data["format_version"] == 1
    assert data["checksum"] == archive.checksum(data["content"])
    assert data["source"]["organisation"] == "acme" and data["source"]["project_id"] == str(rich.project.pk)
    content = data["content"]
    assert content["project"] == {"name": "Support", "slug": "support", "description": ""}
    sets = {s["slug"]: s for s in content["prompt_sets"]}
    assert [s["slug"] for s in content["prompt_sets"]] == ["chat", "drafts", "emails", "faq"]
    assert (sets["chat"]["status"], sets["faq"]["status"], sets["emails"]["status"]) == ("locked", "review", "live")
    assert [v["label"] for v in sets["chat"]["versions"]] == ["0.1.0", "0.2.0-beta.1", "0.2.0", "0.3.0"]
    assert [v["sequence"] for v in sets["chat"]["versions"]] == [1, 2, 3, 4]
    assert sets["chat"]["versions"][3]["snapshot"] == sets["chat"]["versions"][0]["snapshot"]  # the roll back
    assert sets["chat"]["metadata"]["settings"]["stop"] == ["\n\n"]
    assert [p["slug"] for p in sets["chat"]["prompts"]] == ["summarise", "system"]
    assert sets["drafts"]["versions"] == [] and sets["drafts"]["last_sequence"] == 0
    text = json.dumps(data)
    for secret in ("owner@example.com", str(rich.pset.pk), str(rich.version.pk), str(rich.org.pk)):
        assert secret not in text  # no users, no ids (but the informative source project id)
    assert archive.validate(data)["checksum"] == data["checksum"]  # (format 1: content read with the new keys at their defaults)


def test_the_schema_is_a_valid_json_schema_and_matches_exports(rich):
    from jsonschema import Draft202012Validator

    for version in archive.FORMAT_VERSIONS:
        Draft202012Validator.check_schema(archive.schema(version))
    data = json.loads(archive.dumps(export(rich)))
    Draft202012Validator(archive.schema(data["format_version"])).validate(data)


def test_a_tampered_archive_is_refused_naming_the_checksum(rich, target_org):
    data = export(rich)
    changed = tampered(data, lambda a: a["content"]["prompt_sets"][2]["prompts"][0].update(template="Evil {{ x }}"))
    before = counts()
    with pytest.raises(InvalidArchive) as caught:
        import_archive(rich.owner, target_org, changed)
    assert "checksum does not match" in caught.value.message
    assert caught.value.details[0]["field"] == "archive.checksum"
    assert counts() == before
    forged = tampered(data, lambda a: a.update(checksum="sha256:" + "0" * 64))
    with pytest.raises(InvalidArchive, match="checksum does not match"):
        archive.validate(forged)


def test_informative_parts_are_outside_the_checksum(rich):
    data = export(rich)
    other = tampered(data, lambda a: a.update(exported_at="2001-01-01T00:00:00Z"))
    assert archive.validate(other)


@pytest.mark.parametrize("change, field, message", [
    (lambda a: a.update(format="zip"), "archive.format", "not an Anvil project archive"),
    (lambda a: a.update(format_version=4), "archive.format_version", "version 4 is not supported"),
    (lambda a: a["content"]["prompt_sets"][0].update(status="frozen"),
     "archive.content.prompt_sets[0].status", "is not one of"),
    (lambda a: a["content"]["prompt_sets"][0]["prompts"][0].update(template=5),
     "archive.content.prompt_sets[0].prompts[0].template", "is not of type 'string'"),
    (lambda a: a["content"]["project"].pop("slug"), "archive.content.project", "'slug' is a required property"),
    (lambda a: a.update(extra=1), "archive", "Additional properties are not allowed"),
])
def test_schema_problems_are_named(rich, change, field, message):
    bad = resealed(export(rich), change)
    with pytest.raises(InvalidArchive) as caught:
        archive.validate(bad)
    assert caught.value.details[0]["field"] == field
    assert message in caught.value.message


@pytest.mark.parametrize("change, field, message", [
    (lambda c: c["prompt_sets"][0]["versions"].reverse(), "versions[0.2.0].sequence", "rising sequence"),
    (lambda c: c["prompt_sets"][0]["versions"][1].update(label="0.0.1"), "versions[0.0.1].label",
     "versions only roll forward"),
    (lambda c: c["prompt_sets"][0]["versions"][1].update(label="01.0.0"), "versions[01.0.0].label", "not a valid"),
    (lambda c: c["prompt_sets"][1].update(slug="chat"), "prompt_sets[chat].slug", "appears twice"),
    (lambda c: c["prompt_sets"][0]["prompts"][1].update(name="Summarise"), "prompts[system].name", "appears twice"),
    (lambda c: c["prompt_sets"][0]["prompts"][0].update(template="{% if %}"), "prompts[summarise].template",
     "does not compile"),
    (lambda c: next(iter(c["prompt_sets"][0]["versions"][0]["snapshot"]["prompts"].values())).update(
        template="{% include 'secrets' %}"), "versions[0.1.0].snapshot.prompts[", "does not compile"),
    (lambda c: c["prompt_sets"][0]["prompts"][0]["parameters"].append({"name": "n", "type": "number"}),
     "prompts[summarise].parameters", "more than once"),
    (lambda c: c["prompt_sets"][0].update(last_sequence=1), "prompt_sets[chat].last_sequence", "at least"),
])
def test_consistency_problems_are_named(rich, change, field, message):
    bad = resealed(export(rich), lambda a: change(a["content"]))
    with pytest.raises(InvalidArchive) as caught:
        archive.validate(bad)
    assert field in caught.value.details[0]["field"], caught.value.details
    assert message in caught.value.message


def test_loads_refuses_what_is_not_json():
    with pytest.raises(InvalidArchive, match="not valid JSON"):
        archive.loads(b"{nope")
    with pytest.raises(InvalidArchive, match="not UTF-8"):
        archive.loads(b"\xff\xfe\x00")
    with pytest.raises(InvalidArchive, match="must be a JSON object"):
        archive.validate(archive.loads(b"[1, 2]"))


# --- importing -----------------------------------------------------------------------------------------

def test_round_trip_export_import_export_gives_the_same_content(rich, target_org):
    first = export(rich)
    result = import_archive(rich.owner, target_org, json.loads(archive.dumps(first)), via="test")
    assert result.project_created and result.changed
    assert result.prompt_sets_created == ["chat", "drafts", "emails", "faq"]
    assert len(result.versions_added) == 6
    project = result.project
    assert project.organisation == target_org and project.slug == "support"
    statuses = dict(project.prompt_sets.values_list("slug", "status"))
    assert statuses == {"chat": "locked", "drafts": "live", "emails": "live", "faq": "review"}
    second = export(rich, project)
    assert second["content"] == first["content"]
    assert second["checksum"] == first["checksum"]
    # what the import made is usable: versions resolve, LOCKED is enforced
    chat = project.prompt_sets.get(slug="chat")
    assert list(chat.versions.order_by("sequence").values_list("label", "sequence")) == [
        ("0.1.0", 1), ("0.2.0-beta.1", 2), ("0.2.0", 3), ("0.3.0", 4)]
    with pytest.raises(Conflict, match="LOCKED"):
        prompts.update_prompt(rich.owner, chat.prompts.get(slug="system"), template="changed")
    event = AuditEvent.objects.get(action="project.import", organisation=target_org)
    assert event.actor == rich.owner and event.target_id == str(project.pk)
    assert event.summary["created"] is True and event.summary["versions_added"] == 6
    assert event.summary["from"]["organisation"] == "acme" and event.summary["via"] == "test"


def test_importing_the_same_archive_twice_creates_nothing_new(rich, target_org):
    data = export(rich)
    import_archive(rich.owner, target_org, data)
    before, events = counts(), AuditEvent.objects.count()
    again = import_archive(rich.owner, target_org, data)
    assert not again.changed and not again.project_created
    assert again.versions_kept == 6 and again.working_copies_kept == []
    assert "Nothing new" in again.message()
    assert counts() == before and AuditEvent.objects.count() == events


def test_import_into_an_existing_project_keeps_what_it_has_and_adds_new_versions(rich, target_org):
    data = export(rich)
    import_archive(rich.owner, target_org, data)
    emails = rich.pset  # the source moves on: a new version of a LIVE set, and of a LOCKED one
    prompts.update_prompt(rich.owner, rich.prompt, template="Hi {{ name }}!")
    prompts.create_version(rich.owner, emails, "1.1.0", "shorter")
    chat = rich.project.prompt_sets.get(slug="chat")
    prompts.create_version(rich.owner, chat, "0.4.0", "re-release")
    newer = export(rich)
    target_project = Project.objects.get(organisation=target_org, slug="support")
    target_emails = target_project.prompt_sets.get(slug="emails")
    result = import_archive(rich.owner, target_org, newer)
    assert not result.project_created and result.changed
    assert sorted(result.versions_added) == ["chat@0.4.0", "emails@1.1.0"]
    assert result.versions_kept == 6
    assert result.working_copies_kept == ["emails"]  # its working copy differs: left as it was here
    assert "working copy of emails differs" in result.message()
    assert target_emails.prompts.get(slug="welcome").template == "Hello {{ name }}!"
    assert list(target_emails.versions.order_by("sequence").values_list("label", "sequence")) == [
        ("1.0.0", 1), ("1.1.0", 2)]
    target_chat = target_project.prompt_sets.get(slug="chat")
    assert target_chat.status == "locked" and target_chat.versions.get(label="0.4.0").sequence == 5
    assert target_chat.last_sequence == 5


def test_new_versions_follow_local_ones_in_the_archive_order(rich, target_org):
    data = export(rich)
    import_archive(rich.owner, target_org, data)
    target_emails = PromptSet.objects.get(project__organisation=target_org, slug="emails")
    prompts.create_version(rich.owner, target_emails, "1.0.1", "made here")  # sequence 2 here
    prompts.create_version(rich.owner, rich.pset, "1.1.0", "made there")  # sequence 2 there
    prompts.create_version(rich.owner, rich.pset, "1.2.0", "made there")  # sequence 3 there
    result = import_archive(rich.owner, target_org, export(rich))
    assert result.versions_added == ["emails@1.1.0", "emails@1.2.0"]
    assert list(target_emails.versions.order_by("sequence").values_list("label", "sequence")) == [
        ("1.0.0", 1), ("1.0.1", 2), ("1.1.0", 3), ("1.2.0", 4)]


def test_a_conflicting_label_stops_the_import_naming_it(rich, target_org):
    import_archive(rich.owner, target_org, export(rich))
    target_emails = PromptSet.objects.get(project__organisation=target_org, slug="emails")
    prompts.update_prompt(rich.owner, target_emails.prompts.get(slug="welcome"), template="Howdy {{ name }}")
    prompts.create_version(rich.owner, target_emails, "1.1.0", "made here")
    prompts.create_version(rich.owner, rich.pset, "1.1.0", "made there")  # same label, other content
    faq = rich.project.prompt_sets.get(slug="drafts")
    prompts.create_version(rich.owner, faq, "0.1.0", "would be new")
    before, events = counts(), AuditEvent.objects.count()
    with pytest.raises(Conflict) as caught:
        import_archive(rich.owner, target_org, export(rich))
    assert "prompt set 'emails' version 1.1.0" in caught.value.message
    assert "different content" in caught.value.message
    assert caught.value.details[0]["field"] == "prompt_sets[emails].versions[1.1.0]"
    assert counts() == before and AuditEvent.objects.count() == events  # all or nothing


def test_a_version_that_would_not_roll_forward_is_a_conflict(rich, target_org):
    import_archive(rich.owner, target_org, export(rich))
    target_emails = PromptSet.objects.get(project__organisation=target_org, slug="emails")
    prompts.create_version(rich.owner, target_emails, "2.0.0", "made here")
    prompts.create_version(rich.owner, rich.pset, "1.1.0", "made there")
    with pytest.raises(Conflict, match=r"version 1\.1\.0 cannot be added here"):
        import_archive(rich.owner, target_org, export(rich))


def test_new_prompt_sets_are_added_to_an_existing_project(rich, target_org):
    import_archive(rich.owner, target_org, export(rich))
    extra = prompts.create_prompt_set(rich.owner, rich.project, "Extra", "extra")
    prompts.create_prompt(rich.owner, extra, "One", "one", "1")
    prompts.create_version(rich.owner, extra, "1.0.0")
    result = import_archive(rich.owner, target_org, export(rich))
    assert result.prompt_sets_created == ["extra"] and result.versions_added == ["extra@1.0.0"]


def test_a_project_name_used_by_another_slug_is_a_conflict(rich, target_org):
    prompts.create_project(rich.owner, target_org, "Support", "other-slug")
    with pytest.raises(Conflict, match="already has a project named 'Support'"):
        import_archive(rich.owner, target_org, export(rich))


def test_import_needs_manage_projects_in_the_target(rich):
    data = export(rich)
    with pytest.raises(PermissionDenied):
        import_archive(rich.member, rich.org, data)
    with pytest.raises(NotFound):
        import_archive(rich.outsider, rich.org, data)
    # an admin may: into the source organisation itself, the project exists → nothing new
    assert not import_archive(rich.admin, rich.org, data).changed


def test_export_is_for_members_only(rich):
    assert peering_queries.export_archive(rich.member, rich.project)["content"]["project"]["slug"] == "support"
    with pytest.raises(NotFound):
        peering_queries.export_archive(rich.outsider, rich.project)


def test_the_documented_schema_is_the_shipped_one():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[3] / "docs" / "export-format.md").read_text()
    block = doc.split("## JSON Schema", 1)[1].split("```json\n", 1)[1].split("\n```", 1)[0]
    assert json.loads(block) == archive.schema()
