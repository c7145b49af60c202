"""Durable fan-out: one delivery per registered ACCEPTING instance with a receiver, per publish.

The ``Delivery`` rows are the queue. A publish writes its deliveries, due at once, in its own transaction;
``anvil worker`` polls the rows and *claims* due ones with one conditional UPDATE (pending and due, or
sending with an expired claim → sending, with a claim id and a claim expiry) before it pushes them, so two
workers never push the same delivery at once, and only the claim's holder records its outcome. A failed
push is put back pending, due after its backoff; a worker killed mid-push leaves its claims to expire, and
the next claim — any worker's — takes them over. Receivers are idempotent by sequence, so a re-sent bundle
is never applied twice.
"""
from __future__ import annotations

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from datetime import timedelta

import httpx
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from anvil_forge.core import jsonin
from anvil_forge.core.errors import ValidationError

from anvil_client import retry
from anvil_client.bundle import canonical

from . import channels, destinations
from .bundles import build_bundle, format_ceiling
from .models import Delivery, DeliveryState, LiveInstance, Mode, Publication
from .registration import check_url, clean_held, gone_since  # (gone for a day: not pushed to)

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 6


def claim_duration() -> timedelta:
    return timedelta(seconds=settings.ANVIL_DELIVERY_CLAIM_SECONDS)


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=retry.backoff(attempts - 1, settings.ANVIL_DELIVERY_BACKOFF_SECONDS, cap=600))


PARALLEL = 32  # pushes at once
PUSH_TIMEOUT = 10.0  # seconds per push


