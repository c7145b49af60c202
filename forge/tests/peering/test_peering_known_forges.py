"""Known forges: ANVIL_KNOWN_FORGES as a TOML file, a JSON file or inline JSON; env: tokens; clear errors."""

import copy
import json
import logging

import pytest
from django.core import checks

from anvil_forge.peering import known_forges
from anvil_forge.peering.known_forges import KnownForgesError, Secret, parse

TOKEN = "ank_SuperSecretTokenValue_0123456789"


def test_unset_or_blank_means_no_forges():
    assert parse(None) == [] and parse("") == [] and parse("   ") == []


def test_inline_json_list():
    forges = parse(json.dumps([{"name": "staging", "url": "https://staging.example.com/", "token": TOKEN},
                               {"name": "Prod EU", "url": "http://10.0.0.5:8000/api/v1", "token": TOKEN + "2"}]))
    assert [f.name for f in forges] == ["staging", "Prod EU"]
    assert forges[0].url == "https://staging.example.com"
    assert forges[1].url == "http://10.0.0.5:8000" and forges[1].api_url == "http://10.0.0.5:8000/api/v1"
    assert forges[0].token.reveal() == TOKEN and forges[0].token_source == "inline"


def test_inline_json_object_with_forges_key():
    forges = parse(json.dumps({"forges": [{"name": "b", "url": "http://127.0.0.1:9", "token": TOKEN}]}))
    assert forges[0].name == "b"


def test_toml_file_with_env_token(tmp_path):
    path = tmp_path / "forges.toml"
    path.write_text('[[forges]]\nname = "staging"\nurl = "https://staging.example.com"\ntoken = "env:STAGING_KEY"\n\n'
                    '[[forges]]\nname = "lab"\nurl = "http://lab.internal:8000"\ntoken = "ank_literal"\n')
    forges = parse(str(path), environ={"STAGING_KEY": TOKEN})
    assert [(f.name, f.url) for f in forges] == [("staging", "https://staging.example.com"),
                                                 ("lab", "http://lab.internal:8000")]
    assert forges[0].token.reveal() == TOKEN and forges[0].token_source == "env:STAGING_KEY"
    assert forges[1].token.reveal() == "ank_literal"


def test_json_file(tmp_path):
    path = tmp_path / "forges.json"
    path.write_text(json.dumps([{"name": "b", "url": "http://127.0.0.1:8001", "token": "env:B_TOKEN"}]))
    assert parse(str(path), environ={"B_TOKEN": TOKEN})[0].token.reveal() == TOKEN


def test_settings_and_environment_are_read(settings, monkeypatch):
    monkeypatch.setenv("PEER_B_TOKEN", TOKEN)
    settings.ANVIL_KNOWN_FORGES = json.dumps([{"name": "b", "url": "http://127.0.0.1:8001",
                                               "token": "env:PEER_B_TOKEN"}])
    assert known_forges.names() == ["b"]
    assert known_forges.get_forge("B").token.reveal() == TOKEN
    from anvil_forge.core.errors import NotFound

    with pytest.raises(NotFound, match="no known forge is named 'c'"):
        known_forges.get_forge("c")


@pytest.mark.parametrize("config, message", [
    ("[{", "is not valid JSON"),
    ('{"peers": []}', "unknown key(s) peers"),
    ('"just a string"', "does not exist"),
    ("[1]", "known forge #1 must be an object"),
    ('[{"url": "http://x", "token": "t"}]', "'name' must be"),
    ('[{"name": "a/b", "url": "http://x", "token": "t"}]', "'name' must be"),
    ('[{"name": "a", "token": "t"}]', "known forge 'a': 'url' is missing"),
    ('[{"name": "a", "url": "ftp://x", "token": "t"}]', "http:// or https://"),
    ('[{"name": "a", "url": "http://u:p@x", "token": "t"}]', "must not contain credentials"),
    ('[{"name": "a", "url": "http://x"}]', "'token' is missing"),
    ('[{"name": "a", "url": "http://x", "token": "env:"}]', "needs a variable name"),
    ('[{"name": "a", "url": "http://x", "token": "env:NOT_SET_ANYWHERE"}]', "NOT_SET_ANYWHERE (its token) is not set"),
    ('[{"name": "a", "url": "http://x", "token": "t", "secret": 1}]', "unknown field(s) secret"),
    ('[{"name": "a", "url": "http://x", "token": "t"}, {"name": "A", "url": "http://y", "token": "u"}]',
     "listed twice"),
])
def test_configuration_errors_are_clear(config, message):
    with pytest.raises(KnownForgesError) as caught:
        parse(config, environ={})
    assert message in caught.value.message


def test_file_errors(tmp_path):
    with pytest.raises(KnownForgesError, match="does not exist"):
        parse(str(tmp_path / "missing.toml"))
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("[[forges]\nname = ")
    with pytest.raises(KnownForgesError, match="is not valid TOML"):
        parse(str(bad_toml))
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{nope")
    with pytest.raises(KnownForgesError, match="is not valid JSON"):
        parse(str(bad_json))


def test_tokens_never_show_in_reprs_strings_or_errors(caplog):
    forge = parse(json.dumps([{"name": "b", "url": "http://127.0.0.1:9", "token": TOKEN}]))[0]
    shown = [repr(forge), str(forge), repr(forge.token), str(forge.token), f"{forge.token}", f"{forge!r}",
             repr(copy.deepcopy(forge))]
    assert not any(TOKEN in text for text in shown)
    logging.getLogger("test").warning("forge %s %r %s", forge, forge, forge.token)
    assert TOKEN not in caplog.text
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(Secret(TOKEN))
    # a broken entry's message names the entry and the field, never the token
    with pytest.raises(KnownForgesError) as caught:
        parse(json.dumps([{"name": "b", "url": "nope", "token": TOKEN}]))
    assert TOKEN not in caught.value.message
    with pytest.raises(KnownForgesError) as caught:
        parse(json.dumps([{"name": "b", "url": "http://x", "token": TOKEN + " x"}]))
    assert TOKEN not in caught.value.message


def test_system_check_warns_about_a_broken_configuration(settings):
    settings.ANVIL_KNOWN_FORGES = '[{"name": "b"}]'
    found = [m for m in checks.run_checks(tags=["anvil"]) if m.id == "anvil.W001"]
    assert found and "'url' is missing" in found[0].msg
    settings.ANVIL_KNOWN_FORGES = ""
    assert not [m for m in checks.run_checks(tags=["anvil"]) if m.id == "anvil.W001"]
