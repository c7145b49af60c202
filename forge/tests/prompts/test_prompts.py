import pytest

from anvil_forge.audit.models import AuditEvent
from anvil_forge.core.errors import Conflict, ValidationError
from anvil_forge.prompts import queries
from anvil_forge.prompts import services as prompts
from anvil_forge.prompts.models import Prompt, PromptSet

from ..conftest import refresh


def test_create_prompt_with_typed_parameters(world):
    prompt = prompts.create_prompt(
        world.member, world.pset, "Reminder", template="Hi {{ name }}, {{ days }} days left",
        parameters=[{"name": "name"}, {"name": "days", "type": "number", "required": False, "default": 3}],
    )
    assert prompt.slug == "reminder"
    assert prompt.parameters[1] == {"name": "days", "type": "number", "description": "", "required": False, "default": 3}
    assert queries.analysis(prompt)["matched"] == ["days", "name"]


def test_template_syntax_error_is_refused_with_line_and_column(world):
    with pytest.raises(ValidationError) as exc:
        prompts.update_prompt(world.member, world.prompt, template="Hello\n{% if name %}oops")
    detail = exc.value.details[0]
    assert detail["field"] == "template" and detail["line"] == 2 and detail["column"] is not None
    assert refresh(world.prompt).template == "Hello {{ name }}!"  # nothing half-written


@pytest.mark.parametrize("parameters, field", [
    ([{"name": "x", "type": "date"}], "parameters.x"),
    ([{"name": "n", "type": "number", "default": "many"}], "parameters.n"),
    ([{"name": "a"}, {"name": "a"}], "parameters"),
    ("name", "parameters"),
])
def test_bad_parameter_declarations_are_refused(world, parameters, field):
    with pytest.raises(ValidationError) as exc:
        prompts.update_prompt(world.member, world.prompt, parameters=parameters)
    assert exc.value.details[0]["field"].startswith(field)


def test_missing_unused_matched_and_add_missing(world):
    prompt = prompts.update_prompt(world.member, world.prompt,
                                   template="{{ greeting }} {{ name }}, {% for i in (1..2) %}{{ topic }}{% endfor %}",
                                   parameters=[{"name": "name"}, {"name": "mood"}])
    result = queries.analysis(prompt)
    assert (result["missing"], result["unused"], result["matched"]) == (["greeting", "topic"], ["mood"], ["name"])
    assert prompts.add_missing_parameters(world.member, prompt) == ["greeting", "topic"]
    prompt = refresh(prompt)
    assert [p["name"] for p in prompt.parameters] == ["name", "mood", "greeting", "topic"]
    assert all(p["type"] == "string" for p in prompt.parameters[2:])
    assert queries.analysis(prompt)["missing"] == []


def test_slugs_and_names_are_unique_within_their_parent(world):
    with pytest.raises(Conflict):
        prompts.create_prompt(world.member, world.pset, "Welcome")
    with pytest.raises(Conflict):
        prompts.create_prompt_set(world.member, world.project, "Other", slug="emails")
    with pytest.raises(ValidationError, match="slug"):
        prompts.create_prompt(world.member, world.pset, "Dots", slug="has.dot")
    other = prompts.create_project(world.owner, world.org, "Billing")
    assert prompts.create_prompt_set(world.member, other, "Emails").slug == "emails"  # other parent: fine


def test_metadata_must_be_an_object(world):
    with pytest.raises(ValidationError, match="JSON object"):
        prompts.update_prompt_set(world.member, world.pset, metadata=["model"])


def test_status_machine(world):
    with pytest.raises(Conflict, match="cannot go to LOCKED"):
        prompts.change_status(world.owner, world.pset, "locked")
    prompts.change_status(world.member, world.pset, "review")
    prompts.change_status(world.admin, world.pset, "live")  # reject
    prompts.change_status(world.member, world.pset, "review")
    prompts.change_status(world.admin, world.pset, "locked")  # approve
    with pytest.raises(Conflict, match="already LOCKED"):
        prompts.change_status(world.admin, world.pset, "locked")
    prompts.change_status(world.owner, world.pset, "live")  # unlock
    actions = list(AuditEvent.objects.filter(action__startswith="prompt_set.").order_by("created_at")
                   .values_list("action", flat=True))
    assert actions[-5:] == ["prompt_set.submit", "prompt_set.reject", "prompt_set.submit",
                            "prompt_set.approve", "prompt_set.unlock"]
    with pytest.raises(ValidationError, match="not one of"):
        prompts.change_status(world.owner, world.pset, "published")


def test_review_requires_every_parameter_declared(world):
    prompts.update_prompt(world.member, world.prompt, template="Hello {{ name }} from {{ company }}")
    with pytest.raises(ValidationError) as exc:
        prompts.change_status(world.member, world.pset, "review")
    assert exc.value.details == [{"field": "prompts.welcome", "message": "undeclared parameters: company"}]
    assert refresh(world.pset).status == "live"


def test_deleting_a_project_takes_its_sets(world):
    prompts.delete_project(world.owner, world.project)
    assert not PromptSet.objects.exists() and not Prompt.objects.exists()
    assert AuditEvent.objects.filter(action="project.delete").get().summary["prompt_sets"] == 1
