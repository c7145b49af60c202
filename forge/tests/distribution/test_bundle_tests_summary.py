"""Each published set version's test summary travels in the bundle (format 3) to the clients that read it,
and is left out for those that do not, so a set gaining tests never stops their updates; the LIVE
instances page shows the summaries of the current release (docs/bundle-format.md)."""

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from anvil_client import bundle as bundle_format
from anvil_client.client import Client
from anvil_client.receiver import make_server
from anvil_forge.distribution import bundles, fanout
from anvil_forge.distribution import queries as dist_queries
from anvil_forge.distribution.services import create_access_token, publish
from anvil_forge.prompts import services as prompts

from ..api_support import Api, fresh_rate_limits  # noqa: F401
from ..servers import start_server, stop

pytestmark = pytest.mark.usefixtures("own_data_dir")

REPO = Path(__file__).resolve().parents[3]
PREVIOUS_RELEASE = "2459621"  # anvil-client 0.2.0 as last committed before format 3: reads 1 and 2, no header
PASSING = [{"name": "greets by name", "variables": {"name": "Ada"}, "assert": [{"type": "contains", "value": "Ada"}]},
           {"name": "says bye", "variables": {"name": "Bo"}, "assert": [{"type": "contains", "value": "Bye"}]}]
FAILING = [*PASSING, {"name": "shouts", "variables": {"name": "Cy"}, "assert": [{"type": "contains", "value": "!!"}]}]
V3 = {"X-Anvil-Bundle-Formats": "1,2,3"}
PROJECT = "/o/acme/p/support/"  # the project page, with its LIVE instances


def browser(user):
    from django.test import Client as Browser

    signed_in = Browser()
    signed_in.force_login(user)
    return signed_in


@pytest.fixture(autouse=True)
def fresh_bundles():
    bundles._build.cache_clear()


def release(world, label="1.1.0", tests=PASSING, chat=False):
    """The world's set gains a prompt with ``tests`` (a chat one: content that needs format 2); versioned,
    LOCKED and published. Failing tests need the project's gate off to be locked at all."""
    if tests is FAILING:
        prompts.update_project(world.owner, world.project, tests_gate=False)
    if chat:
        prompts.create_prompt(world.owner, world.pset, "Farewell", "farewell", kind="chat",
                              messages=[{"role": "user", "content": "Bye {{ name }}."}],
                              parameters=[{"name": "name"}], tests=tests)
    else:
        prompts.create_prompt(world.owner, world.pset, "Farewell", "farewell", "Bye {{ name }}.",
                              [{"name": "name"}], tests=tests)
    version = prompts.create_version(world.owner, world.pset, label)
    prompts.change_status(world.member, world.pset, "review")
    prompts.change_status(world.admin, world.pset, "locked")
    publish(world.admin, world.pset, label)
    return version


def pull(world, token, **headers):
    response = Api(token).get(f"/projects/{world.project.pk}/current_bundle", **headers)
    assert response.status_code == 200, response.content
    return response


def no_definitions(data: dict) -> bool:
    raw = bundle_format.canonical(data).decode()
    return "greets by name" not in raw and all("tests" not in p for p in data["prompts"].values())


def test_a_version_records_its_tests_and_a_reader_of_format_3_gets_the_summary(world):
    version = release(world)
    assert version.test_results["total"] == 2 and version.snapshot["prompts"]["farewell"]["tests"]
    _, token = create_access_token(world.admin, world.project, "prod")
    response = pull(world, token, **V3)
    data = response.json()
    assert data["format_version"] == 3
    assert data["prompt_sets"] == [{"slug": "emails", "version": "1.1.0", "version_id": str(version.pk),
                                    "locks": {}, "tests": {"total": 2, "passed": 2, "failed": 0}}]
    assert no_definitions(data)  # the summary travels, the test definitions never do
    assert bundle_format.verify(data, dist_queries.public_key()).tests == {
        "emails": {"total": 2, "passed": 2, "failed": 0}}
    assert "X-Anvil-Bundle-Formats" in response["Vary"]


