import io
import json
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from anvil_forge.accounts.models import User
from anvil_forge.orgs.models import Organisation
from anvil_forge.prompts import services as prompt_services
from anvil_forge.prompts.models import PromptSet, Version


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_demo_loads_once_and_prints_logins(db, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    first = run("demo")
    assert "Admin login:  admin@anvil.local  /  " in first
    emails = PromptSet.objects.get(slug="emails")
    assert emails.status == "locked" and emails.prompts.count() == 3
    assert list(emails.versions.order_by("sequence").values_list("label", flat=True)) == [
        "1.0.0", "1.1.0", "1.2.0-beta.1", "1.2.0"]
    assert PromptSet.objects.get(slug="chat").versions.count() == 2
    password = first.split("admin@anvil.local  /  ")[1].split()[0]
    assert User.objects.get(email="admin@anvil.local").check_password(password)
    assert not User.objects.filter(email_verified_at__isnull=True).exists()  # demo addresses count as confirmed
    counts = (Organisation.objects.count(), Version.objects.count())
    second = run("demo")
    assert "already present" in second and password in second
    assert (Organisation.objects.count(), Version.objects.count()) == counts


def test_render_a_demo_address_at_stable(db, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    run("demo")
    text = run("render", "acme/support/emails@stable/welcome", "-v", "name=Ada", "-v", "trial=true",
               "-v", "trial_days=30")
    assert text.startswith("Write a warm, short welcome e-mail to Ada, who just joined as member.")
    assert "trial lasts 30 days" in text
    member_view = run("render", "support/chat@0.1.0/system", "--as", "member@anvil.local", "-v", "product=Anvil")
    assert "support assistant for Anvil" in member_view and "refunds" not in member_view


@pytest.mark.parametrize("args, message", [
    (["acme/support/emails@stable/welcome"], "missing required parameter 'name'"),
    (["acme/support/emails@^9/welcome", "-v", "name=x"], "no version of 'emails' matches"),
    (["acme/support/emails/welcome", "-v", "novalue"], "expected name=value"),
    (["acme/support/emails/welcome", "-v", "name:={bad"], "not JSON"),
    (["support/chat/system", "--as", "nobody@example.com"], "no user"),
])
def test_render_errors_are_clear(db, settings, tmp_path, args, message):
    settings.DATA_DIR = tmp_path
    run("demo")
    with pytest.raises(CommandError, match=message):
        run("render", *args)


@pytest.fixture
def chat_prompt(world):
    """A chat prompt in a set whose model configuration defaults lie beneath the prompt's own, versioned 1.0.0."""
    chat = prompt_services.create_prompt_set(world.owner, world.project, "Chat", "chat",
                                             config={"model": "gpt-4o-mini", "temperature": 0.2})
    prompt_services.create_prompt(
        world.owner, chat, "Reply", "reply", parameters=[{"name": "customer"}, {"name": "question"}], kind="chat",
        messages=[{"role": "system", "content": "You help {{ customer }}."}, {"placeholder": "history"},
                  {"role": "user", "content": "{{ question }}"}],
        config={"temperature": 0.7, "max_tokens": 300})
    prompt_services.create_version(world.owner, chat, "1.0.0")
    return chat


HISTORY = [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi! How can I help?"}]


def test_render_a_chat_prompt_prints_each_message_under_its_role_then_the_config(chat_prompt, tmp_path):
    history = tmp_path / "history.json"
    history.write_text(json.dumps(HISTORY), encoding="utf-8")
    out = run("render", "acme/support/chat@1.0.0/reply", "-v", "customer=Ann", "-v", "question=Refund?",
              "-v", f"history:=@{history}")
    assert out == ("[system]\nYou help Ann.\n\n[user]\nHello\n\n[assistant]\nHi! How can I help?\n\n"
                   "[user]\nRefund?\n\n[config]\n"
                   + json.dumps({"model": "gpt-4o-mini", "temperature": 0.7, "max_tokens": 300}, indent=2) + "\n")


def test_render_json_prints_the_whole_result(chat_prompt):
    out = run("render", "acme/support/chat/reply", "--json", "-v", "customer=Ann", "-v", "question=Refund?",
              "-v", "history:=[]", "--as", "member@example.com")
    assert json.loads(out) == {
        "kind": "chat", "rendered": None,
        "messages": [{"role": "system", "content": "You help Ann."}, {"role": "user", "content": "Refund?"}],
        "config": {"model": "gpt-4o-mini", "temperature": 0.7, "max_tokens": 300}}
    text = run("render", "acme/support/emails/welcome", "--json", "-v", "name=Ada")
    assert json.loads(text) == {"kind": "text", "rendered": "Hello Ada!", "messages": None, "config": {}}


def test_a_text_prompt_still_prints_only_its_text(world):
    prompt_services.update_prompt_set(world.owner, world.pset, config={"model": "gpt-4o"})
    assert run("render", "acme/support/emails/welcome", "-v", "name=Ada") == "Hello Ada!\n"


@pytest.mark.parametrize("history, message", [
    ("history:=@{missing}", "-v history: cannot read"),
    ("history:=@{bad}", "-v history: the file .* is not JSON"),
    ("history:=@", "name the file after '@'"),
    ("history:={good}", "not JSON"),  # no '@': the text itself must be JSON
    ('history:=[{{"role": "tool", "content": "x"}}]', "placeholder 'history' message 0: role 'tool'"),
])
def test_chat_render_errors_are_clear(chat_prompt, tmp_path, history, message):
    (tmp_path / "bad.json").write_text("[{", encoding="utf-8")
    (tmp_path / "good.json").write_text("[]", encoding="utf-8")
    names = {"missing": tmp_path / "missing.json", "bad": tmp_path / "bad.json", "good": tmp_path / "good.json"}
    with pytest.raises(CommandError, match=message):
        run("render", "acme/support/chat/reply", "-v", "customer=A", "-v", "question=q", "-v",
            history.format(**names))


def test_createuser_and_createadmin(db):
    out = run("createuser", "ada@example.com", "--no-input")
    assert "Created user ada@example.com" in out and "Password: " in out
    run("createadmin", "root@example.com", "--password", "a long enough password", "--no-input")
    ada, root = User.objects.get(email="ada@example.com"), User.objects.get(email="root@example.com")
    assert not ada.is_staff and root.is_staff and root.is_superuser
    assert ada.email_verified_at and root.email_verified_at  # the operator vouches for the addresses
    assert root.check_password("a long enough password")
    with pytest.raises(CommandError, match="already exists"):
        run("createuser", "ADA@example.com", "--no-input")
    with pytest.raises(CommandError, match="at least 12"):
        run("createuser", "short@example.com", "--password", "short", "--no-input")


def test_the_anvil_command_lists_its_commands():
    result = subprocess.run([sys.executable, "-m", "anvil_forge.cli", "help"], capture_output=True, text=True,
                            check=True)
    for command in ("serve", "worker", "migrate", "createuser", "createadmin", "demo", "render"):
        assert command in result.stdout


def test_anvil_version_names_anvil_and_django():
    import django

    from anvil_forge import __version__

    result = subprocess.run([sys.executable, "-m", "anvil_forge.cli", "--version"], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == f"anvil-forge {__version__} (Django {django.get_version()})"


def test_the_demo_hint_is_a_command_that_works_from_where_it_ran(monkeypatch, tmp_path):
    from anvil_forge.management.commands import demo

    script = tmp_path / ".venv" / "bin" / "anvil"
    script.parent.mkdir(parents=True)
    script.write_text("")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [str(script), "demo"])
    monkeypatch.setattr(demo.shutil, "which", lambda name: None)  # the checkout's venv is not on the PATH
    assert demo.anvil_command() == ".venv/bin/anvil"
    monkeypatch.setattr(demo.shutil, "which", lambda name: str(script))  # it is (an activated venv)
    assert demo.anvil_command() == "anvil"
