"""Archive format 3 (prompt test cases, the results versions recorded, the project's test gate); archives
the previous release wrote (format 2, tests/peering/archive-format-2.json, exported by the demo at commit
2459621); and a project with tests copied between two FORGEs."""

import inspect
import json
from pathlib import Path

import pytest

from anvil_forge.distribution.services import publish
from anvil_forge.peering import archive, remote
from anvil_forge.peering import queries as peering_queries
from anvil_forge.peering.archive import InvalidArchive
from anvil_forge.peering.known_forges import get_forge
from anvil_forge.peering.services import import_archive
from anvil_forge.prompts import approvals, services as prompts
from anvil_forge.prompts.models import Project, Prompt, PromptSet, Version

from ..api_support import as_role, assert_error  # noqa: F401  (fixtures)
from ..peering_servers import Forge
from ..peering_support import resealed, target_org  # noqa: F401  (fixtures)

PREVIOUS = Path(__file__).with_name("archive-format-2.json")


def project_with_tests(owner, project):
    """LOCKED sets with tests: "alpha" renders a partial of "zeta", which sorts after it; its 0.9.0 recorded
    a failing test, 1.0.0 passes. Self-contained (imports inside): a FORGE server runs its source too."""
    from anvil_forge.prompts import services as prompts

    zeta = prompts.create_prompt_set(owner, project, "Zeta", "zeta")
    prompts.create_prompt(owner, zeta, "Tone", "tone", "Be {{ tier }}.", [{"name": "tier"}])
    prompts.create_version(owner, zeta, "1.0.0")
    alpha = prompts.create_prompt_set(owner, project, "Alpha", "alpha", dependencies={"zeta": "^1"})
    reply = prompts.create_prompt(
        owner, alpha, "Reply", "reply", kind="chat", parameters=[{"name": "topic"}],
        messages=[{"role": "system", "content": "{% render 'zeta.tone', tier: 'kind' %} Help with {{ topic }}."},
                  {"placeholder": "history"}],
        tests=[{"name": "kind tone", "variables": {"topic": "invoices", "history": []},
                "assert": [{"type": "contains", "target": "system", "value": "Be kind."}]},
               {"name": "needs a topic", "variables": {"history": []}, "assert": [{"type": "error", "value": "topic"}]},
               {"name": "looks the same", "variables": {"topic": "x", "history": []},
                "assert": [{"type": "snapshot", "name": "unchanged"}]}])
    prompts.update_test_snapshots(owner, reply)
    note = prompts.create_prompt(owner, alpha, "Note", "note", "Note on {{ topic }}", [{"name": "topic"}],
                                 tests=[{"name": "says it", "variables": {"topic": "x"},
                                         "assert": [{"type": "contains", "value": "Remark"}]}])
    prompts.create_version(owner, alpha, "0.9.0", "a failing test")
    prompts.update_prompt(owner, note, tests=[{"name": "says it", "variables": {"topic": "x"},
                                               "assert": [{"type": "regex", "value": "(?i)^note on x$"}]}])
    prompts.create_version(owner, alpha, "1.0.0")
    for prompt_set in (zeta, alpha):
        prompts.change_status(owner, prompt_set, "review")
        prompts.change_status(owner, prompt_set, "locked")
    return alpha


def export(world, project=None):
    return peering_queries.export_archive(world.owner, project or world.project)


def alpha_of(content):
    return next(s for s in content["prompt_sets"] if s["slug"] == "alpha")


def test_a_project_with_tests_round_trips_through_format_3(world, target_org):
    alpha = project_with_tests(world.owner, world.project)
    data = export(world)
    assert data["format_version"] == 3
    __import__("jsonschema").Draft202012Validator(archive.schema(3)).validate(json.loads(archive.dumps(data)))
    exported = alpha_of(data["content"])
    assert [p["tests"] for p in exported["prompts"]] == [list(p.tests) for p in alpha.prompts.order_by("slug")]
    assert "snapshot" in exported["prompts"][1]["tests"][2]  # the stored rendering travels with its test
    recorded = [v["test_results"] for v in exported["versions"]]
    assert [(r["total"], r["failed"]) for r in recorded] == [(4, 1), (4, 0)]
    assert recorded[0]["prompts"]["note"][0]["failures"]

    result = import_archive(world.owner, target_org, data)
    again = export(world, result.project)
    assert again["content"] == data["content"] and again["checksum"] == data["checksum"]
    copy = result.project.prompt_sets.get(slug="alpha")
    assert copy.prompts.get(slug="reply").tests == alpha.prompts.get(slug="reply").tests
    for mine, theirs in zip(copy.versions.order_by("sequence"), alpha.versions.order_by("sequence")):
        assert mine.test_results == theirs.test_results  # the source's record, failing test and all
        assert approvals.content_digest(mine.snapshot) == approvals.content_digest(theirs.snapshot)
    publish(world.owner, copy)  # imported LOCKED, approved as imported: the digest covers the tests too


