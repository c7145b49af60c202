"""LIVE instances and the durable push fan-out, against real receivers on loopback."""

import threading

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from anvil_client import bundle as bundle_format
from anvil_client.client import Client
from anvil_client.receiver import make_server
from anvil_forge.core.errors import Conflict, PermissionDenied
from anvil_forge.distribution import fanout, instances, keys
from anvil_forge.distribution.models import Delivery, DeliveryState
from anvil_forge.distribution.services import create_access_token, publish
from anvil_forge.prompts import services as prompts

from .api_support import Api, as_role, fresh_rate_limits  # noqa: F401


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    keys._load.cache_clear()


@pytest.fixture
def locked(world):
    prompts.change_status(world.member, world.pset, "review")
    prompts.change_status(world.admin, world.pset, "locked")
    return world


@pytest.fixture
def live_client(locked, tmp_path):
    """Start real LIVE clients with receivers on loopback; registered through the API with an access token."""
    _, token = create_access_token(locked.admin, locked.project, "prod")
    started = []

    def start(name, mode="accepting"):
        client = Client(forge_url="http://127.0.0.1:9", project=str(locked.project.pk), access_token=token,
                        cache_dir=tmp_path / name, public_key=keys.public_key(), mode=mode, background=False)
        server = make_server(client.receiver(), "127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        client.receiver_url = f"http://127.0.0.1:{server.server_address[1]}/anvil/receive"
        started.append(server)
        assert Api(token).post(f"/projects/{locked.project.pk}/live_instances", client.describe()).status_code == 200
        return client

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


def test_registration_is_listed_with_mode_versions_and_staleness(locked, live_client, as_role, settings):
    client = live_client("a")
    listed = as_role("member").get(f"/projects/{locked.project.pk}/live_instances").json()["data"]
    assert [(i["instance_id"], i["mode"], i["stale"]) for i in listed] == [(client.instance_id, "accepting", False)]
    assert "receiver_secret" not in listed[0]
    settings.ANVIL_LIVE_STALE_SECONDS = 0
    assert as_role("member").get(f"/projects/{locked.project.pk}/live_instances").json()["data"][0]["stale"]


def test_bad_registrations_are_refused(locked, live_client):
    _, token = create_access_token(locked.admin, locked.project, "x")
    path = f"/projects/{locked.project.pk}/live_instances"
    assert Api(token).post(path, {"instance_id": "i", "mode": "sleepy"}).status_code == 422
    assert Api(token).post(path, {"instance_id": "", "mode": "frozen"}).status_code == 422
    assert Api(token).post(path, {"instance_id": "i", "mode": "frozen", "receiver_url": "ftp://x"}).status_code == 422
    assert Api().post(path, {"instance_id": "i", "mode": "frozen"}).status_code == 401


def test_publish_pushes_to_accepting_receivers_and_skips_frozen(locked, live_client,
                                                                django_capture_on_commit_callbacks):
    accepting, frozen = live_client("a"), live_client("f", mode="frozen")
    frozen.apply(_empty(locked), force=True)  # holds sequence 0: nothing published yet
    with django_capture_on_commit_callbacks(execute=True):
        result = publish(locked.admin, locked.pset)
    states = {d.instance.instance_id: d.state for d in result.deliveries}
    assert states == {accepting.instance_id: "pending", frozen.instance_id: "skipped"}
    assert DBTaskResult.objects.count() == 1  # one task per pending delivery
    [pending] = [d for d in result.deliveries if d.state == "pending"]
    assert fanout.send(pending.pk) == "delivered"
    assert accepting.sequence == 1 and accepting.prompt("emails.welcome", name="Ada") == "Hello Ada!"
    assert fanout.send(pending.pk) is None  # already delivered: never sent twice
    assert frozen.sequence == 0


def _empty(locked):
    from anvil_forge.distribution.bundles import build_bundle

    return build_bundle(locked.project)


def test_unreachable_receivers_are_retried_with_backoff_then_failed_and_retryable(locked, live_client, as_role):
    client = live_client("a")
    from anvil_forge.distribution.models import LiveInstance

    LiveInstance.objects.filter(instance_id=client.instance_id).update(receiver_url="http://127.0.0.1:9/anvil/receive")
    [delivery] = publish(locked.admin, locked.pset).deliveries
    assert fanout.send(delivery.pk) == "pending"
    delivery.refresh_from_db()
    assert delivery.attempts == 1 and delivery.next_attempt_at > timezone.now()
    assert "could not reach the receiver" in delivery.last_error
    assert fanout.send(delivery.pk) is None  # not due yet
    for _ in range(fanout.MAX_ATTEMPTS - 1):
        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=None)
        fanout.send(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.state == "failed" and "gave up after" in delivery.last_error
    with pytest.raises(PermissionDenied):
        fanout.retry(locked.member, delivery)
    LiveInstance.objects.filter(instance_id=client.instance_id).update(receiver_url=client.receiver_url)
    retried = as_role("admin").post(f"/deliveries/{delivery.pk}/retry")
    assert retried.status_code == 200 and retried.json()["state"] == "pending"
    assert fanout.send(delivery.pk) == "delivered" and client.sequence == 1
    with pytest.raises(Conflict):
        fanout.retry(locked.admin, Delivery.objects.get(pk=delivery.pk))


def test_a_forged_push_is_refused_by_the_receiver(locked, live_client):
    import httpx

    client = live_client("a")
    forged = _empty(locked) | {"sequence": 5}  # checksum no longer matches
    answer = httpx.post(client.receiver_url, json=forged, headers={"Authorization": f"Bearer {client.receiver_secret}"})
    assert answer.status_code == 422 and answer.json()["reason"] == "checksum"
    other_key = bundle_format.generate_private_key()
    signed_elsewhere = bundle_format.seal({k: v for k, v in forged.items()}, other_key)
    answer = httpx.post(client.receiver_url, json=signed_elsewhere,
                        headers={"Authorization": f"Bearer {client.receiver_secret}"})
    assert answer.status_code == 422 and answer.json()["reason"] == "signature"
    assert client.sequence is None


def test_recover_requeues_unfinished_deliveries(locked, live_client):
    client = live_client("a")
    [delivery] = publish(locked.admin, locked.pset).deliveries
    # A worker claimed it and died mid-send: the claim is left behind, expired.
    Delivery.objects.filter(pk=delivery.pk).update(state=DeliveryState.SENDING, claimed_until=timezone.now(),
                                                   attempts=1)
    DBTaskResult.objects.all().delete()
    assert fanout.recover() == 1 and DBTaskResult.objects.count() == 1
    assert fanout.send(delivery.pk) == "delivered" and client.sequence == 1


def test_instances_need_a_member_to_be_listed(locked):
    from anvil_forge.core.errors import NotFound

    with pytest.raises(NotFound):
        list(instances.instances_for(locked.outsider, locked.project))
