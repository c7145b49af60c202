"""The release commands for scripts and CI pipelines (publish, promote, rollout, rollback, channels,
requests): thin adapters over the distribution services, one parseable line per result or --json, the acting
user from --as, the services' refusals as CommandError naming the problem."""

import io
import json
import re

import pytest
from django.core.management import CommandError, call_command

from anvil_forge.distribution import queries as dist_queries
from anvil_forge.distribution import services as dist
from anvil_forge.prompts import services as prompts
from ..release_support import new_version

pytestmark = pytest.mark.usefixtures("own_data_dir", "mailbox")

ADMIN, OWNER, MEMBER = "admin@example.com", "owner@example.com", "member@example.com"


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def run_json(*args):
    return json.loads(run(*args, "--json"))


def refused(*args, match: str) -> CommandError:
    with pytest.raises(CommandError, match=match) as caught:
        run(*args)
    return caught.value


def register(world, *ids, channel=None, labels=None):
    """LIVE instances of the project, each with a receiver (so a release queues a push to it)."""
    token, _ = dist.create_access_token(world.admin, world.project, "ci", channel)
    for instance_id in ids:
        dist.register_instance(token, {"instance_id": instance_id, "mode": "accepting", "host": f"{instance_id}.lan",
                                       "labels": (labels or {}).get(instance_id, {}),
                                       "receiver_url": f"http://127.0.0.1:9/{instance_id}",
                                       "receiver_secret": "s3cret-s3cret-s3cret"})


# --- publish ------------------------------------------------------------------------------------------

def test_publish_prints_one_line_and_releases_as_the_acting_user(locked):
    register(locked, "web-1", "web-2")
    line = run("publish", "acme/support", "emails", "--as", ADMIN)
    assert line == "published emails 1.0.0 to production: sequence 1, everyone, 2 pushes queued\n"
    publication = dist_queries.channels.head(dist_queries.channel(locked.admin, locked.project, "production"))
    assert publication.published_by == locked.admin
    again = run("publish", str(locked.project.pk), "emails", "--version", "1.0.0", "--as", ADMIN)
    assert again == "unchanged: production already holds emails 1.0.0 (sequence 1)\n"


def test_publish_json_describes_the_release(locked):
    dist.create_channel(locked.admin, locked.project, "staging")
    data = run_json("publish", "acme/support", "emails", "--channel", "staging", "--as", OWNER)
    assert (data["status"], data["project"], data["channel"], data["sequence"]) == (
        "released", "acme/support", "staging", 1)
    assert data["release"]["everyone"] and data["release"]["published_by"] == OWNER
    assert [(s["slug"], s["version"]) for s in data["release"]["sets"]] == [("emails", "1.0.0")]
    assert data["release"]["sets"][0]["digest"].startswith("sha256:") and data["request"] is None


# --- staged rollouts: publish to part of the channel, watch, widen, roll back -----------------------------

def test_a_staged_rollout_from_the_command_line(locked):
    register(locked, "web-1", "web-2", "web-3", labels={"web-1": {"region": "eu"}, "web-2": {"region": "us"}})
    run("publish", "acme/support", "emails", "--as", ADMIN)
    new_version(locked, "1.1.0", "Hi {{ name }}!")
    line = run("publish", "acme/support", "emails", "--percentage", "0", "--instance", "web-1", "--as", ADMIN)
    assert line == "published emails 1.1.0 to production: sequence 2, 1 named instance, 1 push queued\n"
    status = run("rollout", "acme/support", "--channel", "production", "--status").splitlines()
    assert status[0].startswith("production sequence 2: rollout in progress to 1 named instance (others keep "
                                "sequence 1); 3 instances, 1 in cohort")
    rows = {row.split("\t")[0]: row.split("\t") for row in status[1:]}
    assert rows["instance=web-1"][1:3] == ["host=web-1.lan", "cohort=rollout"]
    assert "should_hold=2" in rows["instance=web-1"] and "should_hold=1" in rows["instance=web-2"]
    assert rows["instance=web-3"][2] == "cohort=previous"
    progress = run_json("rollout", "acme/support", "--status", "--as", MEMBER)  # a member may look
    assert progress["rollout_in_progress"] and progress["counts"]["in_cohort"] == 1
    assert {r["instance_id"]: r["cohort"] for r in progress["instances"]}["web-1"] == "rollout"
    widened = run("rollout", "acme/support", "--instance", "web-2", "--as", ADMIN)
    assert widened == "expanded production sequence 2: 2 named instances, 1 push queued\n"
    everyone = run_json("rollout", "acme/support", "--everyone", "--as", OWNER)
    assert everyone["release"]["everyone"] and everyone["pushes_queued"] == 1 and everyone["sequence"] == 2
    back = run("rollback", "acme/support", "--as", ADMIN)
    assert back == "rolled back production: sequence 3 restores sequence 1, everyone, 3 pushes queued\n"
    assert dist_queries.published_version_of(locked.pset).label == "1.0.0"


