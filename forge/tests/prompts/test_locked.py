"""No code path can change a LOCKED (or in-review) prompt set: not the services, not the ORM, not raw SQL."""

import pytest
from django.db import DatabaseError, connection, transaction

from anvil_forge.core.errors import Conflict
from anvil_forge.prompts import services as prompts
from anvil_forge.prompts.models import Prompt, PromptSet, Version

from ..conftest import refresh

EDITS = {
    "update set": lambda w: prompts.update_prompt_set(w.owner, w.pset, description="changed"),
    "delete set": lambda w: prompts.delete_prompt_set(w.owner, w.pset),
    "create prompt": lambda w: prompts.create_prompt(w.owner, w.pset, "New", template="x"),
    "update prompt": lambda w: prompts.update_prompt(w.owner, w.prompt, template="changed"),
    "add missing": lambda w: prompts.add_missing_parameters(w.owner, w.prompt),
    "delete prompt": lambda w: prompts.delete_prompt(w.owner, w.prompt),
    "delete project": lambda w: prompts.delete_project(w.owner, w.project),
}


@pytest.fixture(params=["review", "locked"])
def frozen(world, request):
    prompts.change_status(world.owner, world.pset, "review")
    if request.param == "locked":
        prompts.change_status(world.owner, world.pset, "locked")
    return world


@pytest.mark.parametrize("edit", list(EDITS))
def test_services_refuse_every_edit_whoever_asks(frozen, edit):
    with pytest.raises(Conflict, match="cannot"):
        EDITS[edit](frozen)
    assert refresh(frozen.prompt).template == "Hello {{ name }}!"
    assert refresh(frozen.pset).description == ""


def test_versions_can_still_be_created_from_a_locked_set(frozen):
    version = prompts.create_version(frozen.member, frozen.pset, "1.0.1")
    assert version.snapshot["prompts"]["welcome"]["template"] == "Hello {{ name }}!"


def _refused(fn):
    with pytest.raises(DatabaseError, match="anvil:"):
        with transaction.atomic():
            fn()


def test_database_refuses_prompt_changes_of_a_frozen_set(frozen):
    _refused(lambda: Prompt.objects.filter(pk=frozen.prompt.pk).update(template="sneaky"))
    _refused(lambda: Prompt.objects.filter(pk=frozen.prompt.pk).delete())
    _refused(lambda: Prompt.objects.create(prompt_set=frozen.pset, name="X", slug="x", template="x"))
    _refused(lambda: PromptSet.objects.filter(pk=frozen.pset.pk).update(description="sneaky"))
    _refused(lambda: PromptSet.objects.filter(pk=frozen.pset.pk).delete())

    def raw():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE prompts_prompt SET template = 'raw' WHERE id = %s", [frozen.prompt.pk.hex
                           if connection.vendor == "sqlite" else frozen.prompt.pk])
    _refused(raw)
    assert refresh(frozen.prompt).template == "Hello {{ name }}!"


def test_database_allows_status_change_of_a_frozen_set(frozen):
    PromptSet.objects.filter(pk=frozen.pset.pk).update(status="live")
    Prompt.objects.filter(pk=frozen.prompt.pk).update(template="fine now")


def test_versions_are_immutable_in_the_database(world):
    _refused(lambda: Version.objects.filter(pk=world.version.pk).update(label="9.9.9"))
    _refused(lambda: Version.objects.filter(pk=world.version.pk).update(snapshot={"prompts": {}}))
    _refused(lambda: Version.objects.filter(pk=world.version.pk).update(changelog="rewritten"))
    assert refresh(world.version).label == "1.0.0"
