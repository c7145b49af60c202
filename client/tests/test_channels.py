"""Channels and staged rollouts (bundle format 4, docs/bundle-format.md#format-4): the channel and the sets'
digests in the bundle, the channel/labels/instance_id settings, the pull's channel header and the FORGE's
409, the rollout fields of status(), and the channel-switch rule of applying bundles."""

import importlib.resources
import json

import httpx
import pytest

from anvil_client import ConfigurationError, SyncError, cli
from anvil_client import bundle as bundles
from anvil_client.client import Client
from anvil_client.receiver import Receiver

from .helpers import PROJECT, make_bundle

KEY = bundles.generate_private_key()
PUBLIC = bundles.public_key_text(KEY)
FORGE = "https://forge.example.com"
BUNDLE_PATH = f"/api/v1/projects/{PROJECT}/current_bundle"
REGISTER_PATH = f"/api/v1/projects/{PROJECT}/live_instances"
EVENTS_PATH = f"/api/v1/projects/{PROJECT}/events"
ENV = ("ANVIL_FORGE_URL", "ANVIL_PROJECT", "ANVIL_ACCESS_TOKEN", "ANVIL_MODE", "ANVIL_CACHE_DIR",
       "ANVIL_FORGE_PUBLIC_KEY", "ANVIL_CONFIG", "ANVIL_RECEIVER_URL", "ANVIL_CHANNEL", "ANVIL_LABELS",
       "ANVIL_INSTANCE_ID")
TEXT = {"template": "Hello {{ name }}!", "parameters": [{"name": "name"}], "metadata": {}}


def body(sequence=1, sets=None, channel="production", max_format=bundles.FORMAT_VERSION, dependencies=()):
    """``sets``: {slug: (version, {prompt slug: template}, extra set members)}; the default one set."""
    sets = sets if sets is not None else {"emails": ("1.0.0", {"welcome": "Hello {{ name }}!"}, {})}
    prompt_sets, prompts = [], {}
    for slug, (version, items, extra) in sets.items():
        prompt_sets.append({"slug": slug, "version": version, "version_id": f"{slug}-{version}", **extra})
        for pslug, template in items.items():
            prompts[f"{slug}.{pslug}"] = {**TEXT, "template": template}
    return bundles.make_body(project={"id": PROJECT, "slug": "support", "name": "Support"}, sequence=sequence,
                             created_at="2026-12-06T00:00:00Z", prompt_sets=prompt_sets, prompts=prompts,
                             forge_key=PUBLIC, channel=channel, max_format=max_format, dependencies=dependencies)


def sealed(*args, **kw):
    return bundles.seal(body(*args, **kw), KEY)


def emails(version, template="Hello {{ name }}!"):
    return {"emails": (version, {"welcome": template}, {})}