def test_a_rollout_by_percentage_and_labels_only_grows(locked):
    run("publish", "acme/support", "emails", "--as", ADMIN)
    new_version(locked, "1.1.0", "Hi {{ name }}!")
    line = run("publish", "acme/support", "emails", "--percentage", "25", "--label", "region=eu", "--as", ADMIN)
    assert line.startswith("published emails 1.1.0 to production: sequence 2, 25 % of instances with region=eu,")
    assert run("rollout", "acme/support", "--percentage", "50", "--as", ADMIN).startswith(
        "expanded production sequence 2: 50 % of instances with region=eu,")
    refused("rollout", "acme/support", "--percentage", "10", "--as", ADMIN, match="a rollout only grows")
    assert run("rollout", "acme/support", "--no-labels", "--as", ADMIN).startswith(
        "expanded production sequence 2: 50 % of instances,")
    refused("publish", "acme/support", "emails", "--version", "1.0.0", "--as", ADMIN,
            match="has a rollout of sequence 2 in progress")


# --- promote ------------------------------------------------------------------------------------------

def test_promote_releases_what_the_source_holds(locked):
    run("channels", "acme/support", "create", "staging", "--description", "before production", "--as", ADMIN)
    run("publish", "acme/support", "emails", "--channel", "staging", "--as", ADMIN)
    line = run("promote", "acme/support", "--from", "staging", "--to", "production", "--as", ADMIN)
    assert line == "promoted staging to production: sequence 1, everyone, 0 pushes queued\n"
    assert dist_queries.published_version_of(locked.pset).label == "1.0.0"
    again = run_json("promote", "acme/support", "--from", "staging", "--to", "production", "--as", ADMIN)
    assert (again["status"], again["changed"], again["sequence"]) == ("unchanged", False, 1)
    refused("promote", "acme/support", "--from", "production", "--to", "production", "--as", ADMIN,
            match="cannot be promoted to itself")


# --- channels -----------------------------------------------------------------------------------------

def test_channels_create_and_list(locked):
    made = run("channels", "acme/support", "create", "canary", "--requires-approval", "--as", OWNER)
    assert made == "created channel canary of acme/support (requires approval)\n"
    run("publish", "acme/support", "emails", "--as", ADMIN)
    lines = run("channels", "acme/support", "list").splitlines()
    assert lines == ["production\tsequence 1\teveryone\t-\t-", "canary\tsequence 0\tno release\trequires approval\t-"]
    listed = run_json("channels", "acme/support", "list", "--as", MEMBER)
    assert [(c["name"], c["sequence"], c["requires_approval"]) for c in listed] == [
        ("production", 1, False), ("canary", 0, True)]
    refused("channels", "acme/support", "create", "canary", "--as", OWNER, match="already has a channel 'canary'")


