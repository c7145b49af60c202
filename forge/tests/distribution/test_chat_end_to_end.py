"""The chat-prompt journey end to end, against a real FORGE process: a chat prompt whose system message
renders a partial of another set, locked; an app gets OpenAI's keyword arguments; changing the partial,
versioning and publishing both sets reaches a streaming app within a second; an app on the previous client
release (installed from this repository's history) keeps serving through that publish."""

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.db import connection

from anvil_client import __version__ as client_version
from anvil_client.client import Client
from anvil_forge.accounts.services import create_api_key
from anvil_forge.distribution import queries as dist_queries
from anvil_forge.distribution.services import create_access_token
from anvil_forge.prompts import services as prompts

from ..receivers import wait_for
from ..servers import start_server, stop

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("own_data_dir")]

REPO = Path(__file__).resolve().parents[3]
PREVIOUS_RELEASE = "1bfa2f5"  # anvil-client 0.1.0, the last commit before bundle format 2
HISTORY = [{"role": "user", "content": "My order is late."}, {"role": "assistant", "content": "Sorry! Which one?"}]


def lock(world, prompt_set):
    prompts.change_status(world.member, prompt_set, "review")
    prompts.change_status(world.admin, prompt_set, "locked")


def unlock(world, prompt_set):
    prompts.change_status(world.admin, prompt_set, "live")


def chat_world(world):
    common = prompts.create_prompt_set(world.owner, world.project, "Common", "common")
    prompts.create_prompt(world.owner, common, "Tone", "tone", "Be kind{% if tier == 'pro' %} and thorough{% endif %}.",
                          [{"name": "tier"}])  # (what the previous release can serve: format 1)
    prompts.create_version(world.owner, common, "1.0.0")
    support = prompts.create_prompt_set(world.owner, world.project, "Support", "support",
                                        config={"model": "gpt-4o-mini", "temperature": 0.2},
                                        dependencies={"common": "^1.0"})
    prompts.create_prompt(
        world.owner, support, "Reply", "reply", kind="chat",
        messages=[{"role": "system", "content": "You answer for Acme. {% render 'common.tone', tier: tier %}"},
                  {"placeholder": "history"},
                  {"role": "user", "content": "{{ question }}"}],
        parameters=[{"name": "tier", "type": "enum", "values": ["free", "pro"], "required": False,
                     "default": "free"}, {"name": "question"}],
        config={"max_tokens": 400})
    version = prompts.create_version(world.owner, support, "1.0.0")
    assert version.snapshot["locks"] == {"common": "1.0.0"}
    return common, support


def install_previous_client(target: Path) -> Path:
    """anvil-client as the previous release shipped it, from git history, installed into ``target``."""
    source = target / "source"
    source.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", PREVIOUS_RELEASE, "client"], capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
    site = target / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(source / "client")], check=True, capture_output=True, timeout=300)
    return site


OLD_APP = """
import json, sys
import anvil_client
from anvil_client import Client
from anvil_client.errors import SyncError
client = Client(forge_url=sys.argv[1], project=sys.argv[2], access_token=sys.argv[3], cache_dir=sys.argv[4],
                public_key=sys.argv[5], background=False)
out = {"version": anvil_client.__version__ if hasattr(anvil_client, "__version__") else None}
try:
    client.sync()
    out["sync"] = "applied"
except SyncError as exc:
    out["sync"] = exc.reason
client.register()
out["sequence"] = client.sequence
out["tone"] = client.prompt("common.tone", tier="pro")
print(json.dumps(out))
"""


def test_an_app_gets_openai_arguments_and_a_partial_change_reaches_it_while_an_old_client_keeps_serving(
        world, tmp_path):
    from openai.types.chat import completion_create_params as openai_types  # anvil-client's dev extra
    from pydantic import TypeAdapter

    common, support = chat_world(world)
    lock(world, common)
    lock(world, support)
    _, token = create_access_token(world.admin, world.project, "prod")
    _, key = create_api_key(world.admin, "publisher", ["read", "write"])
    stream_server, url = start_server()
    servers = [stream_server]
    publish_url = url
    if connection.vendor == "postgresql":
        other, publish_url = start_server()
        servers.append(other)
    headers = {"Authorization": f"Bearer {key}"}
    old_site = install_previous_client(tmp_path / "previous")
    project, public = str(world.project.pk), dist_queries.public_key()

    def old_app():
        run = subprocess.run([sys.executable, "-c", OLD_APP, url, project, token, str(tmp_path / "old-cache"), public],
                             capture_output=True, text=True, timeout=60,
                             env={"PYTHONPATH": str(old_site), "PATH": "/usr/bin:/bin"})
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout)

    def publish(prompt_set):
        answer = httpx.post(f"{publish_url}/api/v1/prompt_sets/{prompt_set.pk}/publish", json={}, headers=headers)
        assert answer.status_code == 200, answer.text

    client = Client(forge_url=url, project=project, access_token=token, cache_dir=tmp_path / "app",
                    public_key=public, poll_interval=3600, heartbeat_interval=3600)
    try:
        # First only the shared set: a format-1 bundle, which the previous release takes.
        publish(common)
        held = old_app()
        assert held == {"version": "0.1.0", "sync": "applied", "sequence": 1, "tone": "Be kind and thorough."}

        publish(support)
        assert wait_for(lambda: client.sequence == 2, timeout=5), client.status()
        arguments = client.get("support.reply").openai(history=HISTORY, question="Where is it?")
        assert arguments == {
            "model": "gpt-4o-mini", "temperature": 0.2, "max_tokens": 400,
            "messages": [{"role": "system", "content": "You answer for Acme. Be kind."}, *HISTORY,
                         {"role": "user", "content": "Where is it?"}]}
        # Exactly what openai.OpenAI().chat.completions.create accepts, by the openai package's own types.
        TypeAdapter(openai_types.CompletionCreateParamsNonStreaming).validate_python(arguments, strict=True)
        # The previous release refuses the format-2 bundle by name and keeps serving what it holds.
        assert old_app() == {"version": "0.1.0", "sync": "unknown_format", "sequence": 1,
                             "tone": "Be kind and thorough."}
        assert dist_queries.live_overview(world.admin, world.project)[0]  # (the instances page lists them)

        # Change the shared partial; version and publish both sets: the streaming app has it within a second.
        unlock(world, common)
        prompts.update_prompt(world.owner, common.prompts.get(slug="tone"), template="Be warm and brief.")
        prompts.create_version(world.owner, common, "1.1.0")
        lock(world, common)
        unlock(world, support)
        assert prompts.create_version(world.owner, support, "1.1.0").snapshot["locks"] == {"common": "1.1.0"}
        lock(world, support)
        publish(common)
        started = time.monotonic()
        publish(support)

        def renders_new_text():
            return client.get("support.reply").messages(history=[], question="?")[0]["content"] == \
                "You answer for Acme. Be warm and brief."

        assert wait_for(renders_new_text, timeout=5), client.status()
        assert time.monotonic() - started < 1.0
        assert old_app()["sync"] == "unknown_format"
        # The LIVE instances page flags the old client's instances (each run is an app start), not the new one.
        listed = dist_queries.live_overview(world.admin, world.project)[0]
        assert {(i.client_version, i.too_old) for i in listed} == {("0.1.0", True), (client_version, False)}
    finally:
        client.stop()
        logs = [stop(server) for server in servers]
        print("\n".join(logs))
