"""Connection limits for ``anvil serve``: what keeps one client, or twenty thousand, from exhausting the server.

- a **header timeout**: a connection must send a complete request head within ``ANVIL_HEADER_TIMEOUT``
  seconds of being accepted (or of the first byte of its next request on a kept-alive connection), or it is
  closed. uvicorn has none of its own: a client sending headers a byte at a time held its connection, and a
  file descriptor, for ever. It never applies to a response in progress (event streams last for hours);
- a **keep-alive timeout** between requests (uvicorn's ``timeout_keep_alive``);
- a **connection limit** (uvicorn's ``limit_concurrency``): a request on a connection beyond it is answered
  503. By default it stays well below the file-descriptor limit, which is raised to its hard value at start,
  so the limit is reached before descriptors run out;
- overload log lines (accept failing for lack of descriptors, the connection limit, header timeouts) are
  **rate-limited**: one line per kind and interval, counting the ones left out, never a traceback each; and the
  event loop retries a failed accept once, not once per backlog slot (``ServerEventLoop``).

Importable without Django settings: uvicorn's worker processes (``--workers N``) load it — the protocol class,
the event loop, the log filter — before the application.
"""

from __future__ import annotations

import asyncio
import copy
import errno
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, cast

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

try:
    import resource
except ImportError:  # pragma: no cover - not on Windows
    resource = None  # type: ignore[assignment]  # the optional-module idiom: tested for None below

# --- defaults: each one overridable by its environment variable or `anvil serve` option -------------------

HEADER_TIMEOUT = 10.0  # s from accept (or the next request's first byte) to a complete request head
KEEPALIVE_TIMEOUT = 5.0  # s an idle kept-alive connection waits for its next request (uvicorn's own default)
MAX_CONNECTIONS = 10_000  # open connections per server process at most; lower where descriptors are fewer
BACKLOG = 2048  # connections the kernel queues before they are accepted (capped by net.core.somaxconn)

# Descriptors kept out of the connection limit's reach (a quarter of a small limit): the interpreter, log files,
# database connections, the worker's pipes. Half of the rest is for connections: a connection may need a second
# descriptor (a static file being sent, its thread's SQLite connection), and one accepted beyond the limit holds
# one until it is answered.
FD_RESERVE = 256
# A connection accepted while the server is at its limit will be answered 503 anyway: it gets this long at most
# to send its request head, so that clients beyond the limit cannot hold descriptors for a whole header timeout.
OVER_LIMIT_HEADER_TIMEOUT = 1.0
OVERLOAD_LOG_INTERVAL = 10.0  # s: one overload line of each kind per interval at most

SETTINGS = {  # option dest -> (environment variable, type, default)
    "header_timeout": ("ANVIL_HEADER_TIMEOUT", float, HEADER_TIMEOUT),
    "keepalive_timeout": ("ANVIL_KEEPALIVE_TIMEOUT", float, KEEPALIVE_TIMEOUT),
    "max_connections": ("ANVIL_MAX_CONNECTIONS", int, None),  # None: safe_max_connections()
    "backlog": ("ANVIL_BACKLOG", int, BACKLOG),
}


class LimitError(ValueError):
    pass


@dataclass(frozen=True)
class Limits:
    header_timeout: float
    keepalive_timeout: float
    max_connections: int
    backlog: int
    fd_limit: int | None  # the soft RLIMIT_NOFILE in force (None: unlimited or unknown)
    fd_limit_before: int | None

    @property
    def limit_concurrency(self) -> int:
        """uvicorn answers 503 once ``len(connections) >= limit_concurrency``, counting the new request's own
        connection: ``max_connections + 1`` serves exactly ``max_connections`` connections at once."""
        return self.max_connections + 1

    def uvicorn_options(self) -> dict:
        options = {"http": HeadTimeoutH11Protocol, "timeout_keep_alive": self.keepalive_timeout,
                   "limit_concurrency": self.limit_concurrency, "backlog": self.backlog, "log_config": log_config()}
        if sys.platform != "win32":  # elsewhere uvicorn's own choice
            options["loop"] = f"{__name__}:ServerEventLoop"
        return options


def _setting(dest: str, given, environ) -> int | float | None:
    name, kind, default = SETTINGS[dest]
    if given is not None:
        value, source = given, "--" + dest.replace("_", "-")
    elif environ.get(name, "").strip():
        value, source = environ[name].strip(), name
    else:
        return default
    try:
        value = kind(value)
    except ValueError:
        raise LimitError(f"{source} must be a {'whole ' if kind is int else ''}number, not {value!r}") from None
    if value <= 0:
        raise LimitError(f"{source} must be above 0, not {value!r}")
    return value


def raise_fd_limit() -> tuple[int | None, int | None]:
    """Raise the soft limit on open files to the hard one. Returns the soft limit (before, after); None for
    unlimited or unknown."""
    if resource is None:
        return None, None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    before = None if soft == resource.RLIM_INFINITY else soft
    if soft != hard:
        # macOS reports an unlimited hard limit but refuses a soft one above OPEN_MAX (10240)
        for target in ([hard] if hard != resource.RLIM_INFINITY else []) + [10240]:
            if before is not None and target <= before:
                break
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
                break
            except (ValueError, OSError):
                continue
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return before, None if soft == resource.RLIM_INFINITY else soft


