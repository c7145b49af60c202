"""Who is calling: an API key (``Authorization: Bearer ank_…``) or a browser session.

* A key must be active, its user active, and carry the scope the method needs:
  ``read`` for GET (and HEAD/OPTIONS) and for the render operations (POSTs
  that change nothing), ``write`` for everything else; a key without it gets
  403. A bad, revoked or malformed key gets 401 (a session cookie sent with
  it does not rescue it: the header wins).
* A session (Django's login) works too; unsafe methods must pass Django's
  CSRF check (``X-CSRFToken`` header with the ``csrftoken`` cookie), else 403.
* Neither → 401.

The handlers read the acting user with :func:`actor`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.http import HttpRequest
from ninja.errors import AuthenticationError
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from anvil_forge.accounts.services import authenticate_api_key
from anvil_forge.core.errors import PermissionDenied
from anvil_forge.distribution.services import authenticate_access_token

if TYPE_CHECKING:  # for the annotation only: adapters use the accounts face
    from anvil_forge.accounts.models import ApiKey, User

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_UNSET = object()


def bearer_token(request: HttpRequest) -> str | None:
    """The token of an ``Authorization: Bearer …`` header; "" for another scheme or an empty token."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _once(request: HttpRequest, attribute: str, authenticate):
    """``authenticate(bearer token)`` for this request, looked up once and kept on the request (the rate
    limiter and the endpoint's auth share it); None without a bearer token."""
    cached = getattr(request, attribute, _UNSET)
    if cached is _UNSET:
        token = bearer_token(request)
        cached = authenticate(token) if token else None
        setattr(request, attribute, cached)
    return cached


def api_key_of(request: HttpRequest) -> ApiKey | None:
    """The valid API key the request presents, or None."""
    return _once(request, "_anvil_api_key", authenticate_api_key)


def access_token_of(request: HttpRequest):
    """The valid project access token the request presents, or None."""
    return _once(request, "_anvil_access_token", authenticate_access_token)


def scope_for(method: str) -> str:
    return "read" if method.upper() in SAFE_METHODS else "write"


class ApiKeyAuth(HttpBearer):
    """``Authorization: Bearer ank_…``: a user's API key with the scope the method needs.

    ``scope`` fixes the scope for operations that change nothing although they are POSTs (rendering).
    """

    def __init__(self, scope: str | None = None):
        self.scope = scope
        super().__init__()

    def __call__(self, request: HttpRequest):
        token = bearer_token(request)
        if token is None:
            return None  # no header: let the session try
        if not token:
            raise AuthenticationError(401, "the Authorization header must be 'Bearer <API key>'")
        return self.authenticate(request, token)

    def authenticate(self, request: HttpRequest, token: str):
        key = api_key_of(request)
        if key is None:
            raise AuthenticationError(401, "the API key is not valid (unknown, revoked, expired, or its user is "
                                           "inactive)")
        needed = self.scope or scope_for(request.method or "")  # always set on a request being handled
        if not key.allows(needed):
            raise PermissionDenied(f"this API key does not have the '{needed}' scope",
                                   [{"field": "scopes", "message": f"'{needed}' is needed for {request.method}"}])
        setattr(request, "api_key", key)
        return key.user


class SessionAuth(APIKeyCookie):
    """A signed-in browser session; unsafe methods need Django's CSRF token (``X-CSRFToken``)."""

    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self):
        super().__init__(csrf=True)

    def __call__(self, request: HttpRequest):
        return self.authenticate(request, request.COOKIES.get(self.param_name))

    def authenticate(self, request: HttpRequest, key):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not user.is_active:
            return None
        if request.method not in SAFE_METHODS and check_csrf(request) is not None:
            raise PermissionDenied("CSRF check failed: send the csrftoken cookie's value in the X-CSRFToken header",
                                   [{"field": "X-CSRFToken", "message": "missing or wrong"}])
        setattr(request, "api_key", None)
        return user


AUTH = [ApiKeyAuth(), SessionAuth()]
READ_ONLY_AUTH = [ApiKeyAuth(scope="read"), SessionAuth()]


def actor(request: HttpRequest) -> User:
    """The authenticated user of this request."""
    return request.auth  # type: ignore[attr-defined]  # set by ninja once an authenticator accepted the request
