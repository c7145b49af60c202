"""The HTTP client this FORGE uses to browse its known forges (docs/peering.md).

One function per remote read; each makes exactly one HTTP request (no
retries, no redirects followed), with short timeouts
(``ANVIL_PEER_CONNECT_TIMEOUT``, ``ANVIL_PEER_READ_TIMEOUT``; an export may
read three times longer) and a cap on the answer's size. Every failure is a
:class:`RemoteError` subclass whose ``message`` says what happened in words a
Context Engineer understands:

=====================  ==========================================================
:class:`Unreachable`   no connection (refused, unknown host, reset, bad address)
:class:`TimedOut`      no connection or no answer within the timeout
:class:`Unauthorised`  the remote refused the token (401) or its user's rights (403)
:class:`RemoteNotFound`  the remote has no such thing, or the token's user may not see it
:class:`Malformed`     the answer is not what an Anvil FORGE answers (not JSON, wrong shape, redirect, too big)
:class:`RemoteFailed`  the remote answered with an error of its own (5xx, 429, …)
=====================  ==========================================================

The token goes into the ``Authorization`` header and nowhere else: not into
messages, logs or reprs.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import httpx
from django.conf import settings
from pydantic import ValidationError as PydanticValidationError

from anvil_forge.core import jsonin

from .known_forges import KnownForge
from .wire import ForgeInfo, ForgeOrganisation, ForgeProject, ForgeProjectDetail, RemotePage

logger = logging.getLogger("anvil_forge.peering")

BROWSE_MAX_BYTES = 16 * 1024 * 1024
EXPORT_MAX_BYTES = 64 * 1024 * 1024
PAGE_LIMIT = 200


class RemoteError(Exception):
    """A remote FORGE could not give what was asked. ``kind`` is a short word; ``message`` is for people."""

    kind = "failed"
    label = "failed"  # for people

    def __init__(self, forge: KnownForge, message: str, status: int | None = None):
        token = forge.token.reveal()
        if token and token in message:  # a remote that echoes what it was sent must not leak it through us
            message = message.replace(token, "•••")
        super().__init__(message)
        self.forge_name = forge.name
        self.message = message
        self.status = status

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.forge_name!r}, {self.message!r})"


class Unreachable(RemoteError):
    kind = "unreachable"
    label = "unreachable"  # for people


class TimedOut(RemoteError):
    kind = "timeout"
    label = "timed out"  # for people


class Unauthorised(RemoteError):
    kind = "unauthorised"
    label = "unauthorised"  # for people


class RemoteNotFound(RemoteError):
    kind = "not_found"
    label = "not found"  # for people


class Malformed(RemoteError):
    kind = "malformed"
    label = "malformed answer"  # for people


class RemoteFailed(RemoteError):
    kind = "failed"
    label = "remote error"  # for people


def _timeout(read_factor: float = 1.0) -> httpx.Timeout:
    connect = settings.ANVIL_PEER_CONNECT_TIMEOUT
    read = settings.ANVIL_PEER_READ_TIMEOUT * read_factor
    return httpx.Timeout(connect=connect, read=read, write=read, pool=connect)


def _user_agent() -> str:
    from .queries import anvil_version

    return f"anvil-forge/{anvil_version()} (peering)"


def _remote_message(body: bytes) -> str:
    """The ``error.message`` of an Anvil error envelope, shortened; "" when there is none."""
    try:
        message = jsonin.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):  # BadJSON is a ValueError
        return ""
    return message[:200] if isinstance(message, str) else ""


def _get(forge: KnownForge, path: str, params: dict | None = None, *, what: str, max_bytes: int | None = None,
         read_factor: float = 1.0) -> Any:
    """GET ``<forge>/api/v1<path>`` once and return its JSON, or raise the RemoteError that says why not."""
    max_bytes = BROWSE_MAX_BYTES if max_bytes is None else max_bytes
    url = forge.api_url + path
    timeout = _timeout(read_factor)
    headers = {"Authorization": f"Bearer {forge.token.reveal()}", "Accept": "application/json",
               "User-Agent": _user_agent()}
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            with client.stream("GET", url, params=params or None, headers=headers) as response:
                status = response.status_code
                content_type = response.headers.get("Content-Type", "")
                location = response.headers.get("Location", "")
                received = bytearray()
                for chunk in response.iter_bytes():
                    received.extend(chunk)
                    if len(received) > max_bytes:
                        raise _fail(Malformed(forge, f"{forge.name} sent more than {max_bytes // (1024 * 1024)} MB "
                                                     f"for {what}; refused"))
    except httpx.TimeoutException as exc:
        seconds = timeout.connect if isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout)) else timeout.read
        phase = "connect" if isinstance(exc, httpx.ConnectTimeout) else "answer"
        raise _fail(TimedOut(forge, f"{forge.name} did not {phase} within {seconds:g} s "
                                    f"({forge.url}); it may be down or overloaded")) from None
    except (httpx.InvalidURL, httpx.UnsupportedProtocol):
        raise _fail(Unreachable(forge, f"{forge.name}: its address {forge.url} is not a valid http(s) URL")) from None
    except httpx.ConnectError as exc:
        raise _fail(Unreachable(forge, f"cannot reach {forge.name} at {forge.url}: {_reason(exc)}")) from None
    except httpx.HTTPError as exc:  # read errors, protocol errors, a connection closed mid-answer
        raise _fail(Unreachable(forge, f"the connection to {forge.name} ({forge.url}) failed: {_reason(exc)}")) \
            from None
    body = bytes(received)
    if status == 200:
        if "json" not in content_type:
            raise _fail(Malformed(forge, f"{forge.name} did not answer with JSON for {what} "
                                         f"(is {forge.url} an Anvil FORGE?)", status))
        try:
            return jsonin.loads(body)
        except jsonin.BadJSON as exc:
            raise _fail(Malformed(forge, f"{forge.name} answered {what} with broken JSON: {exc.message}",
                                  status)) from None
    remote = _remote_message(body)
    said = f": {remote}" if remote else ""
    if status == 401:
        raise _fail(Unauthorised(forge, f"{forge.name} refused the API key configured for it (401){said}. "
                                        "Ask the operator to check its token", status))
    if status == 403:
        raise _fail(Unauthorised(forge, f"{forge.name} does not let the configured API key see {what} (403){said}",
                                 status))
    if status == 404:
        raise _fail(RemoteNotFound(forge, f"{forge.name} has no {what}, or the configured key's user may not see it",
                                   status))
    if 300 <= status < 400:
        raise _fail(Malformed(forge, f"{forge.name} redirected the request for {what} to "
                                     f"{location[:200] or 'another address'} (is {forge.url} the FORGE's address?)",
                              status))
    if status == 429:
        raise _fail(RemoteFailed(forge, f"{forge.name} is rate-limiting this FORGE (429); try again in a minute",
                                 status))
    raise _fail(RemoteFailed(forge, f"{forge.name} answered the request for {what} with an error "
                                    f"(HTTP {status}){said}", status))


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    if "refused" in text.lower():
        return "connection refused (is it running?)"
    if "name or service not known" in text.lower() or "nodename nor servname" in text.lower() \
            or "name resolution" in text.lower():
        return "its host name is unknown"
    return text[:200] or type(exc).__name__


def _fail(error: RemoteError) -> RemoteError:
    logger.warning("peering: %s: %s", error.kind, error.message)
    return error


def _shape(forge: KnownForge, model, data: Any, what: str):
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "the answer"
        raise _fail(Malformed(forge, f"{forge.name} answered {what} in an unexpected shape "
                                     f"({where}: {first.get('msg', 'not valid')})")) from None


def _page_params(cursor: str | None) -> dict:
    params: dict[str, Any] = {"limit": PAGE_LIMIT}
    if cursor:
        params["cursor"] = cursor
    return params


# --- the reads ---------------------------------------------------------------------------------

def info(forge: KnownForge) -> ForgeInfo:
    """Name, version and public key of the remote FORGE; also the reachability check."""
    return _shape(forge, ForgeInfo, _get(forge, "/forge/info", what="its identity"), "its identity")


def organisations(forge: KnownForge, cursor: str | None = None) -> RemotePage[ForgeOrganisation]:
    """The remote organisations the key's user may see (one page of up to 200)."""
    data = _get(forge, "/forge/organisations", _page_params(cursor), what="the list of organisations")
    return _shape(forge, RemotePage[ForgeOrganisation], data, "the list of organisations")


