"""Errors raised by the service layer.

Each carries an API error ``type`` (see docs/api.md) so the adapters (API, web,
CLI) present them without guessing: the API maps them to status codes, the web
UI to flash messages, the CLI to a message and a non-zero exit.
"""

from __future__ import annotations


class AnvilError(Exception):
    type = "server_error"
    status = 500

    def __init__(self, message: str, details: list[dict] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []


class NotFound(AnvilError):
    """The thing does not exist, or the caller may not know that it does."""

    type = "not_found_error"
    status = 404


class PermissionDenied(AnvilError):
    """The caller can see the thing but their role may not do this."""

    type = "authorization_error"
    status = 403


class ValidationError(AnvilError):
    """The input is wrong; ``details`` names the fields."""

    type = "validation_error"
    status = 422

    @classmethod
    def field(cls, field: str, message: str) -> "ValidationError":
        return cls(message, [{"field": field, "message": message}])


class PreconditionFailed(AnvilError):
    """The caller's precondition (an ``If-Match`` ETag) no longer holds: the thing changed meanwhile."""

    type = "precondition_failed"
    status = 412


class Conflict(AnvilError):
    """The input is fine but clashes with the stored state (duplicate, wrong status)."""

    type = "conflict_error"
    status = 409