def test_channel_definitions_round_trip_to_another_project(locked, tmp_path):
    run("channels", "acme/support", "create", "staging", "--description", "QA first", "--as", ADMIN)
    run("channels", "acme/support", "create", "canary", "--requires-approval", "--as", ADMIN)
    billing = prompts.create_project(locked.owner, locked.org, "Billing", "billing")
    path = tmp_path / "channels.json"
    run("channels", "acme/support", "export", "-o", str(path), "--as", ADMIN)
    exported = json.loads(path.read_text())
    assert exported["format"] == "anvil-channels" and len(exported["channels"]) == 3
    line = run("channels", "acme/billing", "import", str(path), "--as", ADMIN)
    assert line == ("imported 3 channel definition(s) into acme/billing: canary (created), production (unchanged), "
                    "staging (created)\n")
    copied = dist_queries.channel_definitions(locked.admin, billing)
    assert copied["channels"] == exported["channels"] and copied["project"] == "billing"
    assert json.loads(run("channels", "acme/billing", "export")) == {**exported, "project": "billing"}
    again = run_json("channels", "acme/billing", "import", str(path), "--as", ADMIN)
    assert {c["name"]: c["outcome"] for c in again["channels"]} == {
        "canary": "unchanged", "production": "unchanged", "staging": "unchanged"}


def test_an_import_of_a_bad_document_names_the_problem(locked, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "anvil-channels", "format_version": 1,
                               "channels": [{"name": "Not A Name"}]}))
    refused("channels", "acme/support", "import", str(bad), "--as", ADMIN, match=r"channels\[0\]\.name must be")
    bad.write_text("{not json")
    refused("channels", "acme/support", "import", str(bad), "--as", ADMIN, match="is not JSON")


# --- four-eyes approval --------------------------------------------------------------------------------

@pytest.fixture
def guarded(locked):
    """Production requires approval."""
    dist.update_channel(locked.owner, dist_queries.channel(locked.owner, locked.project, "production"),
                        requires_approval=True)
    return locked


def request_id(line: str) -> str:
    return re.search(r"request (\S+)", line).group(1)


def test_a_pending_publish_is_success_that_says_so_and_the_requester_cannot_approve_it(guarded):
    line = run("publish", "acme/support", "emails", "--as", ADMIN)
    assert re.fullmatch(r"waiting for approval: request \S+ \(expires \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\): "
                        r"Emails 1\.0\.0 to production\n", line)
    pk = request_id(line)
    assert dist_queries.current_sequence(guarded.project) == 0
    listed = run("requests", "acme/support", "list", "--state", "pending").splitlines()
    assert [row.split("\t")[:5] for row in listed] == [[pk, "pending", "production", "Emails 1.0.0", ADMIN]]
    error = refused("requests", "approve", pk, "--as", ADMIN, match="another owner or admin must approve it")
    assert error.returncode == 1
    refused("requests", "approve", pk, "--as", MEMBER, match=r"your role \(member\) may not")
    assert dist_queries.current_sequence(guarded.project) == 0
    approved = run("requests", "approve", pk, "--as", OWNER)
    assert approved == f"approved request {pk}: published emails 1.0.0 to production: sequence 1, everyone, " \
                       f"0 pushes queued\n"
    publication = dist_queries.channels.head(dist_queries.channel(guarded.owner, guarded.project, "production"))
    assert (publication.published_by, publication.approved_by) == (guarded.admin, guarded.owner)
    refused("requests", "approve", pk, "--as", OWNER, match="this publish request is approved")
    [done] = run_json("requests", "acme/support", "list", "--as", MEMBER)
    assert (done["state"], done["decided_by"], done["sequence"]) == ("approved", OWNER, 1)


def test_a_pending_promote_json_then_rejected_and_a_cancelled_request(guarded):
    dist.create_channel(guarded.admin, guarded.project, "staging")
    run("publish", "acme/support", "emails", "--channel", "staging", "--as", ADMIN)
    data = run_json("promote", "acme/support", "--from", "staging", "--to", "production", "--as", OWNER)
    assert (data["status"], data["changed"], data["release"]) == ("pending", False, None)
    assert data["request"]["what"] == "what staging holds" and data["request"]["requested_by"] == OWNER
    rejected = run("requests", "reject", data["request"]["id"], "--as", ADMIN)
    assert rejected == f"rejected request {data['request']['id']}: what staging holds to production\n"
    again = request_id(run("publish", "acme/support", "emails", "--as", ADMIN))
    cancelled = run_json("requests", "cancel", again, "--as", ADMIN)
    assert (cancelled["state"], cancelled["decided_by"]) == ("cancelled", ADMIN)
    assert run("requests", "acme/support", "list", "--state", "pending") == ""
    assert dist_queries.current_sequence(guarded.project) == 0


