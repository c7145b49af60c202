"""Staged rollouts: a release to part of a channel reaches exactly its cohort — by pull, push and stream —
the others keep the previous release; expand widens it (never shrinks), roll back restores for everyone."""

import json

import pytest

from anvil_client import bundle as bundle_format
from anvil_forge.core.errors import Conflict, ValidationError
from anvil_forge.distribution import channels, fanout
from anvil_forge.distribution import queries as dist_queries
from anvil_forge.distribution import services as dist
from anvil_forge.distribution.services import authenticate_access_token, register_instance

from ..api_support import Api
from ..receivers import start_receivers, stop_receivers
from ..release_support import new_version

pytestmark = pytest.mark.usefixtures("own_data_dir")
COUNT = 200
STREAMS = int(__import__("os").environ.get("STREAMS", COUNT))


def expected_cohort(release, ids, labels=None) -> set[str]:
    """The cohort as the rule says (channels.py), computed here from the hash itself."""
    return {i for i in ids if i in release.instance_ids or (
        all((labels or {}).get(i, {}).get(k) == v for k, v in release.labels.items())
        and channels.bucket(str(release.pk), i) < release.percentage * 100)}


@pytest.fixture
def rolled(locked, settings):
    """v1 (1.0.0) published to everyone, then 1.1.0 to 10 % of production; 200 registered instances."""
    settings.ANVIL_API_RATE_LIMIT = "100000/minute"
    _, secret = dist.create_access_token(locked.admin, locked.project, "prod")
    token = authenticate_access_token(secret)
    ids = [f"pod-{n:03}" for n in range(COUNT)]
    for instance_id in ids:
        register_instance(token, {"instance_id": instance_id, "mode": "accepting", "sequence": None})
    dist.publish(locked.admin, locked.pset)
    new_version(locked, "1.1.0", "Hi {{ name }}, welcome back!")
    result = dist.publish(locked.admin, locked.pset, rollout={"percentage": 10})
    locked.secret, locked.token, locked.ids, locked.release = secret, token, ids, result.publication
    locked.production = result.channel
    return locked


def pulled(world, instance_id=None) -> tuple[int, str]:
    headers = {bundle_format.FORMATS_HEADER: "1,2,3,4"}
    if instance_id:
        headers["X-Anvil-Instance"] = instance_id
    answer = Api(world.secret).get(f"/projects/{world.project.pk}/current_bundle", **headers)
    assert answer.status_code == 200
    return json.loads(answer.content)["sequence"], answer["X-Anvil-Cohort"]


def test_a_10_percent_rollout_over_200_instances_reaches_its_cohort_by_pull(rolled):
    served = {i: pulled(rolled, i) for i in rolled.ids}
    cohort = {i for i, (sequence, _) in served.items() if sequence == 2}
    assert cohort == expected_cohort(rolled.release, rolled.ids)
    assert 20 - 12 <= len(cohort) <= 20 + 12  # 10 % of 200, within three standard deviations of the hash
    assert all(served[i] == (1, "previous") for i in set(rolled.ids) - cohort)
    assert all(served[i][1] == "rollout" for i in cohort)
    assert pulled(rolled) == (1, "previous")  # a pull naming no instance cannot be placed: the previous one
    # Stable: the same instance is placed the same way every time.
    assert {i for i in rolled.ids if pulled(rolled, i)[0] == 2} == cohort
    progress = dist_queries.rollout_progress(rolled.admin, rolled.project, "production")
    assert progress["partial"] and progress["counts"]["in_cohort"] == len(cohort)
    assert progress["targets"] == "10 % of instances"


def test_expand_widens_the_cohort_keeping_everyone_it_had_and_never_shrinks(rolled):
    before = expected_cohort(rolled.release, rolled.ids)
    with pytest.raises(Conflict, match="a rollout only grows"):
        dist.expand_rollout(rolled.admin, rolled.production, {"percentage": 5})
    dist.expand_rollout(rolled.admin, rolled.production, {"percentage": 50})
    rolled.release.refresh_from_db()
    after = {i for i in rolled.ids if pulled(rolled, i)[0] == 2}
    assert before <= after and after == expected_cohort(rolled.release, rolled.ids)
    assert 100 - 30 <= len(after) <= 100 + 30
    dist.expand_rollout(rolled.admin, rolled.production, {"everyone": True})
    assert {pulled(rolled, i) for i in rolled.ids} == {(2, "all")}
    with pytest.raises(Conflict, match="no rollout in progress"):
        dist.expand_rollout(rolled.admin, rolled.production, {"percentage": 100})


