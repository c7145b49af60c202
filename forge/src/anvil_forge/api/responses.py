"""The error responses each operation documents in the OpenAPI document."""

from __future__ import annotations

from .schemas import ErrorOut

# Every operation may answer these: no or bad credentials, and the rate limit.
_ALWAYS = (401, 429)


def errors(*codes: int) -> dict:
    """``{status: ErrorOut}`` for 401 and 429 plus ``codes`` (400 bad body or cursor, 403 role or scope,
    404 not found / another organisation's, 409 conflict, 422 invalid input)."""
    return {code: ErrorOut for code in sorted({*_ALWAYS, *codes})}


READ = errors(403, 404, 422)
LIST = errors(400, 403, 404, 422)
WRITE = errors(400, 403, 404, 409, 413, 422)
DELETE = errors(403, 404, 409, 422)
