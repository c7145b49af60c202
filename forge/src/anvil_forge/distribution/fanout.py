"""Durable fan-out: one delivery per registered ACCEPTING instance with a receiver, per publish.

Deliveries are rows (``Delivery``); a publish writes them and one task (``tasks.deliver_publication``)
in its own transaction, on the database backend. A delivery is *claimed* with one conditional UPDATE
before it is sent, so two workers never send the same delivery at once, and only the claim's holder
records its outcome. A claim expires, so a worker killed mid-send leaves it to be picked up again: by
the sweep every running ``anvil worker`` makes (``reclaim_expired``) or by ``recover`` when a worker
starts. Retries are one ``tasks.deliver`` per delivery. Receivers are idempotent by sequence, so a
re-sent bundle is never applied twice.
"""
from __future__ import annotations

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from anvil_forge.audit.services import record
from anvil_forge.core import jsonin
from anvil_forge.core.errors import Conflict, ValidationError
from anvil_forge.orgs import policy
from anvil_forge.orgs.policy import Action

from anvil_client.bundle import canonical

from .bundles import build_bundle
from .instances import clean_held, gone_since  # instances gone for a day are not pushed to
from .models import Delivery, DeliveryState, LiveInstance, Mode, Publication

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 6


def claim_duration() -> timedelta:
    return timedelta(seconds=getattr(settings, "ANVIL_DELIVERY_CLAIM_SECONDS", 60))


def backoff(attempts: int) -> timedelta:
    base = getattr(settings, "ANVIL_DELIVERY_BACKOFF_SECONDS", 2.0)
    return timedelta(seconds=min(base * 2 ** (attempts - 1), 600))


def _enqueue(delivery: Delivery, run_after=None) -> None:
    from .tasks import deliver

    task = deliver.using(run_after=run_after) if run_after else deliver
    task.enqueue(str(delivery.pk))


def _enqueue_publication(publication_id) -> None:
    from .tasks import deliver_publication

    deliver_publication.enqueue(str(publication_id))


def plan(publication: Publication) -> list[Delivery]:
    """Create the deliveries of a publication and the one task that pushes them all, in the publication's
    transaction: the publish, its deliveries and their task commit together or not at all (retries are
    then one task per delivery)."""
    # Instances heard from in the last day, with a receiver, registered with a token that is still valid
    # (revoking a token stops its pushes).
    targets = LiveInstance.objects.filter(
        project_id=publication.project_id, last_seen_at__gte=gone_since(),
        access_token__isnull=False, access_token__revoked_at__isnull=True).exclude(receiver_url="")
    deliveries = []
    for instance in targets:
        frozen = instance.mode == Mode.FROZEN
        deliveries.append(Delivery(
            publication=publication, instance=instance,
            state=DeliveryState.SKIPPED if frozen else DeliveryState.PENDING,
            last_error="the instance is FROZEN" if frozen else "",
        ))
    deliveries = Delivery.objects.bulk_create(deliveries)  # one INSERT (both databases return the keys)
    if any(d.state == DeliveryState.PENDING for d in deliveries):
        _enqueue_publication(publication.pk)
    return deliveries


def _claim(condition: Q) -> list[Delivery]:
    """Claim every claimable delivery matching ``condition`` with one conditional UPDATE; returns them.

    The UPDATE only takes rows that are pending (or whose earlier claim expired) and due, so when two
    workers race, each row goes to exactly one of them.
    """
    now = timezone.now()
    claimable = Q(state=DeliveryState.PENDING) | Q(state=DeliveryState.SENDING, claimed_until__lt=now)
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    token = uuid.uuid4()
    Delivery.objects.filter(condition & claimable & due).update(
        state=DeliveryState.SENDING, claimed_until=now + claim_duration(), attempts=F("attempts") + 1,
        claim=token, updated_at=now)
    return list(Delivery.objects.filter(claim=token, state=DeliveryState.SENDING)
                .select_related("instance", "publication__project"))


def _finish(delivery: Delivery, state: str, error: str = "", retry: bool = False) -> None:
    now = timezone.now()
    fields = {"state": state, "last_error": error[:1000], "claimed_until": None, "updated_at": now}
    if state == DeliveryState.DELIVERED:
        fields["delivered_at"] = now
    if retry:
        fields["next_attempt_at"] = now + backoff(delivery.attempts)
    # Only while the claim is ours: if it expired and another worker took the delivery over, its outcome counts.
    Delivery.objects.filter(pk=delivery.pk, state=DeliveryState.SENDING, claim=delivery.claim).update(**fields)
    if retry:
        _enqueue(delivery, fields["next_attempt_at"])


