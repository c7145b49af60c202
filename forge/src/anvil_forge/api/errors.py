"""The error envelope, and the one place that maps errors to it.

Every error answered under ``/api/v1`` has this shape (docs/api.md)::

    {"error": {"type": "...", "message": "...", "details": [{"field": "...", "message": "..."}]}}

:func:`install` registers the handlers on the NinjaAPI: the service layer's
``AnvilError`` subclasses carry their own ``type`` and ``status``; ninja's own
errors (request validation, unparsable bodies, missing credentials) and any
unexpected exception are translated here. :func:`envelope_for` is used by the
API middleware for what happens outside ninja (unknown routes, 405, 500).
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent, TooManyFilesSent
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI
from ninja import errors as ninja_errors

from anvil_forge.core.errors import AnvilError
from anvil_forge.core.jsonin import BadJSON

logger = logging.getLogger("anvil_forge.api")

# status -> error type, for errors that do not carry their own
TYPES = {
    400: "validation_error",
    401: "authentication_error",
    403: "authorization_error",
    404: "not_found_error",
    405: "not_found_error",
    409: "conflict_error",
    413: "validation_error",
    415: "validation_error",
    422: "validation_error",
    429: "rate_limit_error",
}


def error_body(type_: str, message: str, details: list[dict] | None = None) -> dict:
    return {"error": {"type": type_, "message": message, "details": details or []}}


def error_response(status: int, message: str, details: list[dict] | None = None, *, type_: str | None = None) -> JsonResponse:
    type_ = type_ or TYPES.get(status, "server_error" if status >= 500 else "validation_error")
    return JsonResponse(error_body(type_, message, details), status=status)


def _field_of(loc) -> str:
    """ninja's ("body", "payload", "name") → "name"; ("query", "limit") → "limit"; ("path", "id") → "id"."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie", "form", "file"}:
        source, parts = parts[0], parts[1:]
        if source == "body":
            parts = parts[1:]  # drop the handler's argument name: the body itself is "body"
    return ".".join(parts) or "body"


def validation_details(errors: list[dict]) -> list[dict]:
    details = []
    for error in errors:
        message = error.get("msg") or "is not valid"
        if message.startswith("Value error, "):
            message = message[len("Value error, "):]
        details.append({"field": _field_of(error.get("loc", ())), "message": message})
    return details


def on_anvil_error(request: HttpRequest, exc: AnvilError) -> HttpResponse:
    return error_response(exc.status, exc.message, exc.details, type_=exc.type)


def on_validation_error(request: HttpRequest, exc: ninja_errors.ValidationError) -> HttpResponse:
    details = validation_details(exc.errors)
    fields = ", ".join(dict.fromkeys(d["field"] for d in details))
    return error_response(422, f"the request is not valid: check {fields}" if fields else "the request is not valid",
                          details)


def on_http_error(request: HttpRequest, exc: ninja_errors.HttpError) -> HttpResponse:
    status = exc.status_code
    message = str(exc)
    if isinstance(exc, ninja_errors.AuthenticationError) and message == "Unauthorized":
        message = "authentication required: send 'Authorization: Bearer <API key>' or sign in"
    elif isinstance(exc.__cause__, BadJSON):  # our parser refused the body (ninja wraps what it raises)
        cause = exc.__cause__
        return error_response(400, f"the request body is refused: {cause.message}",
                              [{"field": cause.field, "message": cause.message}])
    elif status == 400 and message.startswith("Cannot parse request body"):
        message = "the request body is not valid JSON"
    return error_response(status, message)


def on_too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return error_response(413, f"the request body is larger than {limit // 1024} KiB, the most this endpoint takes",
                          [{"field": "body", "message": "too large"}])


def on_suspicious(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
    if isinstance(exc, (TooManyFieldsSent, TooManyFilesSent)):
        return error_response(400, f"the form has too many fields or files: {exc}")
    return error_response(400, f"the request is refused: {str(exc)[:200] or exc.__class__.__name__}")


def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response(404, "not found")


def on_unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("unexpected error in %s %s", request.method, request.path)
    return server_error()


def server_error() -> JsonResponse:
    return error_response(500, "something went wrong on our side; it has been logged", type_="server_error")


def install(api: NinjaAPI) -> None:
    # The ignores: ninja types a handler's exception as "instance or class" (ExcHandler), but only ever
    # passes it the instance.
    api.add_exception_handler(AnvilError, on_anvil_error)  # type: ignore[arg-type]
    api.add_exception_handler(ninja_errors.ValidationError, on_validation_error)  # type: ignore[arg-type]
    api.add_exception_handler(ninja_errors.HttpError, on_http_error)  # type: ignore[arg-type]
    api.add_exception_handler(Http404, on_not_found)  # type: ignore[arg-type]
    api.add_exception_handler(RequestDataTooBig, on_too_big)  # type: ignore[arg-type]
    api.add_exception_handler(SuspiciousOperation, on_suspicious)  # type: ignore[arg-type]
    api.add_exception_handler(Exception, on_unexpected)  # type: ignore[arg-type]


def envelope_for(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Replace a non-JSON error response made outside ninja (unknown route, 405, 500) by the envelope."""
    if response.status_code < 400 or response.get("Content-Type", "").startswith("application/json"):
        return response
    status = response.status_code
    if status == 404:
        new = error_response(404, f"no such endpoint: {request.method} {request.path}")
    elif status == 405:
        allowed = response.get("Allow", "")
        new = error_response(405, f"{request.method} is not allowed on {request.path}"
                             + (f" (allowed: {allowed})" if allowed else ""))
        if allowed:
            new["Allow"] = allowed
    elif status >= 500:
        new = server_error()
    else:
        try:
            reason = HTTPStatus(status).phrase.lower()
        except ValueError:
            reason = "request refused"
        new = error_response(status, reason)
    return new
