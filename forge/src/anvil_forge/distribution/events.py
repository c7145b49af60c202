"""Publish events for streaming clients (Server-Sent Events).

``announce(project_id, sequence)`` is called after a publish commits. Every
FORGE process keeps its streaming subscribers in memory; on PostgreSQL the
announcement travels through ``NOTIFY anvil_publish`` so subscribers of every
process hear it (a listener thread per process does ``LISTEN``). On SQLite it is
dispatched in-process at once and also written as an ``Announcement`` row, which
a poller thread in every other process (another ``anvil serve`` worker, or the
server when ``anvil publish`` ran in a shell) reads within POLL_SECONDS.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
import time
import uuid
from collections import defaultdict
from contextlib import contextmanager
from datetime import timedelta

from django.db import connection
from django.utils import timezone

log = logging.getLogger(__name__)
CHANNEL = "anvil_publish"
MAX_TARGETS_BYTES = 6000  # PostgreSQL's NOTIFY payload is limited to 8000 bytes
POLL_SECONDS = 0.2  # SQLite: how often each process looks for other processes' announcements
KEEP_SECONDS = 600  # SQLite: announcement rows older than this are deleted (a poller reads them long before)
ORIGIN = uuid.uuid4().hex  # this process, so its poller skips what it dispatched itself


class Broker:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Queue]]] = defaultdict(set)
        self._listener: threading.Thread | None = None
        self._ready = threading.Event()

    @contextmanager
    def subscribe(self, project_id: str):
        """A queue that receives ``{"sequence": n, "channel": name}`` for every release of the project (of
        any channel: the subscriber keeps its own)."""
        self._ensure_listener()
        entry: tuple[asyncio.AbstractEventLoop, asyncio.Queue[dict]] = (asyncio.get_running_loop(),
                                                                        asyncio.Queue(maxsize=100))
        with self._lock:
            self._subscribers[str(project_id)].add(entry)
        try:
            yield entry[1]
        finally:
            with self._lock:
                self._subscribers[str(project_id)].discard(entry)

    def subscriber_count(self, project_id: str | None = None) -> int:
        with self._lock:
            if project_id is not None:
                return len(self._subscribers.get(str(project_id), ()))
            return sum(len(s) for s in self._subscribers.values())

    def dispatch(self, message: dict) -> None:
        with self._lock:
            targets = list(self._subscribers.get(str(message.get("project")), ()))
        for loop, queue in targets:
            loop.call_soon_threadsafe(_offer, queue, message)

    def announce(self, project_id, sequence: int, channel: str = "production", targets: dict | None = None) -> None:
        """Tell the project's streams that ``channel``'s head is ``sequence`` (a release, or a rollout that
        grew) and, in ``targets``, whom it reaches (left out if too large for a notification: the streams
        then look it up)."""
        message = {"project": str(project_id), "sequence": sequence, "channel": channel}
        if targets and len(json.dumps(targets)) <= MAX_TARGETS_BYTES:
            message["targets"] = targets
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, json.dumps(message)])
            return
        self.dispatch(message)
        from .models import Announcement

        Announcement.objects.create(origin=ORIGIN, message=message)
        if random.random() < 0.05:  # noqa: S311 (not a secret) - now and then, the old rows go
            Announcement.objects.filter(created_at__lt=timezone.now() - timedelta(seconds=KEEP_SECONDS)).delete()

    # --- PostgreSQL LISTEN -----------------------------------------------------------

    def _ensure_listener(self) -> None:
        if self._listener and self._listener.is_alive():
            return
        with self._lock:
            if self._listener and self._listener.is_alive():
                return
            self._ready.clear()
            listen = self._listen if connection.vendor == "postgresql" else self._poll
            self._listener = threading.Thread(target=listen, name="anvil-listen", daemon=True)
            self._listener.start()
        self._ready.wait(timeout=5)  # so a publish right after subscribing is not missed

    def _listen(self) -> None:
        import psycopg

        params = connection.get_connection_params()
        delay = 0.5
        while True:
            try:
                with psycopg.connect(**params, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._ready.set()
                    delay = 0.5
                    for notify in conn.notifies():
                        try:
                            self.dispatch(json.loads(notify.payload))
                        except ValueError:
                            log.warning("anvil: ignored a malformed %s notification", CHANNEL)
            except Exception as exc:  # reconnect with backoff; never let the thread die
                log.warning("anvil: LISTEN connection lost (%s); retrying in %.1fs", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 10)


    # --- SQLite: the rows are the channel --------------------------------------------------

    def _poll(self) -> None:
        from django.db import close_old_connections

        from .models import Announcement

        last = None
        while True:
            try:
                if last is None:  # only what is announced from now on
                    last = Announcement.objects.order_by("-id").values_list("id", flat=True).first() or 0
                    self._ready.set()
                for row_id, origin, message in (Announcement.objects.filter(id__gt=last).order_by("id")
                                                .values_list("id", "origin", "message")):
                    last = row_id
                    if origin != ORIGIN:
                        self.dispatch(message)
            except Exception as exc:  # never let the thread die; a locked or moved database recovers
                log.warning("anvil: reading announcements failed (%s); retrying", exc)
                close_old_connections()
            time.sleep(POLL_SECONDS)


def _offer(queue: asyncio.Queue, message: dict) -> None:
    if queue.full():  # a subscriber that does not read only needs the newest sequence
        try:
            queue.get_nowait()
        except asyncio.QueueEmpty:
            pass
    queue.put_nowait(message)


broker = Broker()
