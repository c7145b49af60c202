"""A small client for the FORGE's REST API, for the project-files commands (``pull``, ``diff``, ``push``).

It speaks with a user's API key (``Authorization: Bearer ank_…``), not the project access token the LIVE
client syncs with. Every refusal becomes a :class:`ForgeError` carrying the FORGE's own message (the error
envelope of docs/api.md); the key is never part of a message. ``transport`` is the seam for tests
(``httpx.MockTransport``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ._remote import _is_loopback
from ._version import __version__
from .errors import AnvilClientError, ConfigurationError

if TYPE_CHECKING:
    import httpx

READ_ONLY_FIELDS = ("status", "version", "etag", "pushed_etag", "changes")
"""What the FORGE adds to a source document; never sent back."""

_WHAT = {401: "the FORGE refused the API key", 403: "the API key may not do this",
         404: "not found on the FORGE", 409: "refused by the FORGE", 412: "changed on the FORGE meanwhile",
         422: "the FORGE refused the content", 429: "the FORGE is rate limiting this key"}


class ForgeError(AnvilClientError):
    """The FORGE could not be reached or refused a request.

    ``status``: the HTTP status (None when nothing was answered); ``type`` and ``details``: the error
    envelope's; ``etag``: on a 412, the resource's current ETag (when the FORGE says).
    """

    def __init__(self, message: str, *, status: int | None = None, type: str | None = None,
                 details: list[dict[str, Any]] | None = None, etag: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.type = type
        self.details = details or []
        self.etag = etag


@dataclass
class Source:
    """A prompt set's source document as the FORGE answered it.

    ``document``: the content (without the read-only fields), as PUT takes it; ``etag``: its tag;
    ``status``: "live", "review" or "locked"; ``version``: the label when a version was asked for;
    ``pushed_etag``: the tag of what the last push wrote (None if never pushed).
    """

    document: dict[str, Any]
    etag: str
    status: str
    version: str | None
    pushed_etag: str | None

    @property
    def slug(self) -> str:
        return str(self.document.get("slug", ""))

    @classmethod
    def from_response(cls, body: Any, etag: str | None) -> Source:
        if not isinstance(body, dict) or not isinstance(body.get("slug"), str):
            raise ForgeError("the FORGE answered something that is not a source document")
        document = {k: v for k, v in body.items() if k not in READ_ONLY_FIELDS}
        tag = etag or body.get("etag")
        return cls(document=document, etag=str(tag or ""), status=str(body.get("status") or "live"),
                   version=body.get("version"), pushed_etag=body.get("pushed_etag"))


def _message(response: httpx.Response) -> tuple[str, str | None, list[dict[str, Any]], str | None]:
    """(message, type, details, etag) of an error response: the envelope ``{"error": {...}}`` or a plain
    ``{"detail": ...}``."""
    try:
        body = response.json()
    except ValueError:
        body = None
    message, type_, details, etag = "", None, [], None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            message = str(error.get("message") or "")
            type_ = error.get("type") if isinstance(error.get("type"), str) else None
            details = [d for d in error.get("details") or [] if isinstance(d, dict)]
            etag = error.get("etag") if isinstance(error.get("etag"), str) else None
        elif body.get("detail") is not None:
            message = str(body["detail"])
        if isinstance(body.get("etag"), str):
            etag = body["etag"]
    return message, type_, details, etag or response.headers.get("ETag")


class ForgeAPI:
    """One FORGE, one API key. Use as a context manager, or call :meth:`close`."""

    def __init__(self, forge_url: str | None, api_key: str | None, *, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        import httpx

        if not forge_url:
            raise ConfigurationError("the FORGE URL is needed: --forge-url, ANVIL_FORGE_URL or anvil.yaml's forge")
        if not api_key:
            raise ConfigurationError("an API key is needed: --api-key or ANVIL_API_KEY (it is never stored in files)")
        forge_url = forge_url.rstrip("/")
        if not forge_url.startswith(("http://", "https://")):
            raise ConfigurationError(f"the FORGE URL {forge_url!r} must start with https://")
        if not forge_url.startswith("https://") and not _is_loopback(forge_url) and transport is None:
            raise ConfigurationError("the FORGE URL must use https:// (plain http:// is allowed on loopback only)")
        self.forge_url = forge_url
        self.timeout = timeout
        self._http = httpx.Client(base_url=forge_url, timeout=timeout, transport=transport,
                                  headers={"Authorization": f"Bearer {api_key}",
                                           "User-Agent": f"anvil-client/{__version__}",
                                           "Accept": "application/json"})

    def __enter__(self) -> ForgeAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:  # never the key
        return f"ForgeAPI({self.forge_url!r})"

    def close(self) -> None:
        self._http.close()

    # --- the operations -------------------------------------------------------------------------

    def get_project(self, project_id: str) -> dict[str, Any]:
        body = self._request("GET", f"/api/v1/projects/{_segment(project_id)}", what=f"project {project_id}").json()
        if not isinstance(body, dict):
            raise ForgeError("the FORGE answered something that is not a project")
        return body

    def list_sources(self, project_id: str) -> list[Source]:
        """Every prompt set's working copy, following pages (``{"data", "meta": {"next_cursor"}}`` or a
        plain ``{"items"}``)."""
        return list(self._pages(project_id))

    def _pages(self, project_id: str) -> Iterator[Source]:
        path = f"/api/v1/projects/{_segment(project_id)}/sources"
        params: dict[str, str] = {}
        for _ in range(10_000):  # a bound, in case a FORGE kept answering the same cursor
            body = self._request("GET", path, params=params, what=f"the sources of project {project_id}").json()
            if not isinstance(body, dict):
                raise ForgeError("the FORGE answered something that is not a list of sources")
            items = body.get("data", body.get("items"))
            if not isinstance(items, list):
                raise ForgeError("the FORGE answered something that is not a list of sources")
            for item in items:
                yield Source.from_response(item, None)
            meta = body.get("meta")
            cursor = meta.get("next_cursor") if isinstance(meta, dict) else None
            if not cursor:
                return
            params = {"cursor": str(cursor)}

    def get_source(self, project_id: str, slug: str, *, version: str | None = None) -> Source | None:
        """The set's source document (its working copy, or the version labelled ``version``); None when
        the project has no set with this slug."""
        params = {"version": version} if version else {}
        what = f"prompt set {slug!r}" + (f" version {version}" if version else "")
        try:
            response = self._request("GET", self._source_path(project_id, slug), params=params, what=what)
        except ForgeError as exc:
            if exc.status == 404 and not version:
                return None
            raise
        return Source.from_response(response.json(), response.headers.get("ETag"))

    def put_source(self, project_id: str, document: Mapping[str, Any], *, if_match: str | None = None,
                   create: bool = False) -> Source:
        """Replace the set's content if its current ETag is ``if_match``, or create it (``create``: only if
        absent). A failed precondition raises :class:`ForgeError` with status 412 (and the current
        ``etag``); a REVIEW or LOCKED set 409; invalid content 422, naming the field."""
        if (if_match is None) == (not create):
            raise ValueError("give exactly one of if_match= and create=True")
        headers = {"If-None-Match": "*"} if create else {"If-Match": str(if_match)}
        body = {k: v for k, v in document.items() if k not in READ_ONLY_FIELDS}
        slug = str(document.get("slug", ""))
        response = self._request("PUT", self._source_path(project_id, slug), json=body, headers=headers,
                                 what=f"prompt set {slug!r}")
        return Source.from_response(response.json(), response.headers.get("ETag"))

    # --- plumbing -------------------------------------------------------------------------------

    @staticmethod
    def _source_path(project_id: str, slug: str) -> str:
        return f"/api/v1/projects/{_segment(project_id)}/sources/{_segment(slug)}"

    def _request(self, method: str, path: str, *, what: str, **kwargs: Any) -> httpx.Response:
        import httpx

        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise ForgeError(f"the FORGE at {self.forge_url} did not answer within {self.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise ForgeError(f"cannot reach the FORGE at {self.forge_url}: {exc}") from None
        if response.status_code < 400:
            try:
                response.json()
            except ValueError:
                raise ForgeError(f"the FORGE answered {method} {path} with something that is not JSON") from None
            return response
        message, type_, details, etag = _message(response)
        status = response.status_code
        lead = _WHAT.get(status, f"the FORGE answered {status}")
        if status == 404:
            lead = f"{what}: {lead}"
        fields = "; ".join(f"{d.get('field')}: {d.get('message')}" for d in details
                           if d.get("field") and d.get("message") and d.get("message") != message)
        text = f"{lead} ({status})" + (f": {message}" if message else "") + (f" [{fields}]" if fields else "")
        raise ForgeError(text, status=status, type=type_, details=details, etag=etag)


def _segment(value: str) -> str:
    """A path segment, escaped (a slug or id is plain, but one typed by a user need not be)."""
    return quote(str(value), safe="")