def test_roll_back_restores_the_previous_content_for_everyone_in_a_new_release(rolled):
    result = dist.rollback(rolled.admin, rolled.production)
    assert result.sequence == 3 and result.publication.restores_sequence == 1
    assert {pulled(rolled, i) for i in rolled.ids} == {(3, "all")}
    bundle = dist_queries.current_bundle(rolled.production)
    assert bundle["prompt_sets"][0]["version"] == "1.0.0"
    assert bundle["prompts"]["emails.welcome"]["template"] == "Hello {{ name }}!"
    again = dist.rollback(rolled.admin, rolled.production)  # undoing the roll back: 1.1.0 again
    assert again.sequence == 4 and dist_queries.current_bundle(rolled.production)["prompt_sets"][0][
        "version"] == "1.1.0"


def test_rollout_rules_refuse_with_a_reason(rolled):
    with pytest.raises(Conflict, match="rollout of sequence 2 in progress"):
        dist.publish(rolled.admin, rolled.pset, "1.0.0")
    dist.create_channel(rolled.admin, rolled.project, "staging")
    with pytest.raises(Conflict, match="rollout of sequence 2 in progress"):
        dist.promote(rolled.admin, dist_queries.channel(rolled.admin, rolled.project, "staging"), "production")
    with pytest.raises(Conflict, match="first one goes to everyone"):
        dist.publish(rolled.admin, rolled.pset, channel="staging", rollout={"percentage": 10})
    for bad, field in (({"percentage": 150}, "percentage"), ({"percentage": 0}, "percentage"),
                       ({"labels": {"Bad Key": "x"}}, "labels"), ({"instance_ids": "pod-1"}, "instance_ids")):
        with pytest.raises(ValidationError) as refused:
            dist.publish(rolled.admin, rolled.pset, channel="staging", rollout=bad)
        assert refused.value.details[0]["field"] == field
    with pytest.raises(Conflict, match="first release of channel 'staging'"):
        dist.publish(rolled.admin, rolled.pset, channel="staging")
        dist.rollback(rolled.admin, dist_queries.channel(rolled.admin, rolled.project, "staging"))


def test_labels_and_named_instances_choose_the_cohort(locked, settings):
    _, secret = dist.create_access_token(locked.admin, locked.project, "prod")
    token = authenticate_access_token(secret)
    labels = {"eu-1": {"region": "eu"}, "eu-2": {"region": "eu", "tier": "gold"}, "us-1": {"region": "us"},
              "us-2": {"region": "us"}}
    for instance_id, declared in labels.items():
        register_instance(token, {"instance_id": instance_id, "mode": "accepting", "labels": declared})
    dist.publish(locked.admin, locked.pset)
    new_version(locked, "1.1.0", "Hi {{ name }}!")
    dist.publish(locked.admin, locked.pset, rollout={"labels": {"region": "eu"}, "instance_ids": ["us-2"]})
    locked.secret = secret
    assert {i: pulled(locked, i)[0] for i in labels} == {"eu-1": 2, "eu-2": 2, "us-1": 1, "us-2": 2}
    answer = Api(secret).post(f"/projects/{locked.project.pk}/live_instances",
                              {"instance_id": "us-1", "mode": "accepting", "labels": {"region": "us"}})
    assert (answer.json()["cohort"], answer.json()["release"]) == ("previous", 1)
    progress = dist_queries.rollout_progress(locked.admin, locked.project, "production")
    assert progress["targets"] == "100 % of instances with region=eu, and 1 named instance"


@pytest.mark.django_db(transaction=True)
def test_a_10_percent_rollout_reaches_exactly_its_cohort_by_push_then_expand_and_roll_back(locked, tmp_path):
    _, secret = dist.create_access_token(locked.admin, locked.project, "prod")
    token = authenticate_access_token(secret)
    receivers, servers = start_receivers(locked.project, secret, token, COUNT, tmp_path)
    try:
        ids = [r.client.instance_id for r in receivers]
        first = dist.publish(locked.admin, locked.pset)
        assert fanout.send_publication(first.publication.pk) == COUNT
        new_version(locked, "1.1.0", "Hi {{ name }}, welcome back!")
        staged = dist.publish(locked.admin, locked.pset, rollout={"percentage": 10})
        cohort = expected_cohort(staged.publication, ids)
        assert len(staged.deliveries) == len(cohort) and 8 <= len(cohort) <= 32
        fanout.send_publication(staged.publication.pk)
        held = {r.client.instance_id: r.client.sequence for r in receivers}
        assert {i for i, s in held.items() if s == 2} == cohort and set(held.values()) <= {1, 2}
        expanded = dist.expand_rollout(locked.admin, staged.channel, {"everyone": True})
        assert len(expanded.deliveries) == COUNT - len(cohort)  # only those it did not reach yet
        fanout.send_publication(staged.publication.pk)
        assert {r.client.sequence for r in receivers} == {2}
        rolled = dist.rollback(locked.admin, staged.channel)
        fanout.send_publication(rolled.publication.pk)
        assert {r.client.sequence for r in receivers} == {3}
        assert {r.client.prompt("emails.welcome", name="Ada") for r in receivers} == {"Hello Ada!"}
    finally:
        stop_receivers(servers)