def fd_bound(fd_limit: int | None) -> int | None:
    """The most connections a soft descriptor limit safely allows (None: no bound)."""
    if fd_limit is None:
        return None
    return max(1, (fd_limit - min(FD_RESERVE, fd_limit // 4)) // 2)


def safe_max_connections(fd_limit: int | None) -> int:
    """The default connection limit: ``MAX_CONNECTIONS``, or less if the descriptor limit needs it."""
    bound = fd_bound(fd_limit)
    return MAX_CONNECTIONS if bound is None else min(MAX_CONNECTIONS, bound)


def resolve(options: dict, environ=None) -> Limits:
    """The limits for this server, from the command's options, else the environment, else the defaults. Raises
    the descriptor limit (once per call: call it once, at start). Also exports the header timeout to the
    environment: uvicorn's worker processes read it there (see ``HeadTimeoutH11Protocol``)."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {dest: _setting(dest, options.get(dest), environ) for dest in SETTINGS}
    before, fd_limit = raise_fd_limit()
    if values["max_connections"] is None:
        values["max_connections"] = safe_max_connections(fd_limit)
    environ[SETTINGS["header_timeout"][0]] = repr(values["header_timeout"])
    return Limits(fd_limit=fd_limit, fd_limit_before=before, **values)


def header_timeout_from_environment() -> float:
    try:
        value = cast(float, _setting("header_timeout", None, os.environ))  # its default is a float, never None
    except LimitError:
        value = HEADER_TIMEOUT  # `anvil serve` has refused it already; another launcher gets the default
    return value


# --- the protocol: uvicorn's h11 protocol with a header timeout -----------------------------------------

HEAD_TIMEOUT_MESSAGE = "Closed a connection from %s: no complete request head within %g s (header timeout)."


class HeadTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 HTTP/1.1 protocol (what ``http="auto"`` picks without httptools), closing a connection
    whose request head is not complete in time.

    The timer runs while the client owes a request head — h11's ``their_state`` is ``IDLE``: from the moment
    the connection is accepted, and on a kept-alive connection from the first byte of its next request (before
    that byte uvicorn's keep-alive timer applies). It is never reset by more bytes of the same head, so a head
    sent a byte at a time is cut off too, and it is cancelled as soon as the head is complete: once a request
    is being answered (an event stream for hours, a large download) there is no header timer at all.
    """

    header_timeout: float | None = None  # None: ANVIL_HEADER_TIMEOUT, as `anvil serve` exported it

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cls_timeout = type(self).header_timeout
        self.head_timeout = cls_timeout if cls_timeout is not None else header_timeout_from_environment()
        self.head_timer: asyncio.TimerHandle | None = None

    # asyncio.Protocol

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        timeout = self.head_timeout
        if self.limit_concurrency is not None and len(self.connections) >= self.limit_concurrency:
            timeout = min(timeout, OVER_LIMIT_HEADER_TIMEOUT)  # beyond the limit: 503 soon, or closed
        self._start_head_timer(timeout)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._head_progress()

    def connection_lost(self, exc) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    # the timer

    def _head_progress(self) -> None:
        """After bytes arrived: a head still incomplete keeps (or, for a kept-alive connection's next request,
        starts) the timer; a complete one, or a connection handed over to WebSocket, stops it."""
        if self.transport.is_closing() or self.transport.get_protocol() is not self:
            self._stop_head_timer()
        elif self.conn.their_state is h11.IDLE:
            if self.head_timer is None:
                self._start_head_timer(self.head_timeout)
        else:
            self._stop_head_timer()

    def _start_head_timer(self, timeout: float) -> None:
        self._stop_head_timer()
        self.head_timer = self.loop.call_later(timeout, self._head_timed_out, timeout)

    def _stop_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_timed_out(self, timeout: float) -> None:
        self.head_timer = None
        if self.transport.is_closing() or self.transport.get_protocol() is not self:
            return
        if self.conn.their_state is not h11.IDLE:  # pragma: no cover - the timer is stopped when the head is done
            return
        client = "%s:%d" % self.client if self.client else "?"
        self.logger.info(HEAD_TIMEOUT_MESSAGE, client, timeout)
        try:
            self.conn.send(h11.ConnectionClosed())
        except h11.LocalProtocolError:  # pragma: no cover
            pass
        self.transport.close()


# --- the event loop: one retry per failed accept, not one per backlog slot ------------------------------

class _AcceptRound:
    """The listening socket as one round of asyncio's accept loop sees it. After ``accept()`` fails for lack
    of descriptors or memory, asyncio logs it, stops watching the socket and schedules a retry a second later,
    but then goes on calling ``accept()`` up to ``backlog`` (2048) times in the same round, logging and
    scheduling a retry each time (CPython gh-151615, Python ≤ 3.14): two thousand tracebacks a second while
    descriptors are short, and thousands of retries pending. Here the next call in the round answers "nothing
    more to accept", which ends the round: one report and one retry per failure."""

    __slots__ = ("_sock", "_failed")

    def __init__(self, sock) -> None:
        self._sock = sock
        self._failed = False

    def accept(self):
        if self._failed:
            raise BlockingIOError(errno.EAGAIN, "accept() is retried later")
        try:
            return self._sock.accept()
        except OSError as exc:
            if exc.errno in _OUT_OF_RESOURCES:
                self._failed = True
            raise

    def __getattr__(self, name):
        return getattr(self._sock, name)


def _listening_socket(sock):
    return sock._sock if isinstance(sock, _AcceptRound) else sock


class ServerEventLoop(asyncio.SelectorEventLoop):
    """asyncio's selector event loop (what uvicorn's ``loop="auto"`` picks without uvloop), accepting
    connections as it does but backing off once per failure (see ``_AcceptRound``), and dropping a retry that
    comes after its server was closed (it used to raise "Invalid file descriptor: -1" at shutdown)."""

    def _accept_connection(self, protocol_factory, sock, *args, **kwargs):
        return super()._accept_connection(protocol_factory, _AcceptRound(_listening_socket(sock)), *args, **kwargs)

    def _start_serving(self, protocol_factory, sock, *args, **kwargs):
        sock = _listening_socket(sock)
        if sock.fileno() == -1:  # closed while the retry was pending
            return None
        return super()._start_serving(protocol_factory, sock, *args, **kwargs)


# --- rate-limited overload logging ----------------------------------------------------------------------

_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
_OUT_OF_DESCRIPTORS = {errno.EMFILE, errno.ENFILE}

# The loggers whose overload records are rate-limited: asyncio reports a failed accept() (once per second and
# listening socket, with a traceback: the loop retries a second later), uvicorn each 503 for the connection
# limit, this module each header timeout; an application error caused by a lack of descriptors may reach
# uvicorn's or Django's request logger.
OVERLOAD_LOGGERS = ("asyncio", "uvicorn.error", "django.request")


def overload_kind(record: logging.LogRecord) -> str | None:
    """Which kind of overload a log record reports, or None for any other record."""
    message = str(record.msg)
    exc = record.exc_info[1] if record.exc_info else None
    resource_error = isinstance(exc, OSError) and exc.errno in _OUT_OF_RESOURCES
    if record.name == "asyncio" and ("out of system resource" in message or (resource_error and "accept" in message)):
        return "accept"
    if message.startswith("Exceeded concurrency limit"):
        return "connection limit"
    if message == HEAD_TIMEOUT_MESSAGE:
        return "header timeout"
    if isinstance(exc, OSError) and exc.errno in _OUT_OF_DESCRIPTORS:
        return "descriptors"
    return None


def _describe(kind: str, record: logging.LogRecord) -> str:
    exc = record.exc_info[1] if record.exc_info else None
    if kind == "accept":
        reason = f": {exc}" if exc is not None else ""
        return (f"Overload: cannot accept new connections{reason} (out of file descriptors or memory; "
                f"connections wait in the backlog, accept is retried every second)")
    if kind == "connection limit":
        return "Overload: the connection limit is reached (ANVIL_MAX_CONNECTIONS): new requests are answered 503"
    if kind == "descriptors":
        first_line = record.getMessage().splitlines()[0] if record.getMessage() else ""
        return f"Overload: out of file descriptors: {first_line}: {exc}"
    return record.getMessage()


class OverloadLogFilter(logging.Filter):
    """Lets through one record of each overload kind per ``interval`` seconds, as a single line without its
    traceback, and drops the others, counting them: the next line of that kind says how many were left out.
    Other records pass untouched. One instance serves all the loggers in ``OVERLOAD_LOGGERS``."""

    def __init__(self, interval: float = OVERLOAD_LOG_INTERVAL, clock=time.monotonic) -> None:
        super().__init__()
        self.interval = float(interval)
        self.clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}  # kind -> when a line of it was last let through
        self._dropped: dict[str, int] = {}  # kind -> records left out since

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            kind = overload_kind(record)
        except Exception:  # pragma: no cover - never lose a record to the filter
            return True
        if kind is None:
            return True
        now = self.clock()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self.interval:
                self._dropped[kind] = self._dropped.get(kind, 0) + 1
                return False
            dropped = self._dropped.pop(kind, 0)
            self._last[kind] = now
        text = _describe(kind, record)
        if dropped:
            text += f" [{dropped} more like this in the last {now - last:.0f} s not logged]"
        record.msg, record.args = text.replace("\n", " "), None
        record.exc_info = record.exc_text = record.stack_info = None
        return True


def log_config(interval: float = OVERLOAD_LOG_INTERVAL) -> dict:
    """uvicorn's logging configuration plus the overload filter on ``OVERLOAD_LOGGERS``. Given to uvicorn as
    ``log_config``, so every server process (``--workers N``) installs it, once."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["anvil_overload"] = {"()": f"{__name__}.OverloadLogFilter",
                                                          "interval": interval}
    for name in OVERLOAD_LOGGERS:
        config.setdefault("loggers", {}).setdefault(name, {}).setdefault("filters", []).append("anvil_overload")
    return config