def test_results_missing_from_an_archive_are_computed_from_the_archive(world, target_org):
    project_with_tests(world.owner, world.project)
    data = export(world)
    # "zeta" is created after "alpha": its versions are not in the database yet when alpha's are made
    stripped = resealed(data, lambda a: [v.update(test_results=None) for v in alpha_of(a["content"])["versions"]])
    result = import_archive(world.owner, target_org, stripped)
    versions = result.project.prompt_sets.get(slug="alpha").versions.order_by("sequence")
    assert [v.test_results for v in versions] == [v["test_results"] for v in alpha_of(data["content"])["versions"]]
    assert export(world, result.project)["checksum"] == data["checksum"]


@pytest.mark.parametrize("change", [
    lambda world: prompts.update_project(world.owner, world.project, tests_gate=False),
    lambda world: prompts.update_prompt(world.owner, world.prompt, tests=[{"name": "t", "assert": []}]),
    lambda world: (prompts.update_prompt(world.owner, world.prompt, tests=[{"name": "t"}]),
                   prompts.create_version(world.owner, world.pset, "1.1.0"),
                   prompts.update_prompt(world.owner, world.prompt, tests=[])),  # tests in a snapshot only
], ids=["gate-off", "working-copy-tests", "snapshot-tests"])
def test_format_3_is_written_only_for_what_needs_it(world, target_org, change):
    data = export(world)
    assert data["format_version"] == 1 and set(data["content"]["project"]) == {"name", "slug", "description"}
    assert "test_results" not in data["content"]["prompt_sets"][0]["versions"][0]
    change(world)
    data = export(world)
    assert data["format_version"] == 3
    project = import_archive(world.owner, target_org, data).project
    assert project.tests_gate is world.project.__class__.objects.get(pk=world.project.pk).tests_gate
    assert export(world, project)["content"] == data["content"]


def test_a_chat_project_without_tests_is_still_format_2(world):
    prompts.update_prompt(world.owner, world.prompt, config={"temperature": 0.1})
    data = export(world)
    assert data["format_version"] == 2 and "tests_gate" not in data["content"]["project"]
    [emails] = data["content"]["prompt_sets"]
    assert "tests" not in emails["prompts"][0] and "test_results" not in emails["versions"][0]


def test_an_archive_exported_by_the_previous_release_still_imports(world, target_org):
    data = json.loads(PREVIOUS.read_text())
    assert data["format_version"] == 2 and data["source"]["forge"] == "forge-prev"
    result = import_archive(world.owner, target_org, data)
    assert result.project_created and len(result.versions_added) == 8 and result.project.tests_gate
    assert not Version.objects.filter(prompt_set__project=result.project, test_results__isnull=False).exists()
    assert not Prompt.objects.filter(prompt_set__project=result.project).exclude(tests=[]).exists()
    again = export(world, result.project)
    assert again["format_version"] == 2 and again["content"] == data["content"]
    assert again["checksum"] == data["checksum"]
    publish(world.owner, result.project.prompt_sets.get(slug="support"))  # approvals match the snapshots


def test_merging_keeps_the_projects_gate_and_its_versions_results(world, target_org):
    project_with_tests(world.owner, world.project)
    prompts.update_project(world.owner, world.project, tests_gate=False)
    data = export(world)
    local = prompts.create_project(world.owner, target_org, "Support", "support")
    result = import_archive(world.owner, target_org, data)
    local.refresh_from_db()
    assert local.tests_gate and result.tests_gate_kept
    assert "test gate (on here) differs from the archive's and was left as it is" in result.message()
    again = import_archive(world.owner, target_org, data)
    assert not again.changed and again.versions_kept == 4


# --- problems -------------------------------------------------------------------------------------------

def note_of(content, version=None):
    alpha = alpha_of(content)
    if version is None:
        return next(p for p in alpha["prompts"] if p["slug"] == "note")
    return next(v for v in alpha["versions"] if v["label"] == version)["snapshot"]["prompts"]["note"]


def results_of(content, version="1.0.0"):
    return next(v for v in alpha_of(content)["versions"] if v["label"] == version)["test_results"]


ALPHA = "archive.content.prompt_sets[alpha]"


