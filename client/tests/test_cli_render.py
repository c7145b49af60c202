"""``anvil-client render`` from the local cache: a text prompt's text, a chat prompt's messages under their
roles with its model configuration, ``--json``, and variables as ``name:=@FILE`` (a history in a file)."""

import json
import re

import pytest

from anvil_client import Client
from anvil_client import bundle as bundles
from anvil_client import cli

from .helpers import PROJECT

KEY = bundles.generate_private_key()
PUBLIC = bundles.public_key_text(KEY)

REPLY = {
    "kind": "chat",
    "messages": [
        {"role": "system", "content": "You help {{ customer }}. {% render 'common.tone' %}"},
        {"placeholder": "history"},
        {"role": "user", "content": "{{ question }}"},
    ],
    "parameters": [{"name": "customer"}, {"name": "question"}],
    "config": {"model": "gpt-4o-mini", "temperature": 0.2, "max_tokens": 300},
    "metadata": {},
}
HISTORY = [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi! How can I help?"}]
CONFIG_TEXT = json.dumps(REPLY["config"], indent=2)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """A cache holding a verified bundle with a chat prompt (rendering a partial of a locked dependency) and
    a text prompt; no other settings reach the command (no ANVIL_* variables, no .anvil/client.json)."""
    for name in ("ANVIL_FORGE_URL", "ANVIL_PROJECT", "ANVIL_ACCESS_TOKEN", "ANVIL_MODE", "ANVIL_CACHE_DIR",
                 "ANVIL_FORGE_PUBLIC_KEY", "ANVIL_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    body = bundles.make_body(
        project={"id": PROJECT, "slug": "p", "name": "P"}, sequence=1, created_at="2026-12-03T00:00:00Z",
        prompt_sets=[{"slug": "support", "version": "2.0.0", "version_id": "s2", "locks": {"common": "1.2.0"}}],
        prompts={"support.reply": REPLY,
                 "support.plain": {"template": "Hi {{ name }}", "parameters": [{"name": "name"}], "metadata": {}}},
        dependencies=[{"slug": "common", "version": "1.2.0", "locks": {},
                       "prompts": {"tone": {"template": "Be brief.", "parameters": [], "metadata": {}}}}],
        forge_key=PUBLIC)
    cache = tmp_path / "cache"
    client = Client(project=PROJECT, cache_dir=cache, public_key=PUBLIC, background=False)
    assert client.apply(bundles.seal(body, KEY)).applied
    return cache


def render(cache_dir, *args):
    return cli.main(["render", *args, "--cache-dir", str(cache_dir), "--project", PROJECT, "--public-key", PUBLIC])


def test_a_chat_prompt_prints_each_message_under_its_role_then_its_config(cache_dir, tmp_path, capsys):
    history = tmp_path / "history.json"
    history.write_text(json.dumps(HISTORY), encoding="utf-8")
    assert render(cache_dir, "support.reply", "-v", "customer=Ann", "-v", "question=Refund?",
                  "-v", f"history:=@{history}") == 0
    assert capsys.readouterr().out == (
        "[system]\nYou help Ann. Be brief.\n\n[user]\nHello\n\n[assistant]\nHi! How can I help?\n\n"
        f"[user]\nRefund?\n\n[config]\n{CONFIG_TEXT}\n")


def test_json_prints_kind_messages_and_config(cache_dir, capsys):
    assert render(cache_dir, "support.reply", "--json", "-v", "customer=Ann", "-v", "question=Refund?",
                  "-v", "history:=[]") == 0
    assert json.loads(capsys.readouterr().out) == {
        "kind": "chat",
        "messages": [{"role": "system", "content": "You help Ann. Be brief."}, {"role": "user", "content": "Refund?"}],
        "config": REPLY["config"],
    }


def test_a_text_prompt_prints_its_text_and_json_names_it_rendered(cache_dir, capsys):
    assert render(cache_dir, "support.plain", "-v", "name=Ada") == 0
    assert capsys.readouterr().out == "Hi Ada\n"
    assert render(cache_dir, "support.plain", "-v", "name=Ada", "--json") == 0
    assert json.loads(capsys.readouterr().out) == {"kind": "text", "rendered": "Hi Ada", "config": {}}


@pytest.mark.parametrize("history, message", [
    (None, "missing messages for placeholder 'history'"),
    ("history:=@{missing}", "-v history: cannot read"),
    ("history:=@{bad}", "-v history: the file '.*bad.json' is not JSON"),
    ("history:=@", "name the file after '@'"),
    ('history:=[{{"role": "tool", "content": "x"}}]', "placeholder 'history' message 0: role 'tool'"),
    ('history:={{"role": "user"}}', "placeholder 'history' must be a list of messages"),
])
def test_bad_input_is_a_clear_message_and_exit_status_1(cache_dir, tmp_path, capsys, history, message):
    (tmp_path / "bad.json").write_text('[{"role": ', encoding="utf-8")
    extra = [] if history is None else ["-v", history.format(missing=tmp_path / "nope.json",
                                                             bad=tmp_path / "bad.json")]
    assert render(cache_dir, "support.reply", "-v", "customer=A", "-v", "question=q", *extra) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("\nanvil-client: ")
    assert re.search(message, captured.err), captured.err


def test_an_unknown_prompt_is_a_clear_message(cache_dir, capsys):
    assert render(cache_dir, "support.nope") == 1
    assert "support.nope" in capsys.readouterr().err


def test_parse_variables_reads_json_from_a_file_and_leaves_other_at_signs_alone(tmp_path):
    (tmp_path / "n.json").write_text('{"a": [1, 2]}', encoding="utf-8")
    assert cli.parse_variables([f"data:=@{tmp_path / 'n.json'}", "handle=@ada", "count:=3"]) == {
        "data": {"a": [1, 2]}, "handle": "@ada", "count": 3}