PARALLEL = 32  # pushes at once
PUSH_TIMEOUT = 10.0  # seconds per push


def batch_size() -> int:
    """How many deliveries one claim takes: as many as are surely pushed before the claim expires
    (rounds of PARALLEL pushes of at most PUSH_TIMEOUT each, with one round to spare)."""
    rounds = max(1, int(claim_duration().total_seconds() // PUSH_TIMEOUT) - 1)
    return PARALLEL * rounds


def send_publication(publication_id) -> int:
    """Claim every pending delivery of a publication and push them concurrently, so a fan-out to many
    instances takes about as long as the slowest push. Returns how many were pushed."""
    # Only never-tried deliveries: one that failed once waits for its backoff, in a task of its own.
    fresh = Delivery.objects.filter(publication_id=publication_id, state=DeliveryState.PENDING,
                                    next_attempt_at__isnull=True)
    pushed = 0
    while batch := _claim(Q(pk__in=list(fresh.values_list("pk", flat=True)[:batch_size()]))):
        _push_all(batch)
        pushed += len(batch)
    return pushed


def send(delivery_id) -> str | None:
    """Claim and push one delivery (a retry, or one re-queued by ``recover``) — and, concurrently, the other
    claimable deliveries of the same publication, whose own tasks then find nothing left to claim.
    Returns the state the given delivery ended in (None: it was not ours to send)."""
    claimed = _claim(Q(pk=delivery_id))
    if not claimed:
        return None
    delivery = claimed[0]
    siblings = (Delivery.objects.filter(publication_id=delivery.publication_id, state=DeliveryState.PENDING)
                .exclude(pk=delivery.pk).values_list("pk", flat=True)[:batch_size() - 1])
    return _push_all([delivery] + _claim(Q(pk__in=list(siblings))))[0]


def _push_all(batch: list[Delivery]) -> list[str]:
    """Push the current bundle to every claimed delivery of ``batch`` (one publication); record each outcome.

    A push's failure is that delivery's alone (:func:`_push` turns every error into its outcome). If the
    batch itself fails (building the bundle, the database), each claim is handed back counted — retried
    after a backoff, failed after MAX_ATTEMPTS — before the error propagates, so nothing waits for its
    claim to expire and nothing is retried forever.
    """
    try:
        payload = canonical(build_bundle(batch[0].publication.project))  # current state: at least this new
        workers = min(PARALLEL, len(batch))
        with httpx.Client(timeout=PUSH_TIMEOUT, limits=httpx.Limits(max_connections=workers)) as http, \
                ThreadPoolExecutor(max_workers=workers) as pool:
            outcomes = list(pool.map(lambda d: _push(http, d, payload), batch))
        with transaction.atomic():  # one commit for the whole batch, not one per delivery
            return [_settle(d, outcome) for d, outcome in zip(batch, outcomes)]
    except Exception as exc:
        for delivery in batch:
            _retry_or_fail(delivery, f"the worker failed: {exc.__class__.__name__}: {exc}")
        raise


class Unusable(str):
    """A push that cannot work as registered (a URL or secret httpx refuses): failed at once, not retried."""


def _push(http: httpx.Client, delivery: Delivery, payload: bytes):
    """The HTTP part only (runs in a pool thread; no database access here). Returns the response, or the
    error as text: a network error (retried), or :class:`Unusable` for anything else."""
    instance = delivery.instance
    try:
        return http.post(instance.receiver_url, content=payload,
                         headers={"Authorization": f"Bearer {instance.receiver_secret}",
                                  "Content-Type": "application/json"})
    except httpx.HTTPError as exc:
        return f"could not reach the receiver: {exc.__class__.__name__}: {exc}"
    except Exception as exc:  # an invalid URL, host name or secret (registered before they were checked)
        log.warning("push to LIVE instance %s cannot be sent: %s: %s", instance.instance_id,
                    exc.__class__.__name__, exc)
        return Unusable(f"the receiver URL or secret cannot be used: {exc.__class__.__name__}: {exc}"[:500])


def _settle(delivery: Delivery, response) -> str:
    if isinstance(response, Unusable):
        _finish(delivery, DeliveryState.FAILED, response)
        return DeliveryState.FAILED
    if isinstance(response, str):
        return _retry_or_fail(delivery, response)
    answer = _json(response)
    if response.status_code in (200, 409, 422):
        _record_held(delivery.instance, answer, frozen=response.status_code == 409)
    if response.status_code == 200:
        state, error = DeliveryState.DELIVERED, ""
    elif response.status_code == 409:
        state, error = DeliveryState.SKIPPED, "the instance is FROZEN"
    elif response.status_code == 422 and isinstance(answer.get("sequence"), int) \
            and answer["sequence"] >= delivery.publication.sequence:
        state, error = DeliveryState.DELIVERED, f"the instance already holds sequence {answer['sequence']}"
    elif response.status_code >= 500 or response.status_code == 429:
        return _retry_or_fail(delivery, f"the receiver answered {response.status_code}")
    else:
        state, error = DeliveryState.FAILED, (f"the receiver answered {response.status_code}: "
                                              f"{answer.get('error', response.text[:200])}")
    _finish(delivery, state, error)
    return state


def _record_held(instance: LiveInstance, answer: dict, frozen: bool) -> None:
    """Keep the instance's listing current with what its receiver says it serves now (its sequence and
    versions), instead of waiting for its next heartbeat; a 409 also says it is FROZEN now."""
    fields = {"mode": Mode.FROZEN} if frozen else {}
    if isinstance(answer.get("sequence"), int) and "versions" in answer:
        try:
            fields.update(clean_held(answer))
        except ValidationError:
            pass  # an answer we cannot read says nothing about what it holds
    if fields:
        LiveInstance.objects.filter(pk=instance.pk).update(**fields, last_seen_at=timezone.now())


def _retry_or_fail(delivery: Delivery, error: str) -> str:
    if delivery.attempts < MAX_ATTEMPTS:
        _finish(delivery, DeliveryState.PENDING, error, retry=True)
        return DeliveryState.PENDING
    _finish(delivery, DeliveryState.FAILED, f"{error} (gave up after {delivery.attempts} attempts)")
    return DeliveryState.FAILED


def _json(response) -> dict:
    try:
        data = jsonin.loads(response.content, "the receiver's answer")
    except ValueError:  # jsonin.BadJSON: broken, too deep, not text
        return {}
    return data if isinstance(data, dict) else {}


def recover() -> int:
    """Re-enqueue every unfinished delivery (pending, or sending — a claim held by a worker that died is
    retried once it expires); returns how many. ``anvil worker`` runs this when it starts."""
    now = timezone.now()
    count = 0
    for delivery in Delivery.objects.filter(state__in=[DeliveryState.PENDING, DeliveryState.SENDING]):
        when = delivery.claimed_until if delivery.state == DeliveryState.SENDING else delivery.next_attempt_at
        _enqueue(delivery, when if when and when > now else None)
        count += 1
    return count


def reclaim_expired() -> int:
    """Hand back the deliveries whose claim expired — their worker died mid-push — and queue them again;
    returns how many. Every ``anvil worker`` runs this periodically, so a surviving worker finishes what a
    dead one left. One conditional UPDATE decides which worker re-queues each delivery."""
    now, token = timezone.now(), uuid.uuid4()
    with transaction.atomic():
        Delivery.objects.filter(state=DeliveryState.SENDING, claimed_until__lt=now).update(
            state=DeliveryState.PENDING, claimed_until=None, claim=token, updated_at=now)
        expired = list(Delivery.objects.filter(claim=token, state=DeliveryState.PENDING))
        for delivery in expired:
            _enqueue(delivery)
    return len(expired)


@transaction.atomic
def retry(actor, delivery: Delivery) -> Delivery:
    """The retry button: a failed delivery is tried again now (owners and admins)."""
    project = delivery.publication.project
    policy.require(actor, Action.MANAGE_DISTRIBUTION, project.organisation, "delivery")
    delivery = Delivery.objects.select_for_update().get(pk=delivery.pk)
    if delivery.state != DeliveryState.FAILED:
        raise Conflict(f"only a failed delivery can be retried (this one is {delivery.state})")
    delivery.state, delivery.next_attempt_at, delivery.attempts = DeliveryState.PENDING, None, 0
    delivery.save(update_fields=["state", "next_attempt_at", "attempts", "updated_at"])
    record(actor, project.organisation, "delivery.retry", delivery.instance,
           {"project": project.slug, "sequence": delivery.publication.sequence}, target_type="live_instance")
    transaction.on_commit(lambda: _enqueue(delivery))
    return delivery
