"""The FORGE over HTTP: the public key, pulling the current bundle (sync), registering (the heartbeat), and
opening the event stream, all over one connection pool. Private to :class:`anvil_client.Client`.

``httpx`` (and ``httpx_sse``) are imported on first use: a client serving from its cache never pays for them.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from ._version import __version__
from . import bundle as bundles
from ._table import Store, SyncResult, _now
from .cache import loads
from .errors import ConfigurationError, SyncError

if TYPE_CHECKING:
    import httpx
    from httpx_sse import EventSource

log = logging.getLogger("anvil_client")

CHANNEL_HEADER = "X-Anvil-Channel"
"""Sent with a pull when a channel is configured (the FORGE answers 409 if the token is bound to another);
answered with the channel the bundle is of."""
COHORT_HEADER = "X-Anvil-Cohort"
COHORTS = ("all", "rollout", "previous")
"""Where a staged rollout puts this instance: no partial rollout in progress; in the cohort of one; outside
it, kept on the previous release."""


def _is_loopback(url: str) -> bool:
    """Whether ``url`` names this machine: ``localhost`` or a loopback IP address (not a name such as
    ``127.example.com``, which could be anywhere)."""
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Remote:
    """One client's connection to its FORGE. The settings are plain attributes (the client exposes them as
    its own): a change of ``forge_url``, ``access_token`` or ``timeout`` takes effect on the next request."""

    def __init__(self, store: Store, *, forge_url: str | None, project: str | None, access_token: str | None,
                 timeout: float, instance_id: str, receiver_url: str | None,
                 transport: httpx.BaseTransport | None = None, labels: dict[str, str] | None = None) -> None:
        self.store = store
        self.forge_url = forge_url
        self.project = project
        self.access_token = access_token
        self.timeout = timeout
        self.instance_id = instance_id
        self.receiver_url = receiver_url
        self.labels = dict(labels or {})
        self.receiver_secret = secrets.token_urlsafe(32)
        self.last_registered: str | None = None
        # What the FORGE last said of this instance's channel and rollout (pull headers, registration).
        self.forge_channel: str | None = None
        self.cohort: str | None = None
        self.release: int | None = None
        self._transport = transport
        self._etag: str | None = None
        self._http_client: httpx.Client | None = None
        self._http_settings: tuple[str, str, float] | None = None
        self._http_lock = threading.Lock()

    def connection(self) -> httpx.Client:
        """The client's one HTTP connection pool (made on first use, shared by every thread: creating
        an httpx.Client costs tens of milliseconds, more than a whole pull on loopback)."""
        import httpx

        if not (self.forge_url and self.project and self.access_token):
            raise ConfigurationError("forge_url, project and access_token are needed to sync")
        if not self.forge_url.startswith("https://") and not _is_loopback(self.forge_url):
            raise ConfigurationError("the FORGE URL must use https:// (plain http:// is allowed on loopback only)")
        settings = (self.forge_url, self.access_token, self.timeout)
        with self._http_lock:
            http = self._http_client
            if http is None or http.is_closed or self._http_settings != settings:
                http = self._http_client = httpx.Client(
                    base_url=self.forge_url, timeout=self.timeout, transport=self._transport,
                    headers={"Authorization": f"Bearer {self.access_token}",
                             "User-Agent": f"anvil-client/{__version__}",
                             "X-Anvil-Instance": self.instance_id})  # the FORGE's rate limit counts per instance
                self._http_settings = settings
        return http

    def close(self) -> None:
        http, self._http_client = self._http_client, None
        if http is not None:
            http.close()

    # --- the public key and the bundle ---------------------------------------------------

    def fetch_public_key(self) -> str:
        """Ask the FORGE for its public key (used by ``connect`` to pin it on first use)."""
        import httpx

        http = self.connection()
        try:
            response = http.get("/api/v1/forge/public_key")
            response.raise_for_status()
            key: str = loads(response.content)["public_key"]
            return key
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise SyncError("network", f"could not fetch the FORGE's public key: {exc}") from None

    def fetch_endorsements(self) -> list[Any]:
        """The FORGE's key endorsements (``GET /api/v1/forge/keys``), for following a key rotation. Nothing
        in them is trusted until :func:`anvil_client.keys.follow` has verified it from the pinned key."""
        import httpx

        try:
            http = self.connection()
            response = http.get("/api/v1/forge/keys")
            response.raise_for_status()
            endorsements = loads(response.content)["endorsements"]
        except ConfigurationError as exc:
            raise SyncError("key", f"no FORGE to ask for key endorsements ({exc})") from None
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise SyncError("network", f"could not fetch the FORGE's key endorsements: {exc}") from None
        if not isinstance(endorsements, list):
            raise SyncError("key", "the FORGE's key endorsements are malformed")
        return endorsements

    def sync(self, *, force: bool) -> SyncResult:
        """See :meth:`anvil_client.Client.sync`."""
        import httpx

        store = self.store
        if store.public_key() is None:
            key = self.fetch_public_key()  # trust on first use, then pinned in the cache directory
            store.save_key(key)
        # The formats this client reads: the FORGE writes it a bundle it can read (without format 3's test
        # summaries for a client that does not say it reads 3).
        headers = {bundles.FORMATS_HEADER: ",".join(map(str, bundles.FORMAT_VERSIONS))}
        if store.channel:
            headers[CHANNEL_HEADER] = store.channel
        if self._etag:
            headers["If-None-Match"] = self._etag
        http = self.connection()
        try:
            response = http.get(f"/api/v1/projects/{self.project}/current_bundle", headers=headers)
        except httpx.HTTPError as exc:
            store.last_error = f"FORGE unreachable: {exc}"
            raise SyncError("network", store.last_error) from None
        if response.status_code in (200, 304):
            self._rollout(response.headers.get(CHANNEL_HEADER), response.headers.get(COHORT_HEADER))
        if response.status_code == 304:
            return store.up_to_date()
        if response.status_code in (401, 403):
            store.last_error = f"the FORGE refused the access token ({response.status_code})"
            raise SyncError("auth", store.last_error)
        if response.status_code == 409:  # the token is bound to another channel than the one asked for
            store.last_error = _detail(response) or f"the FORGE refused channel {store.channel} (409)"
            raise SyncError("channel", store.last_error)
        if response.status_code != 200:
            store.last_error = f"the FORGE answered {response.status_code}"
            raise SyncError("http", store.last_error)
        try:
            data = bundles.parse(response.content)
        except bundles.BundleError as exc:
            store.last_error = exc.message
            raise SyncError(exc.reason, exc.message) from None
        held = store.table.bundles[0] if store.table.bundles else None
        # The same sequence of the same channel (a bundle below format 4 is the default channel's, so the
        # first pull from an upgraded FORGE is not taken for a stale bundle).
        if held is not None and data.get("sequence") == held.sequence \
                and (data.get("channel") or bundles.DEFAULT_CHANNEL) == (held.channel or bundles.DEFAULT_CHANNEL):
            self._etag = response.headers.get("ETag")
            return store.up_to_date()
        try:
            result = store.apply(data, project_id=self.project, source="forge", force=force)
        except SyncError as exc:
            if exc.applied:  # applied, not written to disk: the FORGE need not send it again
                self._etag = response.headers.get("ETag")
            raise
        self._etag = response.headers.get("ETag")
        return result

    # --- registration (the LIVE-instance heartbeat) -----------------------------------------

    def describe(self) -> dict[str, Any]:
        store = self.store
        table = store.table
        return {"instance_id": self.instance_id, "host": socket.gethostname(), "mode": store.mode,
                "sequence": table.sequence, "versions": dict(table.versions),
                "client_version": __version__, "bundle_formats": list(bundles.FORMAT_VERSIONS),
                "receiver_url": self.receiver_url or "",
                "receiver_secret": self.receiver_secret if self.receiver_url else "",
                "use_counts": store.top_uses(),
                # Shown on the FORGE beside the rollout's progress (a release this client refuses, say).
                "last_error": (store.last_error or "")[:500],
                "channel": store.channel or "", "labels": dict(self.labels)}

    def register(self) -> bool:
        """Tell the FORGE this instance exists and what it holds (called on every heartbeat)."""
        try:
            http = self.connection()
            response = http.post(f"/api/v1/projects/{self.project}/live_instances", json=self.describe())
            if response.status_code != 200:
                log.warning("anvil: registration answered %s", response.status_code)
                return False
            self.last_registered = _now()
            self._registered(response)
            return True
        except Exception as exc:
            log.info("anvil: registration failed: %s", exc)
            return False

    def _rollout(self, channel: Any, cohort: Any) -> None:
        """Keep what the FORGE says of this instance's channel and cohort (for status()); anything else,
        or nothing (a FORGE of an earlier release), leaves what is known."""
        if isinstance(channel, str) and bundles.CHANNEL_PATTERN.fullmatch(channel):
            self.forge_channel = channel
        if cohort in COHORTS:
            self.cohort = cohort

    def _registered(self, response: httpx.Response) -> None:
        try:
            answer = loads(response.content)
        except ValueError:
            return
        if not isinstance(answer, dict):
            return
        self._rollout(answer.get("channel"), answer.get("cohort"))
        release = answer.get("release", self.release)
        if release is None or (isinstance(release, int) and not isinstance(release, bool)):
            self.release = release

    # --- the event stream -------------------------------------------------------------------

    @contextmanager
    def events(self) -> Iterator[EventSource]:
        """Open the project's Server-Sent Events stream (``EventSource.iter_sse()`` reads it; closing
        ``EventSource.response`` from another thread ends the read). Raises SyncError("http") unless the
        FORGE answers 200."""
        import httpx
        from httpx_sse import EventSource

        url = f"/api/v1/projects/{self.project}/events"
        http = self.connection()
        timeout = httpx.Timeout(self.timeout, read=60.0)
        # "bundles": the FORGE sends each new bundle in the stream itself (no pull after every event), in
        # the formats this client reads.
        headers = {"Accept": "text/event-stream", "X-Anvil-Stream": "bundles",
                   bundles.FORMATS_HEADER: ",".join(map(str, bundles.FORMAT_VERSIONS))}
        if self.store.channel:
            headers[CHANNEL_HEADER] = self.store.channel
        with http.stream("GET", url, timeout=timeout, headers=headers) as response:
            if response.status_code != 200:
                raise SyncError("http", f"the event stream answered {response.status_code}")
            yield EventSource(response)


def _detail(response: httpx.Response) -> str | None:
    """The message of a JSON error answer: its ``detail``, or the API's ``{"error": {"message"}}``."""
    try:
        answer = loads(response.content)
        detail = answer.get("detail") or answer["error"]["message"]
    except (ValueError, AttributeError, KeyError, TypeError):
        return None
    return detail if isinstance(detail, str) and detail else None