@pytest.mark.django_db(transaction=True)
def test_a_10_percent_rollout_reaches_exactly_its_cohort_by_stream_then_expand(locked, tmp_path):
    import httpx
    from django.db import connection

    from anvil_client.client import Client
    from anvil_forge.accounts.services import create_api_key

    from ..receivers import wait_for
    from ..servers import start_server, stop

    _, secret = dist.create_access_token(locked.admin, locked.project, "prod")
    _, key = create_api_key(locked.admin, "publisher", ["read", "write"])
    stream_server, stream_url = start_server()
    servers, publish_url = [stream_server], stream_url
    if connection.vendor == "postgresql":  # the publish in one FORGE process, the streams in another
        other, publish_url = start_server()
        servers.append(other)
    api = httpx.Client(base_url=f"{publish_url}/api/v1", headers={"Authorization": f"Bearer {key}"}, timeout=30)
    clients = []
    try:
        for first in range(0, STREAMS, 25):  # apps start a few at a time, not 200 in the same instant
            batch = [Client(forge_url=stream_url, project=str(locked.project.pk), access_token=secret,
                            cache_dir=tmp_path / f"c{n}", public_key=dist_queries.public_key(), poll_interval=3600,
                            heartbeat_interval=3600, instance_id=f"app-{n:03}")
                     for n in range(first, min(first + 25, STREAMS))]
            clients += batch
            assert wait_for(lambda: all(c._streaming for c in batch), 60), "not every client opened its stream"
        assert api.post(f"/prompt_sets/{locked.pset.pk}/publish", json={}).status_code == 200
        assert wait_for(lambda: all(c.sequence == 1 for c in clients), 30)
        new_version(locked, "1.1.0", "Hi {{ name }}, welcome back!")
        answer = api.post(f"/prompt_sets/{locked.pset.pk}/publish", json={"rollout": {"percentage": 10}})
        assert answer.status_code == 200, answer.text
        release = dist_queries.releases(locked.admin, locked.project, "production")[0]
        cohort = expected_cohort(release, [c.instance_id for c in clients])
        inside = [c for c in clients if c.instance_id in cohort]
        assert wait_for(lambda: all(c.sequence == 2 for c in inside), 30)
        assert {c.instance_id for c in clients if c.sequence == 2} == cohort  # and no others
        assert wait_for(lambda: all(c.status()["cohort"] == "rollout" for c in inside), 10)  # (its registration)
        expanded = api.post("/projects/{}/channels/production/rollout".format(locked.project.pk),
                            json={"everyone": True})
        assert expanded.status_code == 200, expanded.text
        assert wait_for(lambda: all(c.sequence == 2 for c in clients), 30)
    finally:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=32) as pool:  # each stop waits for its threads to end
            list(pool.map(lambda c: c.stop(), clients))
        api.close()
        print("\n".join(stop(server) for server in servers))


def test_expanding_to_what_the_rollout_already_reaches_is_refused(rolled):
    with pytest.raises(Conflict, match="already reaches 10 % of instances"):
        dist.expand_rollout(rolled.admin, rolled.production, {"percentage": 10})


@pytest.mark.django_db(transaction=True)
def test_a_stream_opened_before_its_instance_registered_is_placed_by_the_labels_it_registers(locked, tmp_path):
    import httpx

    from ..servers import start_server, stop

    _, secret = dist.create_access_token(locked.admin, locked.project, "prod")
    dist.publish(locked.admin, locked.pset)
    server, url = start_server()
    headers = {"Authorization": f"Bearer {secret}", "X-Anvil-Instance": "eu-1"}
    try:
        with httpx.Client(base_url=f"{url}/api/v1/projects/{locked.project.pk}", headers=headers,
                          timeout=10) as http, http.stream("GET", "/events") as events:
            lines = events.iter_lines()
            assert next(lines) == "retry: 3000" and next(lines) == "event: hello"
            registered = http.post("/live_instances", json={"instance_id": "eu-1", "mode": "accepting",
                                                            "labels": {"region": "eu"}})
            assert registered.status_code == 200, registered.text
            new_version(locked, "1.1.0", "Hi {{ name }}!")
            dist.publish(locked.admin, locked.pset, rollout={"labels": {"region": "eu"}})
            seen = []
            for line in lines:  # (a heartbeat would come after 15 s: the read times out first)
                seen.append(line)
                if line.startswith("data:") and '"sequence": 2' in line:
                    break
            assert seen[-1].startswith("data:") and '"sequence": 2' in seen[-1], seen
    finally:
        print(stop(server))