@pytest.mark.parametrize("chat, content_format", [(False, 1), (True, 2)])
def test_a_pull_without_the_header_gets_the_previous_releases_format_without_summaries(world, chat, content_format,
                                                                                       monkeypatch):
    release(world, chat=chat)
    _, token = create_access_token(world.admin, world.project, "prod")
    old = pull(world, token)
    data = old.json()
    assert data["format_version"] == content_format
    assert all("tests" not in s for s in data["prompt_sets"]) and no_definitions(data)
    assert old["ETag"] != pull(world, token, **V3)["ETag"]  # two readers, two bundles
    # A header naming only formats 1 and 2 is the same; one with nothing usable in it counts as absent.
    for header in ("1,2", " 2 , 1 ", "², x, -3", ""):
        assert pull(world, token, **{"X-Anvil-Bundle-Formats": header})["ETag"] == old["ETag"], header
    # What 0.2.0 reads (formats 1 and 2) verifies it.
    monkeypatch.setattr(bundle_format, "FORMAT_VERSIONS", (1, 2))
    assert bundle_format.verify(data, dist_queries.public_key()).versions == {"emails": "1.1.0"}


def test_an_instance_is_too_old_only_for_the_content_never_for_the_summaries(world):
    _, secret = create_access_token(world.admin, world.project, "prod")
    token = Api(secret)
    path = f"/projects/{world.project.pk}/live_instances"
    for name, formats in (("new", [1, 2, 3]), ("previous", [1, 2]), ("first", [])):
        assert token.post(path, {"instance_id": name, "mode": "accepting", "bundle_formats": formats}).status_code == 200
    release(world)  # text content (format 1) with tests (summaries: format 3)

    def listed():
        return {i.instance_id: (i.too_old, i.needs_format)
                for i in dist_queries.live_overview(world.admin, world.project)[0]}

    assert listed() == {"new": (False, 3), "previous": (False, 1), "first": (False, 1)}
    api = {i["instance_id"]: i["too_old"] for i in Api(client=browser(world.admin)).get(path).json()["data"]}
    assert api == {"new": False, "previous": False, "first": False}
    # Content that needs format 2: only the client of the first release is too old.
    prompts.change_status(world.admin, world.pset, "live")
    prompts.update_prompt(world.owner, world.prompt, config={"model": "gpt-4o-mini"})
    prompts.create_version(world.owner, world.pset, "1.2.0")
    prompts.change_status(world.member, world.pset, "review")
    prompts.change_status(world.admin, world.pset, "locked")
    publish(world.admin, world.pset, "1.2.0")
    assert listed() == {"new": (False, 3), "previous": (False, 2), "first": (True, 2)}


