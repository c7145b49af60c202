"""Prompts as code, end to end: ``anvil-client pull | test | diff | push`` against a real FORGE process.

The journey of issue 14: pull a project into an empty folder; an edit makes a snapshot test fail, and
``anvil-client test`` says which; the snapshot is updated; ``push --dry-run`` shows the plan and changes
nothing; ``push`` applies it; a second push has nothing to do; a clean checkout (CI) pushes over its own
last push; an edit made on the FORGE meanwhile makes push refuse with a diff; a LOCKED set is never pushed;
a version pulled is not pushed over the working copy.
"""

import os
import shutil
import subprocess
import sys

import pytest

from anvil_forge.accounts.services import create_api_key
from anvil_forge.prompts import services as prompts
from anvil_forge.prompts.models import Prompt

from ..servers import start_server, stop

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("own_data_dir")]

CLI = [sys.executable, "-m", "anvil_client.cli"]
GREETS = [{"name": "greets", "variables": {"name": "Ada"}, "assert": [{"type": "snapshot"}],
           "snapshot": "Hello Ada!"}]


def run(folder, *args, key):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANVIL_")} | {"ANVIL_API_KEY": key}
    done = subprocess.run(CLI + list(args), cwd=folder, capture_output=True, text=True, timeout=60, env=env)
    assert key not in done.stdout + done.stderr
    return done


def edit(path, old, new):
    text = path.read_text()
    assert old in text, text
    path.write_text(text.replace(old, new))


def template(world, set_slug="emails", slug="welcome"):
    return Prompt.objects.get(prompt_set__project=world.project, prompt_set__slug=set_slug, slug=slug).template


@pytest.fixture
def project(world):
    """The world's LIVE set ``emails`` (its prompt ``welcome`` with a snapshot test), a LOCKED set ``legal``,
    and an API key that may read and write."""
    prompts.update_prompt(world.owner, world.prompt, tests=GREETS)
    legal = prompts.create_prompt_set(world.owner, world.project, "Legal", "legal")
    prompts.create_prompt(world.owner, legal, "Terms", "terms", "Our terms.")
    prompts.change_status(world.member, legal, "review")
    prompts.change_status(world.admin, legal, "locked")
    _, key = create_api_key(world.owner, "ci", ["read", "write"])
    return key


def test_pull_test_push_and_the_refusals(world, project, tmp_path):
    key = project
    folder = tmp_path / "prompts"
    folder.mkdir()
    server, url = start_server()
    try:
        # pull into an empty folder
        pulled = run(folder, "pull", "--forge-url", url, "--project", str(world.project.pk), key=key)
        assert pulled.returncode == 0, pulled.stderr
        assert pulled.stderr.splitlines() == ["[1/2] emails: 1 prompt", "[2/2] legal: 1 prompt"]
        welcome = folder / "emails" / "welcome.prompt.yaml"
        assert "template: Hello {{ name }}!" in welcome.read_text()
        assert (folder / "legal" / "terms.prompt.yaml").is_file() and (folder / "anvil.yaml").is_file()
        assert run(folder, "diff", key=key).returncode == 0
        assert run(folder, "test", key=key).returncode == 0

        # an edit breaks the snapshot test; the test command names it
        edit(welcome, "Hello {{ name }}!", "Hi {{ name }}!")
        failing = run(folder, "test", key=key)
        assert failing.returncode == 1
        assert "FAIL emails.welcome" in failing.stdout and "FAILED emails.welcome: greets" in failing.stdout
        diffed = run(folder, "diff", key=key)
        assert diffed.returncode == 1 and "+template: Hi {{ name }}!" in diffed.stdout

        # the change is meant: record the new rendering
        updated = run(folder, "test", "--update-snapshots", key=key)
        assert updated.returncode == 0 and "snapshot: Hi Ada!" in welcome.read_text()

        # the dry run shows the plan and changes nothing
        dry = run(folder, "push", "--dry-run", key=key)
        assert dry.returncode == 0, dry.stdout + dry.stderr
        assert "emails: update\n  prompt welcome: changed (template, tests)\n" in dry.stdout
        assert "Dry run: nothing was pushed" in dry.stdout
        assert template(world) == "Hello {{ name }}!"

        # push applies; the FORGE has the change; a second push has nothing to do
        pushed = run(folder, "push", key=key)
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
        assert pushed.stdout.splitlines()[-1] == "Pushed 1 set."
        assert template(world) == "Hi {{ name }}!"
        assert Prompt.objects.get(pk=world.prompt.pk).tests[0]["snapshot"] == "Hi Ada!"
        again = run(folder, "push", key=key)
        assert (again.returncode, again.stdout) == (0, "Nothing to push: 2 sets as on the FORGE.\n")
        assert run(folder, "diff", key=key).returncode == 0

        # CI: a clean checkout (no .anvil/) may push over the last push
        checkout = tmp_path / "checkout"
        shutil.copytree(folder, checkout, ignore=shutil.ignore_patterns(".anvil"))
        edit(checkout / "emails" / "welcome.prompt.yaml", "name: Welcome", "name: Welcome\ndescription: First mail")
        ci = run(checkout, "push", key=key)
        assert ci.returncode == 0, ci.stdout + ci.stderr
        assert Prompt.objects.get(pk=world.prompt.pk).description == "First mail"

        # an edit made on the FORGE meanwhile: push refuses, showing the diff, and changes nothing
        prompts.update_prompt(world.owner, Prompt.objects.get(pk=world.prompt.pk), template="Hey {{ name }}!")
        edit(checkout / "emails" / "welcome.prompt.yaml", "Hi {{ name }}!", "Hello there {{ name }}!")
        refused = run(checkout, "push", key=key)
        assert refused.returncode == 1
        assert "emails: not pushed: changed on the FORGE since your last pull or push" in refused.stdout
        assert "anvil-client pull --force emails" in refused.stdout
        assert "-template: Hey {{ name }}!\n+template: Hello there {{ name }}!\n" in refused.stdout
        assert template(world) == "Hey {{ name }}!"

        # a LOCKED set is never pushed, and push says so
        edit(folder / "legal" / "terms.prompt.yaml", "Our terms.", "New terms.")
        locked = run(folder, "push", "legal", key=key)
        assert locked.returncode == 1
        assert "legal is LOCKED: not pushed (its files differ)" in locked.stdout.splitlines()
        assert template(world, "legal", "terms") == "Our terms."

        # a version pulled is not pushed over the working copy by accident
        old = run(folder, "pull", "--version", "1.0.0", "emails", key=key)
        assert old.returncode == 0, old.stderr
        assert "template: Hello {{ name }}!" in welcome.read_text()
        kept = run(folder, "push", "emails", key=key)
        assert kept.returncode == 1 and "its files were pulled from version 1.0.0" in kept.stdout
        assert template(world) == "Hey {{ name }}!"
    finally:
        log = stop(server)
    assert "Traceback" not in log, log
