"""Per-row counts and latest times as subqueries: one way, so lists of N rows cost one query, not N."""

from __future__ import annotations

from django.db.models import Count, DateTimeField, F, IntegerField, Max, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce, Greatest


def count_of(qs, path: str):
    """How many rows of ``qs`` have ``path`` equal to the outer row (0 when none)."""
    counted = qs.filter(**{path: OuterRef("pk")}).order_by().values(path).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def latest_of(qs, path: str, field: str):
    """The newest ``field`` among the rows of ``qs`` whose ``path`` is the outer row (NULL when none)."""
    newest = qs.filter(**{path: OuterRef("pk")}).order_by().values(path).annotate(m=Max(field)).values("m")
    return Subquery(newest, output_field=DateTimeField())


def last_updated(own: str, *parts):
    """``Greatest`` of the outer row's own time and the newest times of its contents (each defaulting to it)."""
    return Greatest(F(own), *[Coalesce(part, F(own)) for part in parts], output_field=DateTimeField())
