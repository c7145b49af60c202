"""Counters that guard security, as a ``limits`` storage over the database (the ``Counter`` table).

The sign-in and e-mail throttles count here, not in a cache: a cache evicts (Django's local-memory cache
holds 300 entries, so a flood of requests with made-up keys used to evict a lockout), forgets on restart
and is per process without Redis. A row per window, one atomic upsert per hit — the same SQL on SQLite
(3.35+) and PostgreSQL — so hits made at the same moment are all counted and each sees its own count.

Rows expire by time: a hit on an expired row starts a new window in the same statement, and expired rows
are deleted now and then (:func:`DatabaseStorage.sweep`), so the table stays as small as the live windows.
"""

from __future__ import annotations

import itertools
import time

from django.db import DatabaseError, connection
from django.db.models import F
from limits.storage import Storage

from .models import Counter

SWEEP_EVERY = 256  # hits between two deletions of expired rows (per process)


class DatabaseStorage(Storage):
    STORAGE_SCHEME = None  # built directly, never from a URI

    def __init__(self) -> None:
        super().__init__()
        self._hits = itertools.count(1)

    @property
    def base_exceptions(self):
        return DatabaseError

    @staticmethod
    def _table() -> tuple[str, str, str, str]:
        quote = connection.ops.quote_name
        return quote(Counter._meta.db_table), quote("key"), quote("count"), quote("expires_at")

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        """Add ``amount`` to the live window of ``key`` (a new window of ``expiry`` s if there is none);
        returns the count after it, atomically."""
        if next(self._hits) % SWEEP_EVERY == 0:
            self.sweep()
        table, key_, count, expires = self._table()
        now = time.time()
        # Every SET expression sees the row as it was, so both CASEs test the old expiry.
        sql = (f"INSERT INTO {table} ({key_}, {count}, {expires}) VALUES (%s, %s, %s) "
               f"ON CONFLICT ({key_}) DO UPDATE SET "
               f"{count} = CASE WHEN {table}.{expires} <= %s THEN %s ELSE {table}.{count} + %s END, "
               f"{expires} = CASE WHEN {table}.{expires} <= %s THEN %s ELSE {table}.{expires} END "
               f"RETURNING {count}")
        with connection.cursor() as cursor:
            cursor.execute(sql, [key, amount, now + expiry, now, amount, amount, now, now + expiry])
            return int(cursor.fetchone()[0])

    def decr(self, key: str, amount: int = 1) -> None:
        """Take back ``amount`` from the live window of ``key``, never below zero; no window is created."""
        Counter.objects.filter(key=key, expires_at__gt=time.time(), count__gte=amount).update(
            count=F("count") - amount)

    def get(self, key: str) -> int:
        row = Counter.objects.filter(key=key, expires_at__gt=time.time()).values_list("count", flat=True).first()
        return int(row or 0)

    def get_expiry(self, key: str) -> float:
        row = Counter.objects.filter(key=key, expires_at__gt=time.time()).values_list("expires_at", flat=True).first()
        return float(row or time.time())

    def check(self) -> bool:
        try:
            Counter.objects.exists()
        except DatabaseError:
            return False
        return True

    def reset(self) -> int | None:
        return Counter.objects.all().delete()[0]

    def clear(self, key: str) -> None:
        Counter.objects.filter(key=key).delete()

    @staticmethod
    def sweep() -> int:
        """Delete the windows that ended; returns how many."""
        return Counter.objects.filter(expires_at__lte=time.time()).delete()[0]

