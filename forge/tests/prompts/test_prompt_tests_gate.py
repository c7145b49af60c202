"""Prompt test cases on the FORGE: stored per prompt, recorded by every version, and the locking gate."""

import pytest

from anvil_forge.core.errors import Conflict, NotFound, ValidationError
from anvil_forge.prompts import queries, services as prompts
from anvil_forge.prompts.models import Version

pytestmark = pytest.mark.django_db

GREETS = {"name": "greets", "variables": {"name": "Ann"}, "assert": [{"type": "contains", "value": "Ann"}]}
SNAP = {"name": "snap", "variables": {"name": "Bo"}, "assert": [{"type": "snapshot"}]}


def test_tests_are_checked_and_stored_in_canonical_form(world):
    prompts.update_prompt(world.owner, world.prompt, tests=[{"name": "greets", "variables": {"name": "Ann"},
                                                             "assert": [{"type": "contains", "value": "Ann"}]}])
    world.prompt.refresh_from_db()
    assert world.prompt.tests == [GREETS]
    with pytest.raises(ValidationError) as err:
        prompts.update_prompt(world.owner, world.prompt, tests=[{"name": "x", "assert": [{"type": "contians"}]}])
    assert err.value.details[0]["field"] == "tests[0].assert[0].type"
    assert "did you mean 'contains'" in err.value.message
    with pytest.raises(ValidationError) as err:
        prompts.update_prompt(world.owner, world.prompt, tests=[{"name": "x", "assert": [{"type": "contains", "value": "A",
                                                                                           "target": 0}]}])
    assert err.value.details[0]["field"] == "tests[0].assert[0].target"


def test_a_version_records_its_tests_results_and_they_never_change(world):
    prompts.update_prompt(world.owner, world.prompt, tests=[GREETS, {**GREETS, "name": "fails", "assert": [
        {"type": "contains", "value": "Zed"}]}])
    version = prompts.create_version(world.owner, world.pset, "1.1.0")
    results = version.test_results
    assert (results["total"], results["passed"], results["failed"]) == (2, 1, 1)
    assert results["prompts"]["welcome"][0] == {"name": "greets", "passed": True}
    assert "expected" in results["prompts"]["welcome"][1]["failures"][0]
    assert version.snapshot["prompts"]["welcome"]["tests"][0]["name"] == "greets"
    with pytest.raises(Exception, match="a version can never be changed"):
        Version.objects.filter(pk=version.pk).update(test_results={"total": 0})


def test_a_set_without_tests_records_none_and_its_snapshot_is_unchanged(world):
    before = dict(world.version.snapshot)
    version = prompts.create_version(world.owner, world.pset, "1.1.0")
    assert version.test_results is None
    assert version.snapshot == before  # no "tests" key: content digests stay what they were


def test_locking_is_refused_while_a_test_fails_naming_it(world):
    prompts.update_prompt(world.owner, world.prompt, tests=[{**GREETS, "name": "says bye", "assert": [
        {"type": "contains", "value": "Bye"}]}])
    prompts.change_status(world.member, world.pset, "review")
    with pytest.raises(Conflict) as err:
        prompts.change_status(world.owner, world.pset, "locked")
    assert "welcome: says bye" in err.value.message
    world.pset.refresh_from_db()
    assert world.pset.status == "review"


def test_the_gate_can_be_turned_off_by_the_project(world):
    prompts.update_prompt(world.owner, world.prompt, tests=[{**GREETS, "assert": [{"type": "contains",
                                                                                     "value": "Bye"}]}])
    prompts.change_status(world.member, world.pset, "review")
    prompts.update_project(world.owner, world.project, tests_gate=False)
    prompts.change_status(world.owner, world.pset, "locked")
    world.pset.refresh_from_db()
    assert world.pset.status == "locked"


def test_passing_tests_let_the_set_be_locked(world):
    prompts.update_prompt(world.owner, world.prompt, tests=[GREETS])
    prompts.change_status(world.member, world.pset, "review")
    prompts.change_status(world.owner, world.pset, "locked")
    world.pset.refresh_from_db()
    assert world.pset.status == "locked"


def test_snapshots_are_stored_on_request_and_then_pass(world):
    prompts.update_prompt(world.owner, world.prompt, tests=[SNAP])
    [result] = queries.prompt_test_results(world.prompt)
    assert not result.passed and "no snapshot is stored" in result.failures[0]
    assert prompts.update_test_snapshots(world.owner, world.prompt) == ["snap"]
    world.prompt.refresh_from_db()
    assert world.prompt.tests[0]["snapshot"] == "Hello Bo!"
    assert all(r.passed for r in queries.prompt_test_results(world.prompt))
    assert prompts.update_test_snapshots(world.owner, world.prompt) == []  # nothing changed
    prompts.update_prompt(world.owner, world.prompt, template="Hi {{ name }}!")
    [result] = queries.prompt_test_results(world.prompt)
    assert not result.passed and "snapshot" in result.failures[0]
    with pytest.raises(NotFound):
        prompts.update_test_snapshots(world.owner, world.prompt, ["nope"])


def test_the_set_status_lists_every_prompt(world):
    prompts.create_prompt(world.owner, world.pset, "Bye", "bye", "Bye", [])
    prompts.update_prompt(world.owner, world.prompt, tests=[GREETS, {**GREETS, "name": "bad", "assert": [
        {"type": "equals", "value": "x"}]}])
    status = queries.test_status_by_prompt(world.pset)
    assert status["welcome"] == {"total": 2, "passed": 1, "failed": 1, "failing": ["bad"]}
    assert status["bye"]["total"] == 0


def test_a_kind_change_rechecks_the_tests_targets(world):
    prompts.update_prompt(world.owner, world.prompt, kind="chat",
                          messages=[{"role": "user", "content": "Hello {{ name }}!"}],
                          tests=[{**GREETS, "assert": [{"type": "contains", "target": "user", "value": "Ann"}]}])
    with pytest.raises(ValidationError) as err:
        prompts.update_prompt(world.owner, world.prompt, kind="text", template="Hello {{ name }}!")
    assert err.value.details[0]["field"] == "tests[0].assert[0].target"


def test_a_change_of_tests_alone_shows_in_the_version_diff(world):
    prompts.update_prompt(world.owner, world.prompt, tests=[GREETS])
    prompts.create_version(world.owner, world.pset, "1.1.0")
    result = queries.diff(world.owner, world.pset, "1.0.0", "1.1.0")
    [change] = result["prompts"]["changed"]
    assert change["slug"] == "welcome" and change["template"] is None
    added = [line["text"] for line in change["tests"]["lines"] if line["op"] == "add"]
    assert '  "name": "greets",' in added
    assert "+++ new/welcome/tests" in change["tests"]["unified"]
