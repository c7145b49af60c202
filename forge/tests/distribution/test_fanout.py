"""LIVE instances and the durable push fan-out, against real receivers on loopback."""

import threading

import pytest
from django.utils import timezone

from anvil_client import bundle as bundle_format
from anvil_client.client import Client
from anvil_client.receiver import make_server
from anvil_forge.core.errors import Conflict, PermissionDenied
from anvil_forge.distribution import fanout
from anvil_forge.distribution import queries as dist_queries
from anvil_forge.distribution.models import Delivery, DeliveryState, LiveInstance
from anvil_forge.distribution.services import create_access_token, publish, retry_delivery

from ..api_support import Api, as_role, fresh_rate_limits  # noqa: F401


pytestmark = pytest.mark.usefixtures("own_data_dir")


@pytest.fixture
def live_client(locked, tmp_path):
    """Start real LIVE clients with receivers on loopback; registered through the API with an access token."""
    _, token = create_access_token(locked.admin, locked.project, "prod")
    started = []

    def start(name, mode="accepting"):
        client = Client(forge_url="http://127.0.0.1:9", project=str(locked.project.pk), access_token=token,
                        cache_dir=tmp_path / name, public_key=dist_queries.public_key(), mode=mode, background=False)
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


def test_new_instances_past_the_projects_limit_are_refused_naming_it(locked, settings):
    from datetime import timedelta

    from anvil_forge.distribution.models import LiveInstance

    settings.ANVIL_MAX_LIVE_INSTANCES = 2
    _, token = create_access_token(locked.admin, locked.project, "prod")
    path = f"/projects/{locked.project.pk}/live_instances"
    for name in ("a", "b"):
        assert Api(token).post(path, {"instance_id": name, "mode": "accepting"}).status_code == 200
    refused = Api(token).post(path, {"instance_id": "c", "mode": "accepting"})
    assert refused.status_code == 422 and "ANVIL_MAX_LIVE_INSTANCES" in refused.json()["error"]["message"]
    assert Api(token).post(path, {"instance_id": "a", "mode": "frozen"}).status_code == 200  # known: heartbeats go on
    LiveInstance.objects.filter(instance_id="b").update(last_seen_at=timezone.now() - timedelta(days=2))
    assert Api(token).post(path, {"instance_id": "c", "mode": "accepting"}).status_code == 200  # b is gone
    assert LiveInstance.objects.count() == 3


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


def test_publish_pushes_to_accepting_receivers_and_skips_frozen(locked, live_client):
    accepting, frozen = live_client("a"), live_client("f", mode="frozen")
    second = live_client("b")
    frozen.apply(_empty(locked), force=True)  # holds sequence 0: nothing published yet
    result = publish(locked.admin, locked.pset)
    states = {d.instance.instance_id: d.state for d in result.deliveries}
    assert states == {accepting.instance_id: "pending", second.instance_id: "pending", frozen.instance_id: "skipped"}
    # The deliveries are the queue: written in the publish's own transaction, the pending ones due at once.
    due = Delivery.objects.filter(state="pending", next_attempt_at__lte=timezone.now())
    assert {d.pk for d in due} == {d.pk for d in result.deliveries if d.state == "pending"}
    assert fanout.send_publication(result.publication.pk) == 2
    assert accepting.sequence == 1 and accepting.prompt("emails.welcome", name="Ada") == "Hello Ada!"
    assert second.sequence == 1
    # The listing shows what each instance serves now, from its receiver's answer (no heartbeat needed).
    held = {i.instance_id: (i.mode, i.sequence, i.versions) for i in LiveInstance.objects.all()}
    assert held == {accepting.instance_id: ("accepting", 1, {"emails": "1.0.0"}),
                    second.instance_id: ("accepting", 1, {"emails": "1.0.0"}),
                    frozen.instance_id: ("frozen", None, {})}
    assert fanout.send_publication(result.publication.pk) == 0  # already delivered: never sent twice
    assert all(fanout.send(d.pk) is None for d in result.deliveries)
    assert frozen.sequence == 0


def test_an_instance_frozen_since_it_registered_is_shown_frozen_with_what_it_holds(locked, live_client):
    client = live_client("a")
    client.apply(_empty(locked), force=True)
    client.set_mode("frozen")  # not running in the background: the FORGE has not been told
    result = publish(locked.admin, locked.pset)
    assert fanout.send_publication(result.publication.pk) == 1
    [delivery] = Delivery.objects.all()
    assert delivery.state == "skipped" and client.sequence == 0
    instance = LiveInstance.objects.get()
    assert (instance.mode, instance.sequence, instance.versions) == ("frozen", 0, {})


