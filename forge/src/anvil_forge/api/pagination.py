"""Cursor pagination: ``?cursor=&limit=`` → ``{"data": [...], "meta": {"next_cursor", "has_more"}}``.

Keyset pagination over a fixed, unique ordering (by default ``created_at``
then ``id``): the cursor holds the ordering values of the last item of the
page, and the next page is "everything after it" in that order, so items
added or removed meanwhile never shift a page (no duplicates, no gaps among
the items that stay). The cursor is opaque to clients: URL-safe base64 of a
small JSON array naming the ordering and the values; one made for another
list or tampered with is refused with 400.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import uuid
from typing import Generic, TypeVar

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q, QuerySet
from ninja import Field, Query, Schema

from anvil_forge.core.errors import ValidationError

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
CREATION_ORDER = ("created_at", "id")
NEWEST_FIRST = ("-created_at", "-id")

T = TypeVar("T")


class PageParams(Schema):
    cursor: str | None = Field(None, max_length=512, description="`meta.next_cursor` of the previous page")
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=f"items per page (1-{MAX_LIMIT})")


class PageMeta(Schema):
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")
    has_more: bool


class Page(Schema, Generic[T]):
    data: list[T]
    meta: PageMeta


class BadCursor(ValidationError):
    status = 400


def _bad_cursor() -> BadCursor:
    return BadCursor("the cursor is not valid for this list: start again without one",
                     [{"field": "cursor", "message": "not valid"}])


def _plain(value):
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def encode_cursor(order: tuple[str, ...], values: list) -> str:
    raw = json.dumps([",".join(order), *[_plain(v) for v in values]], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(model, order: tuple[str, ...], cursor: str) -> list:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        items = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise _bad_cursor() from None
    if not isinstance(items, list) or len(items) != len(order) + 1 or items[0] != ",".join(order):
        raise _bad_cursor()
    values = []
    for key, value in zip(order, items[1:]):
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise _bad_cursor()
        try:
            field = model._meta.get_field(key.lstrip("-"))
            value = field.to_python(value)
        except (FieldDoesNotExist, DjangoValidationError, ValueError, TypeError, OverflowError):
            raise _bad_cursor() from None
        if value is None or (isinstance(value, str) and "\x00" in value):
            raise _bad_cursor()
        if isinstance(value, datetime.datetime) and value.tzinfo is None:
            raise _bad_cursor()
        values.append(value)
    return values


def _after(order: tuple[str, ...], values: list) -> Q:
    """Rows strictly after ``values`` in ``order`` (lexicographic, each key ascending or ``-``descending)."""
    condition = Q()
    for i, key in enumerate(order):
        name = key.lstrip("-")
        step = Q(**{f"{name}__{'lt' if key.startswith('-') else 'gt'}": values[i]})
        for j in range(i):
            step &= Q(**{order[j].lstrip("-"): values[j]})
        condition |= step
    return condition


def paginate(queryset: QuerySet, params: PageParams, order: tuple[str, ...] = CREATION_ORDER) -> dict:
    """One page of ``queryset`` in ``order`` (whose last key must be unique)."""
    queryset = queryset.order_by(*order)
    if params.cursor:
        queryset = queryset.filter(_after(order, decode_cursor(queryset.model, order, params.cursor)))
    items = list(queryset[: params.limit + 1])
    has_more = len(items) > params.limit
    items = items[: params.limit]
    next_cursor = None
    if has_more:
        last = items[-1]
        next_cursor = encode_cursor(order, [getattr(last, key.lstrip("-")) for key in order])
    return {"data": items, "meta": {"next_cursor": next_cursor, "has_more": has_more}}


PageQuery = Query[PageParams]
