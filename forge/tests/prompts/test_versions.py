import pytest
from django.utils import timezone

from anvil_forge.audit.models import AuditEvent
from anvil_forge.core.errors import Conflict, NotFound, ValidationError
from anvil_forge.prompts import queries
from anvil_forge.prompts import services as prompts
from anvil_forge.prompts.models import Version


def test_version_snapshots_the_whole_set_and_stays_as_it_was(world):
    snap = world.version.snapshot
    assert snap["metadata"] == {"model": "m1"}
    assert snap["prompts"]["welcome"]["template"] == "Hello {{ name }}!"
    assert snap["prompts"]["welcome"]["parameters"][0]["name"] == "name"
    prompts.update_prompt(world.member, world.prompt, template="Changed {{ name }}")
    prompts.update_prompt_set(world.member, world.pset, metadata={"model": "m2"})
    world.version.refresh_from_db()
    assert world.version.snapshot == snap


def test_sequences_rise_per_set_and_are_never_reused(world):
    v2 = prompts.create_version(world.member, world.pset, "1.1.0")
    v3 = prompts.create_version(world.member, world.pset, "2.0.0-rc.1+build.7")
    assert (world.version.sequence, v2.sequence, v3.sequence) == (1, 2, 3)
    prompts.delete_version(world.admin, v3)
    assert prompts.create_version(world.member, world.pset, "2.0.0").sequence == 4
    other = prompts.create_prompt_set(world.member, world.project, "Chat")
    assert prompts.create_version(world.member, other, "0.1.0").sequence == 1


@pytest.mark.parametrize("label, message", [
    ("1.0.0", "higher"),
    ("0.9.0", "higher"),
    ("1.0.0+other-build", "higher"),
    ("1.0.0-rc.1", "higher"),
    ("1.0", "not a valid"),
    ("v1.1.0", "not a valid"),
    ("", "not a valid"),
])
def test_labels_only_roll_forward(world, label, message):
    with pytest.raises(ValidationError, match=message):
        prompts.create_version(world.member, world.pset, label)
    assert Version.objects.count() == 1


def test_rollback_creates_a_higher_version_with_the_old_content(world):
    prompts.update_prompt(world.member, world.prompt, template="Bad {{ name }}")
    prompts.create_version(world.member, world.pset, "1.1.0")
    rolled = prompts.rollback(world.member, world.pset, "1.0.0", "1.1.1")
    assert rolled.snapshot == world.version.snapshot and rolled.sequence == 3
    assert rolled.changelog == "Roll back to 1.0.0"
    assert AuditEvent.objects.filter(action="version.rollback").get().summary["to"] == "1.0.0"
    with pytest.raises(NotFound, match="no version '7.0.0'"):
        prompts.rollback(world.member, world.pset, "7.0.0", "2.0.0")
    with pytest.raises(ValidationError, match="higher"):
        prompts.rollback(world.member, world.pset, "1.0.0", "1.0.5")


def test_published_versions_cannot_be_deleted(world):
    Version.objects.filter(pk=world.version.pk).update(first_published_at=timezone.now())
    world.version.refresh_from_db()
    with pytest.raises(Conflict, match="published"):
        prompts.delete_version(world.owner, world.version)
    with pytest.raises(Conflict, match="published"):
        prompts.delete_prompt_set(world.owner, world.pset)
    assert Version.objects.filter(pk=world.version.pk).exists()


def test_specifiers_select_versions(world):
    for label in ["1.1.0", "1.2.0-beta.1", "1.2.0", "2.0.0-rc.1"]:
        prompts.create_version(world.member, world.pset, label)
    pick = lambda spec: queries.select_version(world.pset, spec).label  # noqa: E731
    assert pick("latest") == "2.0.0-rc.1"
    assert pick("stable") == "1.2.0"
    assert pick("^1.0") == "1.2.0"
    assert pick("~1.1.0") == "1.1.0"
    assert pick(">=1.0.0 <1.2.0") == "1.1.0"
    assert pick("1.2.0-beta.1") == "1.2.0-beta.1"
    with pytest.raises(NotFound, match="no version of 'emails' matches '\\^3'"):
        pick("^3")
    with pytest.raises(ValidationError):
        pick(">>1")


def test_diff_between_versions_and_against_working_copy(world):
    prompts.update_prompt(world.member, world.prompt, template="Hello {{ name }}!\nBye.")
    prompts.create_prompt(world.member, world.pset, "Extra", template="x")
    prompts.create_version(world.member, world.pset, "1.1.0")
    d = queries.diff(world.member, world.pset, "1.0.0", "1.1.0")
    assert d["prompts"]["added"] == ["extra"]
    [changed] = d["prompts"]["changed"]
    assert changed["slug"] == "welcome" and "+Bye." in changed["template"]["unified"]
    prompts.delete_prompt(world.member, world.prompt)
    working = queries.diff(world.member, world.pset, "1.1.0")
    assert working["prompts"]["removed"] == ["welcome"] and working["to"] is None