def batch_size() -> int:
    """How many deliveries one claim takes: as many as are surely pushed before the claim expires
    (rounds of PARALLEL pushes of at most PUSH_TIMEOUT each, with one round to spare)."""
    rounds = max(1, int(claim_duration().total_seconds() // PUSH_TIMEOUT) - 1)
    return PARALLEL * rounds


def plan(publication: Publication) -> list[Delivery]:
    """Queue the deliveries of a release, in its transaction: the release and its deliveries commit together
    or not at all. They are due at once. One per instance of its channel in its cohort that has none yet,
    so after a rollout grows, planning it again queues just the instances it now reaches."""
    # Instances heard from in the last day, with a receiver, registered with a token that is still valid
    # (revoking a token stops its pushes).
    targets = (LiveInstance.objects.filter(
        channel_id=publication.channel_id, last_seen_at__gte=gone_since(),
        access_token__isnull=False, access_token__revoked_at__isnull=True).exclude(receiver_url="")
        .exclude(deliveries__publication=publication))
    now = timezone.now()
    deliveries = []
    for instance in targets:
        if not channels.in_cohort(publication, instance.instance_id, instance.labels):
            continue
        frozen = instance.mode == Mode.FROZEN
        deliveries.append(Delivery(
            publication=publication, instance=instance,
            state=DeliveryState.SKIPPED if frozen else DeliveryState.PENDING,
            last_error="the instance is FROZEN" if frozen else "",
            next_attempt_at=None if frozen else now,
        ))
    return Delivery.objects.bulk_create(deliveries)  # one INSERT (both databases return the keys)


def _claimable(now) -> Q:
    """Due: pending and its time has come, or sending under a claim that expired (its worker died)."""
    return (Q(state=DeliveryState.PENDING, next_attempt_at__lte=now)
            | Q(state=DeliveryState.SENDING, claimed_until__lt=now))


def _claim(condition: Q = Q(), limit: int | None = None) -> list[Delivery]:
    """Claim up to ``limit`` (default :func:`batch_size`) due deliveries matching ``condition``, the longest
    due first, with one conditional UPDATE; returns them.

    The UPDATE repeats the condition, so when workers race each row goes to exactly one of them. On
    PostgreSQL the candidates are read ``FOR UPDATE SKIP LOCKED`` in the same transaction, so a worker passes
    over the rows another one is claiming; on SQLite (one writer at a time) they are read first, outside a
    transaction, so an idle poll takes no write lock.
    """
    now, token = timezone.now(), uuid.uuid4()
    due = condition & _claimable(now)
    skip_locked = connection.features.has_select_for_update_skip_locked
    with transaction.atomic() if skip_locked else nullcontext():
        candidates = Delivery.objects.filter(due).order_by("next_attempt_at", "pk")
        if skip_locked:
            candidates = candidates.select_for_update(skip_locked=True)
        ids = list(candidates.values_list("pk", flat=True)[:limit or batch_size()])
        if not ids:
            return []
        Delivery.objects.filter(due, pk__in=ids).update(
            state=DeliveryState.SENDING, claimed_until=now + claim_duration(), attempts=F("attempts") + 1,
            claim=token, updated_at=now)
    return list(Delivery.objects.filter(claim=token, state=DeliveryState.SENDING)
                .select_related("instance__channel", "publication__project", "publication__channel"))


def _finish(delivery: Delivery, state: str, error: str = "", retry: bool = False) -> None:
    now = timezone.now()
    fields = {"state": state, "last_error": error[:1000], "claimed_until": None, "updated_at": now}
    if state == DeliveryState.DELIVERED:
        fields["delivered_at"] = now
    if retry:
        fields["next_attempt_at"] = now + backoff(delivery.attempts)
    # Only while the claim is ours: if it expired and another worker took the delivery over, its outcome counts.
    Delivery.objects.filter(pk=delivery.pk, state=DeliveryState.SENDING, claim=delivery.claim).update(**fields)


def deliver_due(condition: Q = Q()) -> dict:
    """The worker's step: claim one batch of due deliveries (matching ``condition``) and push them
    concurrently, so a fan-out to many instances takes about as long as the slowest push. Returns
    ``{delivery id: the state it ended in}`` (empty: nothing was due)."""
    batch = _claim(condition)
    return dict(zip((d.pk for d in batch), _push_all(batch))) if batch else {}


def send_publication(publication_id) -> int:
    """Push the due deliveries of one publication, batch after batch, as the worker would; returns how many
    were pushed (those that failed wait for their backoff)."""
    pushed = 0
    while outcomes := deliver_due(Q(publication_id=publication_id)):
        pushed += len(outcomes)
    return pushed


def send(delivery_id) -> str | None:
    """Claim and push one delivery if it is due; returns the state it ended in (None: it was not due, or
    not ours to send)."""
    return next(iter(deliver_due(Q(pk=delivery_id)).values()), None)


def _push_all(batch: list[Delivery]) -> list[str]:
    """Push its project's current bundle, in the formats the instance reads, to every claimed delivery of
    ``batch``; record each outcome.

    A push's failure is that delivery's alone (:func:`_push` turns every error into its outcome). If the
    batch itself fails (building the bundle, the database), each claim is handed back counted — retried
    after a backoff, failed after MAX_ATTEMPTS — before the error propagates, so nothing waits for its
    claim to expire and nothing is retried forever.
    """
    try:
        # Per instance, its channel's current release for its cohort: at least as new as each publication of
        # the batch (a roll back since is pushed instead), in the formats the instance registered (a client
        # of the previous release gets no test summaries).
        payloads, keyed, heads = {}, {}, {}
        for delivery in batch:
            instance = delivery.instance
            channel = instance.channel or delivery.publication.channel
            if channel.pk not in heads:
                heads[channel.pk] = channels.head(channel)
            release = channels.served_release(heads[channel.pk], instance.instance_id, instance.labels)
            formats = instance.bundle_formats or [1]  # (a client of the first release does not say)
            key = keyed[delivery.pk] = (release.pk if release else channel.pk, format_ceiling(formats))
            if key not in payloads:
                payloads[key] = canonical(build_bundle(channel, formats, release))
        workers = min(PARALLEL, len(batch))
        # No connection is kept for another push: one made with one receiver's TLS name (SNI) must not carry
        # another's request to the same address. No proxy from the environment: it would resolve the
        # receiver's name itself, after the check (destinations.py).
        with httpx.Client(timeout=PUSH_TIMEOUT, trust_env=False,
                          limits=httpx.Limits(max_connections=workers, max_keepalive_connections=0)) as http, \
                ThreadPoolExecutor(max_workers=workers) as pool:
            outcomes = list(pool.map(lambda d: _push(http, d, payloads[keyed[d.pk]]), batch))
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
        # Checked again now (its DNS may point elsewhere since it registered), and sent to the checked address.
        check_url(instance.receiver_url)  # a row stored before registration checked URLs
        target = destinations.pin(instance.receiver_url)
    except ValidationError as exc:
        return Unusable(f"the receiver URL cannot be used: {exc}"[:500])
    except destinations.Unresolved as exc:
        return f"could not resolve the receiver's host: {exc}"  # like a network error: retried
    except destinations.Refused as exc:
        return Unusable(f"refused to push: {exc}"[:500])
    except Exception as exc:
        return Unusable(f"the receiver URL cannot be used: {exc.__class__.__name__}: {exc}"[:500])
    try:
        return http.post(target.url, content=payload, extensions=target.extensions,
                         headers={**target.headers, "Authorization": f"Bearer {instance.receiver_secret}",
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
