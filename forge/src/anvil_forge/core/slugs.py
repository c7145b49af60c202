"""Slugs: lowercase ``[a-z0-9_-]``, no dots (a dot separates set and prompt in flat ids)."""

import re

from django.utils.text import slugify

from .errors import ValidationError

SLUG_RE = re.compile(r"^[a-z0-9_-]{1,64}$")


def make_slug(name: str) -> str:
    return slugify(name)[:64].strip("-") or "item"


def check_slug(value: str, field: str = "slug") -> str:
    if not SLUG_RE.match(value or ""):
        raise ValidationError.field(
            field, f"{field} {value!r} is not valid: use 1-64 lowercase letters, digits, '-' and '_'"
        )
    return value
