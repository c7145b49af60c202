"""Archive format 2 (chat prompts, model configuration, dependencies and locks), and archives written by
the previous release (format 1, tests/peering/archive-format-1.json, exported by commit 1bfa2f5's demo)."""

import json
from pathlib import Path

import pytest

from anvil_forge.distribution import queries as dist_queries
from anvil_forge.distribution.services import publish
from anvil_forge.peering import archive
from anvil_forge.peering import queries as peering_queries
from anvil_forge.peering.archive import InvalidArchive
from anvil_forge.peering.services import import_archive
from anvil_forge.prompts import queries, services as prompts

from ..peering_support import resealed, target_org  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db

PREVIOUS = Path(__file__).with_name("archive-format-1.json")


def chat_project(world):
    common = prompts.create_prompt_set(world.owner, world.project, "Common", "common", config={"model": "m"})
    prompts.create_prompt(world.owner, common, "Tone", "tone", "Be {{ tier }}.", [{"name": "tier"}])
    prompts.create_version(world.owner, common, "1.0.0")
    support = prompts.create_prompt_set(world.owner, world.project, "Support", "support",
                                        dependencies={"common": "^1"})
    prompts.create_prompt(world.owner, support, "Reply", "reply", kind="chat",
                          messages=[{"role": "system", "content": "{% render 'common.tone', tier: 'kind' %}"},
                                    {"placeholder": "history"}],
                          parameters=[{"name": "n", "type": "integer", "required": False, "default": 3}],
                          config={"temperature": 0.5})
    prompts.create_version(world.owner, support, "1.0.0")
    for prompt_set in (common, support):
        prompts.change_status(world.member, prompt_set, "review")
        prompts.change_status(world.admin, prompt_set, "locked")
    return common, support


def test_a_project_with_chat_prompts_and_dependencies_round_trips_through_format_2(world, target_org):
    chat_project(world)
    data = peering_queries.export_archive(world.owner, world.project)
    assert data["format_version"] == 2
    Draft = __import__("jsonschema").Draft202012Validator
    Draft(archive.schema(2)).validate(json.loads(archive.dumps(data)))
    result = import_archive(world.owner, target_org, data)
    again = peering_queries.export_archive(world.owner, result.project)
    assert again["content"] == data["content"] and again["checksum"] == data["checksum"]
    support = result.project.prompt_sets.get(slug="support")
    assert support.dependencies == {"common": "^1"} and support.versions.get().snapshot["locks"] == {"common": "1.0.0"}
    reply = support.prompts.get(slug="reply")
    rendered = queries.render_prompt(reply, {"history": [{"role": "user", "content": "hi"}]})
    assert rendered["messages"] == [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "hi"}]
    # Imported LOCKED, approved as imported: publishable here, partials and all.
    publish(world.owner, support)
    assert dist_queries.current_bundle(result.project)["dependencies"][0]["slug"] == "common"


def test_a_plain_project_is_still_exported_in_format_1(world):
    data = peering_queries.export_archive(world.owner, world.project)
    assert data["format_version"] == 1
    assert set(data["content"]["prompt_sets"][0]["prompts"][0]) == {"slug", "name", "description", "template",
                                                                    "parameters", "metadata"}


def test_an_archive_exported_by_the_previous_release_still_imports(world, target_org):
    data = json.loads(PREVIOUS.read_text())
    assert data["format_version"] == 1 and data["source"]["anvil_version"] == "0.1.0"
    result = import_archive(world.owner, target_org, data)
    assert result.project_created and len(result.versions_added) == 6
    emails = result.project.prompt_sets.get(slug="emails")
    assert {p.kind for p in emails.prompts.all()} == {"text"}
    again = peering_queries.export_archive(world.owner, result.project)
    assert again["format_version"] == 1 and again["content"] == data["content"]
    assert again["checksum"] == data["checksum"]


def support_of(content):
    return next(s for s in content["prompt_sets"] if s["slug"] == "support")


@pytest.mark.parametrize("change, field", [
    (lambda c: support_of(c)["prompts"][0]["messages"][0].update(role="robot"),
     "archive.content.prompt_sets[2].prompts[0].messages[0]"),
    (lambda c: support_of(c)["prompts"][0].update(config={"temperature": 9}),
     "archive.content.prompt_sets[support].prompts[reply].config"),
    (lambda c: support_of(c).update(dependencies={"ghost": "^1"}),
     "archive.content.prompt_sets[support].dependencies.ghost"),
    (lambda c: support_of(c)["versions"][0]["snapshot"].update(locks={"common": "9.9.9"}),
     "archive.content.prompt_sets[support].versions[1.0.0].snapshot.locks.common"),
])
def test_format_2_problems_are_named_and_nothing_is_imported(world, target_org, change, field):
    chat_project(world)
    data = resealed(peering_queries.export_archive(world.owner, world.project), lambda a: change(a["content"]))
    with pytest.raises(InvalidArchive) as info:
        import_archive(world.owner, target_org, data)
    assert info.value.details[0]["field"].startswith(field), info.value.details
    assert not target_org.projects.exists()


def test_an_archive_whose_dependencies_form_a_cycle_is_refused(world, target_org):
    chat_project(world)
    data = resealed(peering_queries.export_archive(world.owner, world.project),
                    lambda a: next(s for s in a["content"]["prompt_sets"] if s["slug"] == "common").update(
                        dependencies={"support": "*"}))
    with pytest.raises(InvalidArchive, match="dependencies form a cycle: common → support → common"):
        import_archive(world.owner, target_org, data)