def token_info(forge_url: str, access_token: str, *, timeout: float = 10.0,
               transport: httpx.BaseTransport | None = None) -> dict[str, Any] | None:
    """What the FORGE says an access token is for (``GET /api/v1/access_token``): ``{project_id,
    organisation, project, project_name, channel, label}``; None from a FORGE that does not say (older than
    anvil-forge with channels). Raises SyncError("auth") for a refused token, SyncError("network")."""
    import httpx

    if not forge_url.startswith("https://") and not _is_loopback(forge_url):
        raise ConfigurationError("the FORGE URL must use https:// (plain http:// is allowed on loopback only)")
    try:
        with httpx.Client(base_url=forge_url, timeout=timeout, transport=transport,
                          headers={"Authorization": f"Bearer {access_token}",
                                   "User-Agent": f"anvil-client/{__version__}"}) as http:
            response = http.get("/api/v1/access_token")
    except httpx.HTTPError as exc:
        raise SyncError("network", f"FORGE unreachable: {exc}") from None
    if response.status_code in (401, 403):
        raise SyncError("auth", f"the FORGE refused the access token ({response.status_code}): check it, or "
                                f"make a new one on the project page (Access tokens)")
    if response.status_code != 200:
        return None
    try:
        info = loads(response.content)
    except ValueError:
        return None
    return info if isinstance(info, dict) and isinstance(info.get("project_id"), str) else None
