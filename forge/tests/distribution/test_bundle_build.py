"""build_bundle uses the parameters as the FORGE normalised them on save (versions never change afterwards;
anvil_client's make_body normalises any declaration that is not in that form: client/tests/test_bundle_normalised.py)."""

import pytest

from anvil_client import bundle as format
from anvil_client.templates import parse_parameters
from anvil_forge.distribution import bundles, keys
from anvil_forge.distribution.services import publish
from anvil_forge.prompts import services as prompts


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    keys._load.cache_clear()
    bundles._build.cache_clear()


def lock_and_publish(world):
    prompts.update_prompt(world.member, world.prompt, parameters=[
        {"name": "name"}, {"name": "count", "type": "number", "required": False, "default": "2"}])
    prompts.create_version(world.member, world.pset, "1.1.0")
    prompts.change_status(world.member, world.pset, "review")
    prompts.change_status(world.admin, world.pset, "locked")
    publish(world.admin, world.pset)


def test_bundle_parameters_are_the_normalised_declarations(world):
    lock_and_publish(world)
    data = format.verify(bundles.build_bundle(world.project), keys.public_key())
    expected = [p.to_dict() for p in parse_parameters([{"name": "name"},
                {"name": "count", "type": "number", "required": False, "default": "2"}])]
    assert data.prompts["emails.welcome"]["parameters"] == expected
    assert expected[1]["default"] == 2

