"""Bundle format 3: format 2 with each published set version's test summary (docs/bundle-format.md).

The summary is informative: ``make_body`` writes format 3 only when a set has one and the reader takes 3,
and otherwise the format 1 or 2 bundle the content needs, without it. Test definitions never travel."""

import importlib.resources
import json

import httpx
import pytest

from anvil_client import bundle as bundles
from anvil_client import cli
from anvil_client.client import Client

from .helpers import PROJECT

KEY = bundles.generate_private_key()
PUBLIC = bundles.public_key_text(KEY)
FORGE = "https://forge.example.com"
BUNDLE_PATH = f"/api/v1/projects/{PROJECT}/current_bundle"

FIVE = {"total": 5, "passed": 5, "failed": 0}
FAILING = {"total": 4, "passed": 3, "failed": 1}
# Test definitions as a FORGE snapshot holds them: they must never reach a bundle.
DEFINITIONS = [{"name": "secret-case-name", "variables": {"name": "Ada"},
                "assert": [{"type": "contains", "value": "secret-expected-text"}]}]
TEXT = {"template": "Hi {{ name }}", "parameters": [{"name": "name"}], "metadata": {}, "tests": DEFINITIONS}
CHAT = {"kind": "chat", "messages": [{"role": "user", "content": "{{ q }}"}], "parameters": [{"name": "q"}],
        "config": {"model": "m"}, "metadata": {}, "tests": DEFINITIONS}


def body(sets, prompts, sequence=1, dependencies=(), **kw):
    """``sets``: {slug: (version, test summary or None, locks or None)}."""
    prompt_sets = []
    for slug, (version, tests, locks) in sets.items():
        entry = {"slug": slug, "version": version, "version_id": f"{slug}-{version}", "tests": tests}
        if locks:
            entry["locks"] = locks
        prompt_sets.append(entry)
    return bundles.make_body(project={"id": PROJECT, "slug": "p", "name": "P"}, sequence=sequence,
                             created_at="2026-12-03T00:00:00Z", prompt_sets=prompt_sets, prompts=prompts,
                             forge_key=PUBLIC, dependencies=dependencies, **kw)


def sealed(*args, **kw):
    return bundles.seal(body(*args, **kw), KEY)


