"""ETags on single-resource GETs, and ``If-None-Match`` → 304.

Mark a GET handler with :func:`etag`. The API middleware then hashes the JSON
body of its 200 response into a strong ETag (``"<first 32 hex of SHA-256>"``:
the same bytes give the same tag) and answers 304 with no body when the
request's ``If-None-Match`` lists it (or ``*``). Weak tags in the request
(``W/"…"``) are compared weakly, as RFC 9110 says for ``If-None-Match``. The
decorator also documents the header and the 304 in the OpenAPI document.
"""

from __future__ import annotations

import functools
import hashlib
import inspect

from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.utils.http import parse_etags
from ninja.utils import contribute_operation_callback

IF_NONE_MATCH = {
    "in": "header",
    "name": "If-None-Match",
    "required": False,
    "schema": {"type": "string"},
    "description": "An ETag from an earlier response: 304 Not Modified (no body) if the resource still has it.",
}
ETAG_HEADER = {"description": "Strong validator of the body: a hash of its JSON.", "schema": {"type": "string"}}


def _document(operation) -> None:
    operation.response_models[304] = None
    extra = operation.openapi_extra or {}
    extra.setdefault("parameters", []).append(IF_NONE_MATCH)
    extra.setdefault("responses", {}).setdefault(200, {}).setdefault("headers", {})["ETag"] = ETAG_HEADER
    operation.openapi_extra = extra


def etag(view):
    """Give this GET handler's 200 responses an ETag and honour ``If-None-Match``."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        setattr(request, "_anvil_etag", True)  # a mark for apply(), read with getattr
        return view(request, *args, **kwargs)

    # ninja reads annotations with the wrapper's globals: give it the view's, resolved in the view's
    # module (which matters when that module uses `from __future__ import annotations`).
    try:
        wrapper.__signature__ = inspect.signature(view, eval_str=True)
    except NameError:
        pass
    contribute_operation_callback(wrapper, _document)
    return wrapper


def tag_of(content: bytes) -> str:
    return '"' + hashlib.sha256(content).hexdigest()[:32] + '"'


def matches(request: HttpRequest, tag: str) -> bool:
    """Whether the request's ``If-None-Match`` names ``tag`` (or ``*``; weak tags compared weakly)."""
    return _matches(request.headers.get("If-None-Match", ""), tag)


def _matches(header: str, tag: str) -> bool:
    if header.strip() == "*":
        return True
    wanted = tag.removeprefix("W/")
    return any(candidate.removeprefix("W/") == wanted for candidate in parse_etags(header))


def apply(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Called by the middleware on every API response; acts only on marked GETs answered 200."""
    if not getattr(request, "_anvil_etag", False) or request.method not in ("GET", "HEAD"):
        return response
    if response.status_code != 200 or response.streaming:
        return response
    tag = tag_of(response.content)
    header = request.headers.get("If-None-Match")
    if header and _matches(header, tag):
        not_modified = HttpResponseNotModified()
        not_modified["ETag"] = tag
        return not_modified
    response["ETag"] = tag
    return response
