"""A real application process using anvil_client against a real FORGE process."""

import json
import subprocess
import sys

import pytest

from anvil_forge.distribution import keys
from anvil_forge.distribution.services import create_access_token, publish
from anvil_forge.prompts import services as prompts

from ..servers import start_server, stop

pytestmark = pytest.mark.django_db(transaction=True)

APP = """
import anvil_client as anvil
print(anvil.prompt("emails.welcome", name="Ada"))
print(anvil.status()["source"])
"""


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "forge"
    settings.DATA_DIR.mkdir()
    keys._load.cache_clear()


def run(args, cwd, env=None, input=None):
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=60, env=env, input=input)


def test_connect_render_restart_offline_and_refuse_an_edited_cache(world, tmp_path):
    prompts.change_status(world.member, world.pset, "review")
    prompts.change_status(world.admin, world.pset, "locked")
    publish(world.admin, world.pset)
    _, token = create_access_token(world.admin, world.project, "app")
    server, url = start_server()
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    cli = [sys.executable, "-m", "anvil_client.cli"]
    try:
        connected = run(cli + ["connect", "--forge-url", url, "--project", str(world.project.pk), "--token", token],
                        app_dir)
        assert connected.returncode == 0, connected.stderr
        assert "Pinned the FORGE's public key" in connected.stdout and "1 prompts held" in connected.stdout
        config = json.loads((app_dir / ".anvil" / "client.json").read_text())
        assert config["public_key"] == keys.public_key() and config["access_token"] == token
        first = run([sys.executable, "-c", APP], app_dir)
        assert first.stdout.splitlines() == ["Hello Ada!", "disk"], first.stderr
        rendered = run(cli + ["render", "emails.welcome", "-v", "name=Bo"], app_dir)
        assert rendered.stdout == "Hello Bo!\n"
    finally:
        stop(server)
    offline = run([sys.executable, "-c", APP], app_dir)  # the FORGE is gone: served from disk
    assert offline.stdout.splitlines() == ["Hello Ada!", "disk"], offline.stderr
    state = app_dir / ".anvil" / "cache" / "state.json"
    state.write_text(state.read_text().replace("Hello", "Hellp"))
    tampered = run([sys.executable, "-c", APP], app_dir)
    assert tampered.returncode != 0 and "UnknownPromptError" in tampered.stderr
    status = run(cli + ["status", "--json"], app_dir)
    assert "disk cache refused" in json.loads(status.stdout)["last_error"]


def test_connect_finds_the_project_from_the_token_or_org_slash_project_and_names_a_mismatch(world, tmp_path):
    prompts.change_status(world.member, world.pset, "review")
    prompts.change_status(world.admin, world.pset, "locked")
    publish(world.admin, world.pset)
    _, token = create_access_token(world.admin, world.project, "app")
    other = prompts.create_project(world.owner, world.org, "Other", "other")
    server, url = start_server()
    cli = [sys.executable, "-m", "anvil_client.cli", "connect", "--forge-url", url, "--token", token]
    try:
        for n, extra in enumerate(([], ["--project", "acme/support"], ["--project", str(world.project.pk)])):
            app_dir = tmp_path / f"app{n}"
            app_dir.mkdir()
            connected = run(cli + extra, app_dir)
            assert connected.returncode == 0, connected.stderr
            config = json.loads((app_dir / ".anvil" / "client.json").read_text())
            assert config["project"] == str(world.project.pk) and "1 prompts held" in connected.stdout
        for wrong in ("acme/other", str(other.pk)):
            refused = run(cli + ["--project", wrong], tmp_path)
            assert refused.returncode != 0
            assert f"this access token is for project acme/support ({world.project.pk}), not {wrong}" in (
                refused.stderr + refused.stdout)
    finally:
        print(stop(server))