@pytest.fixture
def clean(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray .anvil/client.json
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    return tmp_path


class Forge:
    """A scripted FORGE: (method, path) → a response or a function of the request; requests are kept."""

    def __init__(self, routes=None):
        self.routes = routes or {}
        self.requests: list[httpx.Request] = []

    def __call__(self, request):
        self.requests.append(request)
        answer = self.routes.get((request.method, request.url.path), httpx.Response(404))
        return answer(request) if callable(answer) else answer


@pytest.fixture
def make_client(clean):
    clients = []

    def make(forge=None, **kw):
        kw.setdefault("cache_dir", clean / "cache")
        kw.setdefault("public_key", PUBLIC)
        client = Client(forge_url=FORGE, project=PROJECT, access_token="t", background=False,
                        transport=httpx.MockTransport(forge or Forge()), **kw)
        clients.append(client)
        return client
    yield make
    for client in clients:
        client.stop()


def served(data, **headers):
    return httpx.Response(200, content=bundles.canonical(data), headers=headers)


# --- the format -------------------------------------------------------------------------------------------

def schema_4():
    import jsonschema

    schema = json.loads(importlib.resources.files("anvil_client").joinpath("bundle-4.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def test_a_format_4_bundle_round_trips_with_its_channel_and_each_sets_digest():
    five = {"total": 5, "passed": 5, "failed": 0}
    data = sealed(3, {"common": ("1.0.0", {"tone": "Be kind."}, {}),
                      "emails": ("1.2.0", {"welcome": "Hi {{ name }}", "bye": "Bye"},
                                 {"locks": {"common": "1.0.0"}, "tests": five})}, channel="staging")
    assert (data["format_version"], data["channel"]) == (4, "staging")
    assert [e.message for e in schema_4().iter_errors(data)] == []
    verified = bundles.verify(data, PUBLIC, project_id=PROJECT, channel="staging")
    assert (verified.format_version, verified.channel, verified.sequence) == (4, "staging", 3)
    prompts = data["prompts"]
    assert verified.digests == {
        "common": bundles.set_digest({"tone": prompts["common.tone"]}, {}),
        "emails": bundles.set_digest({"welcome": prompts["emails.welcome"], "bye": prompts["emails.bye"]},
                                     {"common": "1.0.0"})}
    assert verified.digests["emails"] == "sha256:" + __import__("hashlib").sha256(bundles.canonical(
        {"prompts": {"welcome": prompts["emails.welcome"], "bye": prompts["emails.bye"]},
         "locks": {"common": "1.0.0"}})).hexdigest()
    # Format 3's test summaries and format 2's locks and dependencies are all still there.
    assert verified.tests == {"emails": five} and verified.locks["emails"] == {"common": "1.0.0"}
    assert data["dependencies"] == [] and prompts["emails.welcome"]["kind"] == "text"


def test_content_of_format_1_is_format_4_for_a_reader_of_4_and_unchanged_for_older_readers():
    assert body(channel="staging")["format_version"] == 4
    for max_format in (1, 2, 3):  # the channel and digests are informative: an older reader gets today's bundle
        assert body(channel="staging", max_format=max_format) == body(channel=None, max_format=max_format)
    assert body(channel=None)["format_version"] == 1 and "channel" not in body(channel=None)
    assert bundles.verify(sealed(channel=None), PUBLIC).channel is None
    assert bundles.verify(sealed(channel=None), PUBLIC).digests == {}


def test_the_schema_refuses_a_format_4_bundle_without_channel_or_with_members_it_does_not_know():
    data = sealed(channel="staging")
    validator = schema_4()
    assert list(validator.iter_errors({k: v for k, v in data.items() if k != "channel"}))
    assert list(validator.iter_errors({**data, "channel": "Staging"}))
    assert list(validator.iter_errors({**data, "cohort": "rollout"}))
    entry = {k: v for k, v in data["prompt_sets"][0].items() if k != "digest"}
    assert list(validator.iter_errors({**data, "prompt_sets": [entry]}))


def test_a_digest_that_does_not_match_its_sets_prompts_is_refused_naming_the_set():
    forged = body(channel="staging")
    forged["prompt_sets"][0]["digest"] = bundles.set_digest({"welcome": {"template": "other"}}, {})
    with pytest.raises(bundles.MalformedBundle, match="prompt set emails"):
        bundles.verify(bundles.seal(forged, KEY), PUBLIC)
    tampered = sealed(channel="staging")  # changed after sealing: the checksum catches it first
    tampered["prompts"]["emails.welcome"]["template"] = "Hacked"
    with pytest.raises(bundles.ChecksumMismatch):
        bundles.verify(tampered, PUBLIC)


@pytest.mark.parametrize("change", [
    lambda b: b.pop("channel"),
    lambda b: b.update(channel="Staging"),
    lambda b: b.update(channel="x" * 65),
    lambda b: b["prompt_sets"][0].pop("digest"),
    lambda b: b["prompt_sets"][0].update(digest="md5:abc"),
])
def test_a_format_4_bundle_of_the_wrong_shape_is_malformed(change):
    data = body(channel="staging")
    change(data)
    with pytest.raises(bundles.MalformedBundle):
        bundles.verify(bundles.seal(data, KEY), PUBLIC)


def test_a_bundle_of_another_channel_is_wrong_channel_and_older_formats_pass_any_channel():
    with pytest.raises(bundles.WrongChannel) as info:
        bundles.verify(sealed(channel="staging"), PUBLIC, channel="production")
    assert info.value.reason == "channel" and isinstance(info.value, bundles.BundleError)
    assert "staging" in info.value.message and "production" in info.value.message
    assert bundles.verify(sealed(channel="staging"), PUBLIC, channel="staging").channel == "staging"
    assert bundles.verify(make_bundle(KEY, 1), PUBLIC, channel="staging").format_version == 1


# --- settings ---------------------------------------------------------------------------------------------

def test_settings_come_from_the_environment(make_client, monkeypatch):
    monkeypatch.setenv("ANVIL_CHANNEL", "staging")
    monkeypatch.setenv("ANVIL_LABELS", "region=eu, tier=gold")
    monkeypatch.setenv("ANVIL_INSTANCE_ID", "web-1.eu:7")
    client = make_client()
    assert (client.channel, client.labels, client.instance_id) == ("staging", {"region": "eu", "tier": "gold"},
                                                                   "web-1.eu:7")
    described = client.describe()
    assert (described["channel"], described["labels"], described["instance_id"]) == (
        "staging", {"region": "eu", "tier": "gold"}, "web-1.eu:7")
    # Arguments win over the environment.
    other = make_client(channel="canary", labels={"region": "us"}, instance_id="web-2")
    assert (other.channel, other.labels, other.instance_id) == ("canary", {"region": "us"}, "web-2")


def test_settings_come_from_the_config_file_and_default_to_none(make_client, clean):
    default = make_client()
    assert (default.channel, default.labels, default.describe()["channel"]) == (None, {}, "")
    assert len(default.instance_id) == 36 and make_client().instance_id != default.instance_id  # fresh uuid4s
    (clean / ".anvil").mkdir()
    (clean / ".anvil" / "client.json").write_text(json.dumps(
        {"channel": "staging", "labels": {"region": "eu"}, "instance_id": "kept"}))
    client = make_client()
    assert (client.channel, client.labels, client.instance_id) == ("staging", {"region": "eu"}, "kept")
    assert make_client().instance_id == "kept"  # a restarted instance keeps its id, so its rollout cohort


@pytest.mark.parametrize("given, named", [
    ({"channel": "Staging"}, "channel"),
    ({"channel": "-staging"}, "channel"),
    ({"channel": "s" * 65}, "channel"),
    ({"labels": {f"k{i}": "v" for i in range(21)}}, "labels"),
    ({"labels": {"Region": "eu"}}, "labels"),
    ({"labels": {"_region": "eu"}}, "labels"),
    ({"labels": {"k" * 64: "eu"}}, "labels"),
    ({"labels": {"region": "e" * 129}}, "labels"),
    ({"labels": {"region": "eu\n"}}, "labels"),
    ({"labels": {"region": 1}}, "labels"),
    ({"labels": ["region=eu"]}, "labels"),
    ({"instance_id": ""}, "instance_id"),
    ({"instance_id": "web 1"}, "instance_id"),
    ({"instance_id": "w" * 65}, "instance_id"),
])
def test_bad_settings_are_configuration_errors_naming_the_setting(make_client, given, named):
    with pytest.raises(ConfigurationError, match=named):
        make_client(**given)


def test_the_limits_themselves_are_allowed(make_client):
    labels = {f"k{i}": "v" * 128 for i in range(19)} | {"a" + "b" * 62: "ü ok"}
    client = make_client(channel="c" * 64, labels=labels, instance_id="i" * 64)
    assert client.labels == labels


def test_a_malformed_labels_variable_names_it(make_client, monkeypatch):
    monkeypatch.setenv("ANVIL_LABELS", "region=eu,gold")
    with pytest.raises(ConfigurationError, match="ANVIL_LABELS"):
        make_client()


def test_connect_takes_channel_and_labels_and_writes_them(clean, tiny_forge):
    seen = []

    def answer(request):
        seen.append(request.headers.get("X-Anvil-Channel"))
        if request.path.endswith("/current_bundle"):
            return 200, bundles.canonical(sealed(1, channel="staging"))
        return 404

    url = tiny_forge(answer)
    code = cli.main(["connect", "--forge-url", url, "--project", PROJECT, "--token", "t", "--public-key", PUBLIC,
                     "--cache-dir", str(clean / "cache"), "--channel", "staging",
                     "--label", "region=eu", "--label", "tier=gold"])
    assert code == 0
    written = json.loads((clean / ".anvil" / "client.json").read_text())
    assert (written["channel"], written["labels"]) == ("staging", {"region": "eu", "tier": "gold"})
    assert seen[-1] == "staging"
    with pytest.raises(SystemExit):  # argparse refuses a flag without its value
        cli.main(["connect", "--channel"])
    assert cli.main(["connect", "--forge-url", url, "--project", PROJECT, "--token", "t", "--public-key", PUBLIC,
                     "--label", "region"]) == 1  # not KEY=VALUE: an error naming --label


# --- the protocol -----------------------------------------------------------------------------------------

def test_a_pull_names_the_configured_channel_and_only_then(make_client):
    forge = Forge({("GET", BUNDLE_PATH): served(sealed(1, channel="staging"))})
    make_client(forge, channel="staging").sync()
    assert forge.requests[-1].headers["X-Anvil-Channel"] == "staging"
    assert forge.requests[-1].headers["X-Anvil-Bundle-Formats"] == "1,2,3,4"
    make_client(forge, cache_dir="other-cache").sync()
    assert "X-Anvil-Channel" not in forge.requests[-1].headers


def test_a_409_is_a_channel_sync_error_with_the_forges_detail(make_client):
    detail = "this access token is bound to channel production, not staging"
    client = make_client(Forge({("GET", BUNDLE_PATH): httpx.Response(409, json={"detail": detail})}),
                         channel="staging")
    client.apply(sealed(1, channel="staging"))
    with pytest.raises(SyncError) as info:
        client.sync()
    assert (info.value.reason, info.value.message) == ("channel", detail)
    assert client.status()["last_error"] == detail and client.sequence == 1  # it keeps serving what it held
    client._remote._transport.handler = lambda request: httpx.Response(  # the API's error shape works too
        409, json={"error": {"type": "conflict", "message": "the token is of channel production"}})
    with pytest.raises(SyncError, match="the token is of channel production"):
        client.sync()


def test_status_keeps_the_channel_and_cohort_the_pull_answered_with(make_client):
    answers = iter([served(sealed(1, channel=None), **{"X-Anvil-Channel": "staging", "X-Anvil-Cohort": "rollout"}),
                    httpx.Response(304, headers={"X-Anvil-Cohort": "previous"})])
    client = make_client(Forge({("GET", BUNDLE_PATH): lambda request: next(answers)}))
    assert (client.status()["channel"], client.status()["cohort"], client.status()["release"]) == (None, None, None)
    client.sync()
    status = client.status()
    assert (status["channel"], status["cohort"]) == ("staging", "rollout")  # a format-1 bundle names none
    client.sync()
    assert client.status()["cohort"] == "previous"


def test_status_prefers_the_held_bundles_channel_then_the_forges_then_the_setting(make_client):
    client = make_client(channel="staging")
    assert client.status()["channel"] == "staging"
    client._remote.forge_channel = "canary"
    assert client.status()["channel"] == "canary"
    client.channel = None
    client.apply(sealed(1, channel="beta"))
    assert client.status()["channel"] == "beta"


def test_registration_sends_channel_and_labels_and_keeps_the_forges_answer(make_client):
    answers = iter([httpx.Response(200, json={"channel": "staging", "cohort": "rollout", "release": 7}),
                    httpx.Response(200, json={}),  # a FORGE of the previous release: nothing changes
                    httpx.Response(200, json={"cohort": "all", "release": None})])
    forge = Forge({("POST", REGISTER_PATH): lambda request: next(answers)})
    client = make_client(forge, channel="staging", labels={"region": "eu"}, instance_id="web-1")
    assert client.register() is True
    sent = json.loads(forge.requests[0].content)
    assert (sent["channel"], sent["labels"], sent["instance_id"]) == ("staging", {"region": "eu"}, "web-1")
    status = client.status()
    assert (status["channel"], status["cohort"], status["release"], status["labels"], status["instance_id"]) == (
        "staging", "rollout", 7, {"region": "eu"}, "web-1")
    assert client.register() is True
    assert (client.status()["cohort"], client.status()["release"]) == ("rollout", 7)
    assert client.register() is True
    assert (client.status()["cohort"], client.status()["release"]) == ("all", None)
    assert forge.requests[0].headers["X-Anvil-Instance"] == "web-1"


def test_a_publish_event_with_a_channel_pulls_a_newer_sequence(make_client):
    stream = b'event: publish\ndata: {"sequence": 2, "channel": "staging"}\n\n'
    forge = Forge({("GET", EVENTS_PATH): httpx.Response(200, content=stream,
                                                        headers={"Content-Type": "text/event-stream"}),
                   ("GET", BUNDLE_PATH): served(sealed(2, channel="staging")),
                   ("POST", REGISTER_PATH): httpx.Response(200, json={})})
    client = make_client(forge, channel="staging")
    client.apply(sealed(1, channel="staging"))
    client._background.listen()
    assert client.sequence == 2 and client.held().versions == {"emails": "1.0.0"}


def test_status_on_the_command_line_shows_the_rollout_fields(make_client, capsys, monkeypatch):
    monkeypatch.setenv("ANVIL_CHANNEL", "staging")
    monkeypatch.setenv("ANVIL_LABELS", "region=eu,tier=gold")
    monkeypatch.setenv("ANVIL_INSTANCE_ID", "web-1")
    assert cli.main(["status", "--cache-dir", "cache", "--project", PROJECT]) == 0
    lines = {line.split()[0]: line.split(None, 1)[1] for line in capsys.readouterr().out.splitlines()}
    assert (lines["channel"], lines["cohort"], lines["release"]) == ("staging", "–", "–")
    assert (lines["labels"], lines["instance_id"]) == ("region=eu, tier=gold", "web-1")


# --- applying bundles -------------------------------------------------------------------------------------

def test_a_pull_of_another_channel_switches_whatever_its_sequence(make_client):
    answers = iter([served(sealed(10, emails("1.0.0"), channel="production")),
                    served(sealed(2, emails("2.0.0", "Hey {{ name }}"), channel="staging")),
                    served(sealed(2, emails("2.0.0", "Hey {{ name }}"), channel="staging"))])
    client = make_client(Forge({("GET", BUNDLE_PATH): lambda request: next(answers)}))
    client.sync()
    result = client.sync()  # the token was moved to staging, which has its own sequence
    assert (result.applied, client.sequence, client.prompt("emails.welcome", name="A")) == (True, 2, "Hey A")
    assert client.status()["channel"] == "staging"
    assert client.sync().detail == "up to date"
    with pytest.raises(SyncError) as info:  # within the channel the sequence must rise
        client.apply(sealed(1, channel="staging"))
    assert info.value.reason == "stale"
    restarted = make_client()  # the cache holds the new channel's bundle only
    assert (restarted.sequence, restarted.status()["channel"], restarted.status()["source"]) == (2, "staging", "disk")


def test_the_same_sequence_on_another_channel_is_no_up_to_date(make_client):
    answers = iter([served(sealed(3, channel="production")), served(sealed(3, emails("1.1.0"), channel="staging"))])
    client = make_client(Forge({("GET", BUNDLE_PATH): lambda request: next(answers)}))
    client.sync()
    assert client.sync().applied is True and client.held().versions == {"emails": "1.1.0"}


def test_the_first_pull_from_an_upgraded_forge_of_the_held_sequence_is_up_to_date(make_client):
    client = make_client(Forge({("GET", BUNDLE_PATH): served(sealed(3, channel="production"))}))
    client.apply(make_bundle(KEY, 3))  # from the FORGE before its upgrade: the same release, format 1
    assert client.sync().detail == "up to date" and client.status()["last_error"] is None


def test_make_body_refuses_a_channel_no_client_would_take():
    with pytest.raises(ValueError, match="Staging"):
        body(channel="Staging")


def test_a_held_bundle_of_a_forge_without_channels_is_the_default_channels(make_client):
    client = make_client()
    client.apply(make_bundle(KEY, 10))  # format 1: the previous release's FORGE
    with pytest.raises(SyncError) as info:
        client.apply(sealed(2, channel="production"))
    assert info.value.reason == "stale"
    assert client.apply(sealed(2, emails("3.0.0"), channel="staging")).applied is True
    assert client.held().versions == {"emails": "3.0.0"}


def test_a_configured_channel_refuses_any_other(make_client):
    client = make_client(Forge({("GET", BUNDLE_PATH): served(sealed(5, channel="staging"))}), channel="production")
    client.apply(sealed(1, channel="production"))
    with pytest.raises(SyncError) as info:
        client.sync()
    assert info.value.reason == "channel" and client.sequence == 1
    assert client.apply(make_bundle(KEY, 2)).applied is True  # below format 4: no channel to refuse


def test_a_cache_of_another_channel_than_the_configured_one_is_not_served(make_client):
    make_client().apply(sealed(4, channel="staging"))
    assert make_client(channel="staging").sequence == 4
    refused = make_client(channel="production")
    assert refused.sequence is None and "channel" in refused.status()["last_error"]


def test_a_push_of_another_channel_is_refused(make_client):
    client = make_client()
    client.apply(sealed(5, channel="production"))
    receiver = Receiver(client, "s3cret")
    status, answer = receiver.handle("Bearer s3cret", bundles.canonical(sealed(9, emails("2.0.0"),
                                                                               channel="staging")))
    assert (status, answer["reason"], answer["sequence"]) == (422, "channel", 5)
    assert "staging" in answer["error"] and "production" in answer["error"]
    status, answer = receiver.handle("Bearer s3cret", bundles.canonical(sealed(6, channel="production")))
    assert (status, answer["sequence"]) == (200, 6)
    assert client.status()["source"] == "forge"


def test_a_pinned_set_stays_on_its_pin_within_a_channel(make_client):
    client = make_client(pins={"emails": "^1.0"})
    client.apply(sealed(1, {**emails("1.2.0"), "faq": ("1.0.0", {"q": "Q1"}, {})}, channel="staging"))
    client.apply(sealed(2, {**emails("2.0.0", "Moved {{ name }}"), "faq": ("1.1.0", {"q": "Q2"}, {})},
                        channel="staging"))
    assert client.held().versions == {"emails": "1.2.0", "faq": "1.1.0"}
    assert client.prompt("emails.welcome", name="A") == "Hello A!" and client.prompt("faq.q", name="x") == "Q2"
    restarted = make_client(pins={"emails": "^1.0"})
    assert restarted.held().versions == {"emails": "1.2.0", "faq": "1.1.0"}


def test_a_frozen_client_applies_nothing_of_its_channel(make_client):
    forge = Forge({("GET", BUNDLE_PATH): served(sealed(2, emails("2.0.0"), channel="staging"))})
    client = make_client(forge, channel="staging")
    client.apply(sealed(1, channel="staging"))
    client.set_mode("frozen")
    with pytest.raises(SyncError) as info:
        client.sync(force=False)  # what the background pull does
    assert info.value.reason == "frozen"
    status, _ = Receiver(client, "s").handle("Bearer s", bundles.canonical(sealed(3, channel="staging")))
    assert status == 409 and client.held().versions == {"emails": "1.0.0"} and client.sequence == 1
    assert client.sync().applied is True and client.sequence == 2  # an explicit sync still does