def test_revoking_a_token_stops_pushes_to_the_instances_it_registered(locked, live_client):
    from anvil_forge.distribution.models import AccessToken
    from anvil_forge.distribution.services import revoke_access_token

    kept, dropped = live_client("kept"), live_client("dropped")
    _, other = create_access_token(locked.admin, locked.project, "other")
    revoke_access_token(locked.admin, AccessToken.objects.get(label="prod"))
    # Once its token is revoked, an instance may re-register with another token of the project.
    assert Api(other).post(f"/projects/{locked.project.pk}/live_instances", kept.describe()).status_code == 200
    result = publish(locked.admin, locked.pset)
    assert [d.instance.instance_id for d in result.deliveries] == [kept.instance_id]
    assert fanout.send_publication(result.publication.pk) == 1
    assert kept.sequence == 1 and dropped.sequence is None


def test_a_publish_with_no_one_to_push_to_enqueues_nothing(locked, live_client):
    live_client("f", mode="frozen")
    publish(locked.admin, locked.pset)
    assert not Delivery.objects.filter(state="pending").exists()
    assert fanout.deliver_due() == {}


def test_a_failing_worker_hands_its_claims_back(locked, live_client, monkeypatch):
    client = live_client("a")
    result = publish(locked.admin, locked.pset)

    def broken(channel, formats=None, release=None):
        raise RuntimeError("database went away")

    monkeypatch.setattr(fanout, "build_bundle", broken)
    with pytest.raises(RuntimeError):
        fanout.send_publication(result.publication.pk)
    [delivery] = Delivery.objects.all()
    assert delivery.state == "pending" and "the worker failed: RuntimeError: database went away" in delivery.last_error
    assert delivery.next_attempt_at > timezone.now()  # retried after a backoff: queued, not due yet
    assert fanout.send(delivery.pk) is None
    monkeypatch.undo()
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert fanout.send(delivery.pk) == "delivered" and client.sequence == 1


def _empty(locked):
    return dist_queries.current_bundle(locked.project)


def test_unreachable_receivers_are_retried_with_backoff_then_failed_and_retryable(locked, live_client, as_role):
    client = live_client("a")

    LiveInstance.objects.filter(instance_id=client.instance_id).update(receiver_url="http://127.0.0.1:9/anvil/receive")
    [delivery] = publish(locked.admin, locked.pset).deliveries
    assert fanout.send(delivery.pk) == "pending"
    delivery.refresh_from_db()
    assert delivery.attempts == 1 and delivery.next_attempt_at > timezone.now()
    assert "could not reach the receiver" in delivery.last_error
    assert fanout.send(delivery.pk) is None  # not due yet
    for _ in range(fanout.MAX_ATTEMPTS - 1):
        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        fanout.send(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.state == "failed" and "gave up after" in delivery.last_error
    with pytest.raises(PermissionDenied):
        retry_delivery(locked.member, delivery)
    LiveInstance.objects.filter(instance_id=client.instance_id).update(receiver_url=client.receiver_url)
    retried = as_role("admin").post(f"/deliveries/{delivery.pk}/retry")
    assert retried.status_code == 200 and retried.json()["state"] == "pending"
    assert fanout.send(delivery.pk) == "delivered" and client.sequence == 1
    with pytest.raises(Conflict):
        retry_delivery(locked.admin, Delivery.objects.get(pk=delivery.pk))


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


def test_a_delivery_a_dead_worker_left_claimed_is_sent_once_its_claim_expires(locked, live_client):
    from datetime import timedelta

    client = live_client("a")
    [delivery] = publish(locked.admin, locked.pset).deliveries
    # A worker claimed it and died mid-send: the claim is left behind, still valid for a moment.
    Delivery.objects.filter(pk=delivery.pk).update(state=DeliveryState.SENDING, attempts=1,
                                                   claimed_until=timezone.now() + timedelta(minutes=1))
    assert fanout.send(delivery.pk) is None and client.sequence is None  # not while the claim holds
    Delivery.objects.filter(pk=delivery.pk).update(claimed_until=timezone.now())  # … now expired
    assert fanout.send(delivery.pk) == "delivered" and client.sequence == 1
    assert Delivery.objects.get(pk=delivery.pk).attempts == 2


def test_instances_need_a_member_to_be_listed(locked):
    from anvil_forge.core.errors import NotFound

    with pytest.raises(NotFound):
        list(dist_queries.live_instances(locked.outsider, locked.project))


@pytest.mark.parametrize("field, value", [("receiver_secret", "sécret-ü-1234567890"),
                                          ("receiver_url", "http://xn--/anvil/receive")])
def test_one_unusable_registration_fails_alone_and_the_others_are_delivered(locked, live_client, field, value):
    # Rows stored before registration checked these fields: the push itself must not stall the batch.
    healthy, broken = live_client("a"), live_client("b")
    LiveInstance.objects.filter(instance_id=broken.instance_id).update(**{field: value})
    result = publish(locked.admin, locked.pset)
    assert fanout.send_publication(result.publication.pk) == 2
    states = {d.instance.instance_id: d for d in Delivery.objects.select_related("instance")}
    assert states[healthy.instance_id].state == "delivered" and healthy.sequence == 1
    failed = states[broken.instance_id]
    assert failed.state == "failed" and failed.attempts == 1
    assert "cannot be used" in failed.last_error
    assert fanout.send_publication(result.publication.pk) == 0  # nothing left to retry forever