def projects(forge: KnownForge, organisation_id, cursor: str | None = None) -> RemotePage[ForgeProject]:
    """The projects of one remote organisation (one page of up to 200)."""
    path = f"/forge/organisations/{_uuid(forge, organisation_id, 'organisation')}/projects"
    data = _get(forge, path, _page_params(cursor), what="that organisation")
    return _shape(forge, RemotePage[ForgeProject], data, "the list of projects")


def project(forge: KnownForge, project_id) -> ForgeProjectDetail:
    """One remote project with its prompt sets, versions and prompts."""
    data = _get(forge, f"/forge/projects/{_uuid(forge, project_id, 'project')}", what="that project")
    return _shape(forge, ForgeProjectDetail, data, "the project")


def export(forge: KnownForge, project_id) -> dict:
    """The remote project's archive (checked by :func:`.archive.validate` when it is imported)."""
    data = _get(forge, f"/projects/{_uuid(forge, project_id, 'project')}/export", what="that project's export",
                max_bytes=EXPORT_MAX_BYTES, read_factor=3.0)
    if not isinstance(data, dict):
        raise _fail(Malformed(forge, f"{forge.name} answered the export with something that is not an archive"))
    return data


def _uuid(forge: KnownForge, value, what: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise RemoteNotFound(forge, f"{forge.name} has no {what} {str(value)[:60]!r}") from None