@pytest.fixture
def receivers(locked, tmp_path):
    """Real LIVE clients with receivers on loopback, registered saying the bundle formats given."""
    _, token = create_access_token(locked.admin, locked.project, "prod")
    servers = []

    def start(name, formats):
        client = Client(forge_url="http://127.0.0.1:9", project=str(locked.project.pk), access_token=token,
                        cache_dir=tmp_path / name, public_key=dist_queries.public_key(), background=False)
        server = make_server(client.receiver(), "127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        client.receiver_url = f"http://127.0.0.1:{server.server_address[1]}/anvil/receive"
        described = {**client.describe(), "bundle_formats": formats}
        assert Api(token).post(f"/projects/{locked.project.pk}/live_instances", described).status_code == 200
        return client

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_fan_out_pushes_each_instance_the_formats_it_registered(locked, receivers):
    new, previous = receivers("new", list(bundle_format.FORMAT_VERSIONS)), receivers("previous", [1, 2])
    prompts.change_status(locked.admin, locked.pset, "live")
    prompts.update_prompt(locked.owner, locked.prompt, tests=PASSING[:1])
    prompts.create_version(locked.owner, locked.pset, "1.1.0")
    prompts.change_status(locked.member, locked.pset, "review")
    prompts.change_status(locked.admin, locked.pset, "locked")
    result = publish(locked.admin, locked.pset, "1.1.0")
    assert fanout.send_publication(result.publication.pk) == 2
    assert (new.sequence, previous.sequence) == (1, 1)  # both take the update
    assert new._table.bundles[0].format_version == max(bundle_format.FORMAT_VERSIONS)  # 4: with the channel
    assert new.status()["tests"] == {"emails": {"total": 1, "passed": 1, "failed": 0}}
    assert previous._table.bundles[0].format_version == 1 and previous.status()["tests"] == {}
    assert all(no_definitions(c._table.bundles[0].data) for c in (new, previous))


def test_the_live_instances_page_shows_the_current_releases_summaries_failing_highlighted(world):
    release(world, tests=FAILING)
    assert dist_queries.release_tests(world.admin, world.project) == [
        {"slug": "emails", "version": "1.1.0", "tests": {"total": 3, "passed": 2, "failed": 1}}]
    page = browser(world.member).get(PROJECT).content.decode()
    assert "emails@1.1.0" in page
    shown = page.split('<span class="release-tests bad"', 1)[1].split("</span>", 1)[0]
    assert "tests 2/3 passed, 1 failing" in shown


def test_a_release_without_tests_shows_no_summary(locked):
    publish(locked.admin, locked.pset)
    assert dist_queries.release_tests(locked.admin, locked.project) == [
        {"slug": "emails", "version": "1.0.0", "tests": None}]
    page = browser(locked.member).get(PROJECT).content.decode()
    assert "emails@1.0.0" in page and "release-tests" not in page


# --- against the previous release, for real -------------------------------------------------------------

OLD_APP = """
import json, sys
import anvil_client
from anvil_client import Client, bundle
from anvil_client.errors import SyncError
client = Client(forge_url=sys.argv[1], project=sys.argv[2], access_token=sys.argv[3], cache_dir=sys.argv[4],
                public_key=sys.argv[5], background=False)
out = {"formats": list(bundle.FORMAT_VERSIONS)}
try:
    client.sync()
    out["sync"] = "applied"
except SyncError as exc:
    out["sync"] = exc.reason
out["sequence"] = client.sequence
out["farewell"] = client.prompt("emails.farewell", name="Ada")
print(json.dumps(out))
"""


def install_client(commit: str, target: Path) -> Path:
    """anvil-client as it was at ``commit``, from git history, installed into ``target``."""
    source = target / "source"
    source.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", commit, "client"], capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
    site = target / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(source / "client")], check=True, capture_output=True, timeout=300)
    return site


@pytest.mark.django_db(transaction=True)
def test_an_app_on_the_previous_release_keeps_updating_as_tested_versions_are_published(world, tmp_path):
    _, token = create_access_token(world.admin, world.project, "prod")
    server, url = start_server()
    site = install_client(PREVIOUS_RELEASE, tmp_path / "previous")
    project, public = str(world.project.pk), dist_queries.public_key()

    def old_app():
        run = subprocess.run([sys.executable, "-c", OLD_APP, url, project, token, str(tmp_path / "old"), public],
                             capture_output=True, text=True, timeout=60,
                             env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout)

    client = Client(forge_url=url, project=project, access_token=token, cache_dir=tmp_path / "new",
                    public_key=public, background=False)
    try:
        release(world)
        assert old_app() == {"formats": [1, 2], "sync": "applied", "sequence": 1, "farewell": "Bye Ada."}
        prompts.change_status(world.admin, world.pset, "live")
        prompts.update_prompt(world.owner, world.pset.prompts.get(slug="farewell"), template="Bye now, {{ name }}.")
        prompts.create_version(world.owner, world.pset, "1.2.0")
        prompts.change_status(world.member, world.pset, "review")
        prompts.change_status(world.admin, world.pset, "locked")
        publish(world.admin, world.pset, "1.2.0")
        assert old_app() == {"formats": [1, 2], "sync": "applied", "sequence": 2, "farewell": "Bye now, Ada."}
        client.sync()
        assert client.status()["tests"] == {"emails": {"total": 2, "passed": 2, "failed": 0}}
        assert client._table.bundles[0].format_version == 4  # the newest: with its channel and digests
    finally:
        client.stop()
        print(stop(server))