@pytest.mark.parametrize("change, field, message", [
    (lambda c: note_of(c)["tests"][0]["assert"][0].update(value="(unclosed"),
     f"{ALPHA}.prompts[note].tests[0].assert[0].value", "regular expression"),
    (lambda c: note_of(c)["tests"][0]["assert"][0].update(target=0),
     f"{ALPHA}.prompts[note].tests[0].assert[0].target", "text prompt"),
    (lambda c: note_of(c)["tests"][0]["assert"][0].update(type="smells-like"),
     "archive.content.prompt_sets[0].prompts[0].tests[0].assert[0].type", "is not one of"),
    (lambda c: note_of(c).update(tests=[{"name": f"t{i}"} for i in range(101)]),
     "archive.content.prompt_sets[0].prompts[0].tests", "is too long"),
    (lambda c: note_of(c, "1.0.0")["tests"].append(dict(note_of(c, "1.0.0")["tests"][0])),
     f"{ALPHA}.versions[1.0.0].snapshot.prompts[note].tests[1].name", "duplicate test name"),
    (lambda c: results_of(c).update(failed=1),
     f"{ALPHA}.versions[1.0.0].test_results.total", "counts must be the results'"),
    (lambda c: results_of(c)["prompts"]["note"][0].update(name="other"),
     f"{ALPHA}.versions[1.0.0].test_results.prompts.note", "one result per test"),
    (lambda c: results_of(c, "0.9.0")["prompts"]["note"][0].pop("failures"),
     f"{ALPHA}.versions[0.9.0].test_results.prompts.note[0]", "failed test's result lists its failures"),
    (lambda c: results_of(c)["prompts"].pop("note"),
     f"{ALPHA}.versions[1.0.0].test_results.prompts", "exactly the snapshot's prompts with tests"),
    (lambda c: next(s for s in c["prompt_sets"] if s["slug"] == "zeta")["versions"][0].update(
        test_results={"total": 0, "passed": 0, "failed": 0, "prompts": {}}),
     "archive.content.prompt_sets[zeta].versions[1.0.0].test_results", "no tests"),
    (lambda c: c["project"].pop("tests_gate"), "archive.content.project", "'tests_gate' is a required property"),
])
def test_test_problems_are_named_and_nothing_is_imported(world, target_org, change, field, message):
    project_with_tests(world.owner, world.project)
    data = resealed(export(world), lambda a: change(a["content"]))
    before = (Project.objects.count(), PromptSet.objects.count(), Prompt.objects.count(), Version.objects.count())
    with pytest.raises(InvalidArchive) as caught:
        import_archive(world.owner, target_org, data)
    assert caught.value.details[0]["field"] == field, caught.value.details
    assert message in caught.value.message
    assert before == (Project.objects.count(), PromptSet.objects.count(), Prompt.objects.count(),
                      Version.objects.count())


def test_the_api_refuses_bad_tests_with_a_422_naming_them(world, target_org, as_role, own_data_dir):
    project_with_tests(world.owner, world.project)
    data = resealed(export(world), lambda a: note_of(a["content"])["tests"][0]["assert"][0].update(value="("))
    response = as_role("owner").post("/projects/import", {"organisation": str(target_org.pk), "archive": data})
    assert_error(response, 422, "validation_error", f"{ALPHA}.prompts[note].tests[0].assert[0].value")
    assert not Project.objects.filter(organisation=target_org).exists()


# --- between two FORGEs ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def forge_t(tmp_path_factory):
    """A FORGE server holding the tested project (tested/checked) and an owner's API key."""
    t = Forge("forge-t", tmp_path_factory.mktemp("forge-t"))
    keys = t.prepare("\n".join([
        inspect.getsource(project_with_tests),
        "from anvil_forge.accounts.services import create_api_key",
        "from anvil_forge.orgs.services import create_organisation, create_user",
        "from anvil_forge.prompts import services as prompts",
        "owner = create_user('owner@t.test', 'correct horse battery staple')",
        "project = prompts.create_project(owner, create_organisation(owner, 'Tested', 'tested'), 'Checked', 'checked')",
        "project_with_tests(owner, project)",
        "create_organisation(owner, 'Copies', 'copies')",
        "result.update(key=create_api_key(owner, 'peering tests', ['read', 'write'])[1], project=str(project.pk))",
    ]))
    t.start()
    try:
        yield t, keys
    finally:
        t.stop()


def test_a_project_with_tests_moves_between_forges_intact(world, target_org, forge_t, settings, monkeypatch):
    t, keys = forge_t
    monkeypatch.setenv("ANVIL_TEST_T_TOKEN", keys["key"])
    settings.ANVIL_KNOWN_FORGES = json.dumps([{"name": "forge-t", "url": t.url, "token": "env:ANVIL_TEST_T_TOKEN"}])
    forge = get_forge("forge-t")
    assert remote.info(forge).archive_format_version == 3
    theirs = remote.export(forge, keys["project"])  # forge-t → this FORGE, as the Forges pages import
    assert theirs["format_version"] == 3
    result = import_archive(world.owner, target_org, theirs, via="forge forge-t")
    alpha = result.project.prompt_sets.get(slug="alpha")
    assert alpha.status == "locked" and [len(p.tests) for p in alpha.prompts.order_by("slug")] == [1, 3]
    assert [v.test_results for v in alpha.versions.order_by("sequence")] == [
        v["test_results"] for v in alpha_of(theirs["content"])["versions"]]
    mine = export(world, result.project)
    assert mine["content"] == theirs["content"] and mine["checksum"] == theirs["checksum"]

    copies = next(o for o in t.get("/organisations", keys["key"]).json()["data"] if o["slug"] == "copies")
    back = t.post("/projects/import", keys["key"], json={"organisation": copies["id"], "archive": mine})
    assert back.status_code == 201, back.text  # and back again, over the API
    again = t.get(f"/projects/{back.json()['project']['id']}/export", keys["key"]).json()
    assert again["content"] == theirs["content"] and again["checksum"] == theirs["checksum"]
