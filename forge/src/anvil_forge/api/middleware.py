"""What every response under ``/api/v1/`` gets, whatever answered it.

* Rate limiting (:mod:`.ratelimit`): the request is counted first; over the
  limit it is answered 429 without running; every response carries
  ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset``.
* ETags for the GET handlers marked with :func:`.etag.etag` (304 when
  ``If-None-Match`` matches).
* The error envelope for responses made outside ninja: unknown routes (404),
  a method a path does not have (405), an unexpected exception (500), and a
  session signed out for being idle (the web UI's middleware redirects to the
  sign-in page; an API client gets 401 instead).

Placed after the authentication middleware (it needs ``request.user``).
"""

from __future__ import annotations

import logging

from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse

from . import errors, etag, ratelimit

PREFIX = "/api/v1/"
logger = logging.getLogger("anvil_forge.api")


class ApiMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(PREFIX):
            return self.get_response(request)
        usage = ratelimit.hit(request)
        response: HttpResponse
        if not usage.allowed:
            response = errors.error_response(
                429, f"too many requests: the limit is {usage.limit} per window; retry in {usage.retry_after} s",
                type_="rate_limit_error")
            response["Retry-After"] = str(usage.retry_after)
        else:
            response = self.get_response(request)
            if 300 <= response.status_code < 400 and response.status_code != 304:
                response = errors.error_response(401, "your session has ended: sign in again",
                                                 type_="authentication_error")
            response = errors.envelope_for(request, response)
            response = etag.apply(request, response)
        for name, value in usage.headers().items():
            response[name] = value
        return response

    def process_exception(self, request: HttpRequest, exception: Exception):
        if not request.path.startswith(PREFIX):
            return None
        if isinstance(exception, (Http404, PermissionDenied, SuspiciousOperation, BadRequest)):
            return None  # Django answers these (404, 403, 400); __call__ then puts them in the envelope
        logger.exception("unexpected error in %s %s", request.method, request.path)
        return errors.server_error()
