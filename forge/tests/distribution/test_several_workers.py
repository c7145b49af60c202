"""Several task workers at once (any number on PostgreSQL): no delivery is pushed twice, and a surviving
worker finishes what a dead one had claimed."""

import threading
from datetime import timedelta

import pytest
from django.db import close_old_connections, transaction
from django.db.models import Q
from django.utils import timezone

from anvil_forge.distribution import fanout
from anvil_forge.distribution.models import Delivery, DeliveryState, LiveInstance, Publication
from anvil_forge.distribution.services import authenticate_access_token, create_access_token, publish
from anvil_forge.prompts import services as prompts

from ..receivers import start_receivers, stop_receivers, wait_for
from ..servers import start_worker, stop

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("own_data_dir")]


@pytest.fixture
def locked(locked):
    """conftest's LOCKED world, with an access token (secret, and the token the apps registered with)."""
    world = locked
    _, secret = create_access_token(world.admin, world.project, "prod")
    world.secret, world.token = secret, authenticate_access_token(secret)
    return world


def unreachable_instances(world, count: int):
    """``count`` ACCEPTING instances whose receivers nobody answers (the discard port); returns their last_seen_at."""
    now = timezone.now()
    LiveInstance.objects.bulk_create(
        LiveInstance(project=world.project, instance_id=f"i{n}", mode="accepting", last_seen_at=now,
                     receiver_url=f"http://127.0.0.1:9/{n}", access_token=world.token,
                     channel=world.token.channel) for n in range(count))
    return now


def test_racing_claims_take_each_delivery_exactly_once(locked):
    unreachable_instances(locked, 60)
    publication = publish(locked.admin, locked.pset).publication
    start, claims = threading.Barrier(6), []

    def claimer():
        try:
            start.wait()
            while batch := fanout._claim(Q(publication=publication, pk__in=list(
                    Delivery.objects.filter(publication=publication, state="pending")
                    .values_list("pk", flat=True)[:7]))):
                claims.append([d.pk for d in batch])
        finally:
            close_old_connections()

    threads = [threading.Thread(target=claimer) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    taken = [pk for batch in claims for pk in batch]
    assert len(taken) == len(set(taken)) == 60  # every delivery, none twice
    assert set(Delivery.objects.values_list("state", "attempts")) == {("sending", 1)}


def test_several_worker_processes_push_each_delivery_once(locked, tmp_path):
    receivers, servers = start_receivers(locked.project, locked.secret, locked.token, 15, tmp_path, delay=0.2)
    prompts.create_version(locked.admin, locked.pset, "1.1.0")
    prompts.create_version(locked.admin, locked.pset, "1.2.0")
    workers = [start_worker() for _ in range(3)]
    try:
        for label in ("1.0.0", "1.1.0", "1.2.0"):
            publish(locked.admin, locked.pset, label)
        finished = lambda: not Delivery.objects.exclude(state=DeliveryState.DELIVERED).exists()  # noqa: E731
        assert wait_for(finished, 60), list(Delivery.objects.values_list("state", "last_error"))
    finally:
        for worker in workers:
            stop(worker)
        stop_receivers(servers)
    assert Delivery.objects.count() == 45
    assert [r.requests for r in receivers] == [3] * 15  # one push per delivery: none sent twice
    assert all(r.client.sequence == 3 for r in receivers)


def test_a_running_worker_takes_over_what_a_dead_worker_claimed(locked, tmp_path):
    [receiver], servers = start_receivers(locked.project, locked.secret, locked.token, 1, tmp_path)
    prompts.create_version(locked.admin, locked.pset, "1.1.0")
    worker = start_worker(ANVIL_DELIVERY_CLAIM_SECONDS="1")
    try:
        publish(locked.admin, locked.pset, "1.0.0")
        assert wait_for(lambda: receiver.client.sequence == 1, 30), "the worker is not running"
        # Another worker claimed the next publication's delivery, then died: its claim is left behind. The
        # running worker takes the delivery over once the claim expires, and only then.
        with transaction.atomic():
            publication = publish(locked.admin, locked.pset, "1.1.0").publication
            Delivery.objects.filter(publication=publication).update(
                state=DeliveryState.SENDING, attempts=1, claimed_until=timezone.now() + timedelta(seconds=1))
        assert wait_for(lambda: receiver.client.sequence == 2, 30)
        # The receiver applies before it answers; the worker records the answer just after.
        assert wait_for(lambda: Delivery.objects.get(publication=publication).state == DeliveryState.DELIVERED, 10)
        assert Delivery.objects.get(publication=publication).attempts == 2
    finally:
        stop(worker)
        stop_receivers(servers)
    assert receiver.requests == 2


def test_an_expired_claim_is_taken_over_once_and_live_claims_are_left_alone(locked):
    now = unreachable_instances(locked, 2)
    publication = publish(locked.admin, locked.pset).publication
    expired, live = Delivery.objects.filter(publication=publication)
    Delivery.objects.filter(pk=expired.pk).update(state="sending", claimed_until=now - timedelta(seconds=1))
    Delivery.objects.filter(pk=live.pk).update(state="sending", claimed_until=now + timedelta(minutes=1))
    assert [d.pk for d in fanout._claim(Q(publication=publication))] == [expired.pk]
    assert fanout._claim(Q(publication=publication)) == []  # a second worker's claim finds nothing left
    assert Delivery.objects.get(pk=live.pk).state == "sending"
    assert Publication.objects.count() == 1


def test_a_worker_whose_claim_was_taken_over_does_not_overwrite_the_outcome(locked):
    now = timezone.now()
    LiveInstance.objects.create(project=locked.project, instance_id="i", mode="accepting", last_seen_at=now,
                                receiver_url="http://127.0.0.1:9/x", access_token=locked.token,
                                channel=locked.token.channel)
    publication = publish(locked.admin, locked.pset).publication
    [slow] = fanout._claim(Q(publication=publication))  # a worker's push hangs past its claim …
    Delivery.objects.filter(pk=slow.pk).update(claimed_until=now - timedelta(seconds=1))
    [taken] = fanout._claim(Q(publication=publication))  # … another worker takes the delivery over
    fanout._finish(slow, DeliveryState.FAILED, "the receiver answered 400")  # the first one's late outcome
    current = Delivery.objects.get(pk=slow.pk)
    assert (current.state, current.claim, current.last_error) == ("sending", taken.claim, "")
    fanout._finish(taken, DeliveryState.DELIVERED)
    assert Delivery.objects.get(pk=slow.pk).state == "delivered"