def validator(version):
    import jsonschema

    name = {1: "bundle.schema.json", 2: "bundle-2.schema.json", 3: "bundle-3.schema.json"}[version]
    schema = json.loads(importlib.resources.files("anvil_client").joinpath(name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


# --- the format ---------------------------------------------------------------------------------------

def test_this_release_reads_formats_1_to_4_and_names_the_header_it_pulls_with():
    assert (bundles.FORMAT_VERSION, bundles.FORMAT_VERSIONS) == (4, (1, 2, 3, 4))
    assert bundles.FORMATS_HEADER == "X-Anvil-Bundle-Formats"


def test_a_v3_bundle_carries_each_tested_sets_summary_and_verifies():
    data = sealed({"emails": ("1.0.0", FIVE, None), "plain": ("2.0.0", None, None),
                   "support": ("1.2.0", FAILING, None)},
                  {"emails.welcome": TEXT, "plain.hi": {"template": "Hi", "parameters": []},
                   "support.reply": {"template": "Yo", "parameters": []}})
    assert data["format_version"] == 3
    entries = {s["slug"]: s for s in data["prompt_sets"]}
    assert entries["emails"] == {"slug": "emails", "version": "1.0.0", "version_id": "emails-1.0.0", "locks": {},
                                 "tests": FIVE}
    assert "tests" not in entries["plain"]  # present only for a version that has tests
    verified = bundles.verify(data, PUBLIC, project_id=PROJECT)
    assert verified.format_version == 3
    assert verified.tests == {"emails": FIVE, "support": FAILING}
    assert verified.versions == {"emails": "1.0.0", "plain": "2.0.0", "support": "1.2.0"}
    # Format 3 is format 2 with the summaries: prompts in format 2's shape, dependencies present.
    assert data["prompts"]["emails.welcome"]["kind"] == "text" and data["dependencies"] == []
    assert [e.message for e in validator(3).iter_errors(data)] == []


def test_a_summary_is_covered_by_the_checksum():
    data = sealed({"emails": ("1.0.0", FAILING, None)}, {"emails.welcome": TEXT})
    data["prompt_sets"][0]["tests"] = {"total": 4, "passed": 4, "failed": 0}
    with pytest.raises(bundles.ChecksumMismatch):
        bundles.verify(data, PUBLIC)


@pytest.mark.parametrize("tests", [
    {"total": 5, "passed": 5}, {"total": 5, "passed": 4, "failed": 0}, {"total": "5", "passed": 5, "failed": 0},
    {"total": 1, "passed": True, "failed": 0}, {"total": -1, "passed": 0, "failed": -1}, [5, 5, 0], "5/5",
    {"total": 5, "passed": 5, "failed": 0, "failing": []},
])
def test_a_malformed_summary_is_refused_by_name(tests):
    data = body({"emails": ("1.0.0", FIVE, None)}, {"emails.welcome": TEXT})
    data["prompt_sets"][0]["tests"] = tests
    with pytest.raises(bundles.MalformedBundle, match="prompt_sets tests"):
        bundles.verify(bundles.seal(data, KEY), PUBLIC)


def test_formats_1_and_2_are_still_read():
    one = sealed({"emails": ("1.0.0", None, None)}, {"emails.welcome": TEXT})
    two = sealed({"support": ("1.0.0", None, None)}, {"support.reply": CHAT})
    assert (one["format_version"], two["format_version"]) == (1, 2)
    assert bundles.verify(one, PUBLIC).tests == {} and bundles.verify(two, PUBLIC).tests == {}
    for data in (one, two):
        assert [e.message for e in validator(data["format_version"]).iter_errors(data)] == []


@pytest.mark.parametrize("tests, prompt, max_format, expected", [
    (None, TEXT, 3, 1),    # no summaries: the lowest format the content needs
    (None, CHAT, 3, 2),
    (FIVE, TEXT, 3, 3),    # a summary needs format 3 …
    (FIVE, CHAT, 3, 3),
    (FIVE, TEXT, 2, 1),    # … but a reader of 1 and 2 gets the content without it
    (FIVE, CHAT, 2, 2),
    (FIVE, TEXT, 1, 1),
    (FIVE, CHAT, 1, 2),    # content is never dropped: format 2 even for a reader of 1 (too old)
])
def test_the_lowest_format_holding_the_content_is_written(tests, prompt, max_format, expected):
    data = sealed({"s": ("1.0.0", tests, None)}, {"s.p": prompt}, max_format=max_format)
    assert data["format_version"] == expected
    assert ("tests" in data["prompt_sets"][0]) == (expected == 3)
    assert [e.message for e in validator(expected).iter_errors(data)] == []


@pytest.mark.parametrize("max_format", [1, 2, 3])
@pytest.mark.parametrize("prompt", [TEXT, CHAT], ids=["text", "chat"])
def test_test_definitions_are_never_shipped(prompt, max_format):
    """Snapshots carry a prompt's tests; no format carries them in ``prompts`` or ``dependencies``."""
    locks = {"common": "1.0.0"} if prompt is CHAT else None
    dependencies = [{"slug": "common", "version": "1.0.0", "locks": {}, "prompts": {"tone": TEXT}}] if locks else []
    data = sealed({"s": ("1.0.0", FIVE, locks)}, {"s.p": prompt}, dependencies=dependencies, max_format=max_format)
    raw = bundles.canonical(data).decode()
    assert "secret-case-name" not in raw and "secret-expected-text" not in raw
    assert all("tests" not in p for p in data["prompts"].values())
    assert all("tests" not in p for d in data.get("dependencies", []) for p in d["prompts"].values())
    if data["format_version"] == 3:  # the schema says so too
        leaked = json.loads(raw)
        leaked["prompts"]["s.p"]["tests"] = DEFINITIONS
        assert list(validator(3).iter_errors(leaked))


# --- the client ---------------------------------------------------------------------------------------

@pytest.fixture
def clean_env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray .anvil/client.json
    for name in ("ANVIL_FORGE_URL", "ANVIL_PROJECT", "ANVIL_ACCESS_TOKEN", "ANVIL_MODE", "ANVIL_CACHE_DIR",
                 "ANVIL_FORGE_PUBLIC_KEY", "ANVIL_CONFIG", "ANVIL_RECEIVER_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_the_client_pulls_naming_the_formats_it_reads_and_registers_them(clean_env):
    seen = []

    def forge(request):
        seen.append(request)
        return httpx.Response(200, content=bundles.canonical(sealed({"emails": ("1.0.0", FIVE, None)},
                                                                    {"emails.welcome": TEXT})))

    client = Client(forge_url=FORGE, project=PROJECT, access_token="t", cache_dir=clean_env / "c",
                    public_key=PUBLIC, background=False, transport=httpx.MockTransport(forge))
    client.sync()
    assert seen[0].headers["X-Anvil-Bundle-Formats"] == "1,2,3,4"
    assert client.describe()["bundle_formats"] == [1, 2, 3, 4]
    assert client.status()["tests"] == {"emails": FIVE}
    client.stop()


def test_status_shows_each_held_set_versions_summary_a_pinned_set_its_own(clean_env):
    client = Client(project=PROJECT, cache_dir=clean_env / "c", public_key=PUBLIC, background=False,
                    pins={"support": "^1.0"})
    client.apply(sealed({"emails": ("1.0.0", None, None), "support": ("1.2.0", FIVE, None)},
                        {"emails.welcome": TEXT, "support.reply": TEXT}))
    assert client.status()["tests"] == {"support": FIVE}
    # support 2.0.0 is outside the pin: the held 1.2.0 keeps its summary; emails gains one.
    client.apply(sealed({"emails": ("1.1.0", FAILING, None), "support": ("2.0.0", {"total": 1, "passed": 0,
                                                                                   "failed": 1}, None)},
                        {"emails.welcome": TEXT, "support.reply": TEXT}, sequence=2))
    status = client.status()
    assert status["versions"] == {"emails": "1.1.0", "support": "1.2.0"}
    assert status["tests"] == {"emails": FAILING, "support": FIVE}
    # A restart serves the same from the cache.
    again = Client(project=PROJECT, cache_dir=clean_env / "c", public_key=PUBLIC, background=False,
                   pins={"support": "^1.0"})
    assert again.status()["tests"] == status["tests"]


def test_anvil_client_status_prints_the_summaries_and_json_holds_them(clean_env, capsys):
    cache = clean_env / "c"
    client = Client(project=PROJECT, cache_dir=cache, public_key=PUBLIC, background=False)
    client.apply(sealed({"emails": ("1.0.0", FAILING, None), "plain": ("1.0.0", None, None),
                         "support": ("1.2.0", FIVE, None)},
                        {"emails.welcome": TEXT, "plain.hi": TEXT, "support.reply": TEXT}))
    flags = ["--cache-dir", str(cache), "--project", PROJECT, "--public-key", PUBLIC]
    assert cli.main(["status", *flags]) == 0
    lines = {line.split(None, 1)[0]: line.split(None, 1)[1] for line in capsys.readouterr().out.splitlines()}
    assert lines["tests"] == "emails@1.0.0 3/4 passed (1 failed), support@1.2.0 5/5 passed"
    assert cli.main(["status", "--json", *flags]) == 0
    assert json.loads(capsys.readouterr().out)["tests"] == {"emails": FAILING, "support": FIVE}


def test_status_without_summaries_says_so(clean_env, capsys):
    cache = clean_env / "c"
    Client(project=PROJECT, cache_dir=cache, public_key=PUBLIC, background=False).apply(
        sealed({"emails": ("1.0.0", None, None)}, {"emails.welcome": TEXT}))
    assert cli.main(["status", "--cache-dir", str(cache), "--project", PROJECT, "--public-key", PUBLIC]) == 0
    assert any(line.split() == ["tests", "–"] for line in capsys.readouterr().out.splitlines())