# --- refusals and bad arguments ----------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["publish", "acme/support", "emails"],
    ["rollback", "acme/support"],
    ["channels", "acme/support", "create", "canary"],
    ["promote", "acme/support", "--from", "production", "--to", "staging"],
])
def test_a_member_is_refused(locked, args):
    dist.create_channel(locked.admin, locked.project, "staging")
    dist.publish(locked.admin, locked.pset)
    refused(*args, "--as", MEMBER, match=r"your role \(member\) may not")
    assert dist_queries.current_sequence(dist_queries.channel(locked.admin, locked.project, "staging")) == 0


@pytest.mark.parametrize("args, message", [
    (["publish", "acme/support", "emails", "--channel", "nope"], r"project 'support' has no channel 'nope' \(its "
                                                                 r"channels: production"),
    (["publish", "acme/support", "emails", "--label", "Bad Key=x", "--percentage", "10"], "label name 'Bad Key'"),
    (["publish", "acme/support", "emails", "--label", "region"], "--label 'region': expected KEY=VALUE"),
    (["publish", "acme/support", "emails", "--percentage", "150"], "percentage must be a whole number from 0 to "
                                                                  "100"),
    (["publish", "acme/support", "emails", "--version", "9.9.9"], "has no version '9.9.9'"),
    (["publish", "acme/support", "nosuch"], "project acme/support has no prompt set 'nosuch'"),
    (["publish", "acme/elsewhere", "emails"], "no project acme/elsewhere that admin@example.com may see"),
    (["promote", "acme/support", "--from", "nope", "--to", "production"], "has no channel 'nope'"),
    (["rollout", "acme/support", "--channel", "nope", "--everyone"], "has no channel 'nope'"),
    (["rollout", "acme/support", "--percentage", "150"], "percentage must be a whole number"),
    (["rollback", "acme/support", "--channel", "nope"], "has no channel 'nope'"),
    (["channels", "acme/support", "create", "Bad Name"], "name must be 1-64 lower-case letters"),
    (["requests", "approve", "not-an-id"], "'not-an-id' is not a publish request id"),
    (["requests", "approve", "00000000-0000-7000-8000-000000000000"], "publish request not found"),
])
def test_bad_arguments_name_the_problem(locked, args, message):
    if args[0] == "rollout":  # a rollout in progress to widen
        dist.publish(locked.admin, locked.pset)
        new_version(locked, "1.1.0", "Hi {{ name }}!")
        dist.publish(locked.admin, locked.pset, rollout={"percentage": 10})
    refused(*args, "--as", ADMIN, match=message)


def test_nothing_to_roll_back_or_widen_is_refused(locked):
    refused("rollback", "acme/support", "--as", ADMIN, match="has no release to roll back")
    dist.publish(locked.admin, locked.pset)
    refused("rollout", "acme/support", "--everyone", "--as", ADMIN, match="has no rollout in progress")


@pytest.mark.parametrize("args, message", [
    (["publish", "acme/support", "emails"], "the following arguments are required: --as"),
    (["rollout", "acme/support", "--everyone"], "--as EMAIL is required to widen a rollout"),
    (["rollout", "acme/support", "--as", ADMIN], "say how to widen the rollout"),
    (["rollout", "acme/support", "--status", "--percentage", "50"], "--status only reads"),
    (["rollout", "acme/support", "--everyone", "--percentage", "50", "--as", ADMIN], "not both"),
    (["requests", "approve", "00000000-0000-7000-8000-000000000000"], "--as EMAIL is required to approve"),
    (["requests", "acme/support", "frobnicate"], "expected `requests ORG/PROJECT list"),
    (["requests", "acme/support", "list", "--state", "maybe"], "invalid choice: 'maybe'"),
    (["channels", "acme/support", "create", "canary"], "the following arguments are required: --as"),
    (["publish", "acme/support", "emails", "--as", "nobody@example.com"], "no active user with e-mail"),
])
def test_usage_errors(locked, args, message):
    error = refused(*args, match=message)
    if "required to" in message or "say how" in message or "only reads" in message or "not both" in message:
        assert error.returncode == 2  # as argparse's own usage errors, from the shell
