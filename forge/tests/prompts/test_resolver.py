import pytest

from anvil_forge.core.errors import NotFound, ValidationError
from anvil_forge.orgs.services import create_organisation
from anvil_forge.prompts import services as prompts
from anvil_forge.prompts.rendering import render_address
from anvil_forge.prompts.resolver import resolve


@pytest.fixture
def versions(world):
    prompts.update_prompt(world.member, world.prompt, template="Hi {{ name }} (1.1)")
    prompts.create_version(world.member, world.pset, "1.1.0")
    prompts.update_prompt(world.member, world.prompt, template="Hey {{ name }} (beta)")
    prompts.create_version(world.member, world.pset, "2.0.0-beta.1")
    prompts.update_prompt(world.member, world.prompt, template="Yo {{ name }} (draft)")
    return world


@pytest.mark.parametrize("address, expected", [
    ("acme/support/emails/welcome", "Yo Ada (draft)"),
    ("support/emails/welcome", "Yo Ada (draft)"),
    ("support/emails@1.0.0/welcome", "Hello Ada!"),
    ("support/emails@stable/welcome", "Hi Ada (1.1)"),
    ("support/emails@latest/welcome", "Hey Ada (beta)"),
    ("acme/support/emails@^1.0/welcome", "Hi Ada (1.1)"),
    ("support/emails@~1.0.0/welcome", "Hello Ada!"),
    ("support/emails@>=1.0.0 <1.1.0/welcome", "Hello Ada!"),
    ("@support/emails@stable/welcome", "Hi Ada (1.1)"),
])
def test_addresses_resolve_and_render(versions, address, expected):
    result, resolved = render_address(versions.member, address, {"name": "Ada"})
    assert result["rendered"] == expected


@pytest.mark.parametrize("address, part, message", [
    ("nope/support/emails/welcome", "organisation", "organisation 'nope' not found"),
    ("acme/nope/emails/welcome", "project", "project 'nope' not found"),
    ("support/nope/welcome", "prompt_set", "prompt set 'nope' not found"),
    ("support/emails/nope", "prompt", "prompt 'nope' not found"),
    ("support/emails@^5/welcome", "version", "no version of 'emails' matches"),
    ("support/emails@1.0.0/nope", "prompt", "version 1.0.0"),
    ("support/welcome", "address", ""),
    ("support/Emails!/welcome", "prompt_set", ""),
])
def test_a_bad_address_names_the_wrong_part(versions, address, part, message):
    with pytest.raises((NotFound, ValidationError)) as exc:
        resolve(versions.member, address)
    assert exc.value.details[0]["field"] == part
    assert message in exc.value.message


def test_outsiders_cannot_resolve_anything(versions):
    with pytest.raises(NotFound, match="project 'support' not found"):
        resolve(versions.outsider, "support/emails/welcome")
    with pytest.raises(NotFound, match="organisation 'acme' not found"):
        resolve(versions.outsider, "acme/support/emails/welcome")


def test_an_ambiguous_project_asks_for_the_organisation(versions):
    beta = create_organisation(versions.member, "Beta")
    prompts.create_project(versions.member, beta, "Support", "support")
    with pytest.raises(ValidationError, match="several organisations") as exc:
        resolve(versions.member, "support/emails/welcome")
    assert exc.value.details[0]["field"] == "organisation"
    assert resolve(versions.member, "acme/support/emails/welcome").prompt_set == versions.pset


def test_rendering_validates_inputs(versions):
    with pytest.raises(ValidationError, match="name") as exc:
        render_address(versions.member, "support/emails/welcome", {})
    assert exc.value.details[0]["field"] == "variables.name"
