"""Background work: one thread pulls every ``poll_interval`` (ACCEPTING only) and sends a heartbeat every
``heartbeat_interval``; another holds the FORGE's event stream open and pulls as soon as a publish is
announced. Private to :class:`anvil_client.Client`.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import TYPE_CHECKING

from . import bundle as bundles
from ._remote import Remote
from ._table import ACCEPTING, Store
from .cache import loads
from .errors import SyncError
from .retry import backoff

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("anvil_client")


REPORT_SPREAD = 2.0


class Background:
    """The poll-and-heartbeat thread and the event-stream thread of one client."""

    def __init__(self, store: Store, remote: Remote, *, poll_interval: float, heartbeat_interval: float,
                 stream: bool) -> None:
        self.store = store
        self.remote = remote
        self.poll_interval = poll_interval
        self.heartbeat_interval = heartbeat_interval
        self.stream = stream
        self.streaming = False  # the event stream is open (and answered 200)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stream_thread: threading.Thread | None = None
        self._stream_response: httpx.Response | None = None
        # After a release arrives by the stream, every instance of the channel would register at the same
        # instant, competing with the FORGE's streaming of the release to the others: each waits a random
        # moment of up to this many seconds first (0: at once).
        self.report_spread = REPORT_SPREAD
        self._report_guard = threading.Lock()
        self._report_wanted = self._reporting = False

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Heartbeats always; pulls and the event stream in ACCEPTING mode. Idempotent."""
        if not self.remote.forge_url:
            return
        self._stop.clear()
        if not self.running:
            self._thread = threading.Thread(target=self._run, name="anvil-client-poll", daemon=True)
            self._thread.start()
        if self.stream and self.store.mode == ACCEPTING and not (
                self._stream_thread and self._stream_thread.is_alive()):
            self._stream_thread = threading.Thread(target=self._stream_run, name="anvil-client-stream",
                                                   daemon=True)
            self._stream_thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._close_stream()
        for thread in (self._thread, self._stream_thread):
            if thread and thread.is_alive() and thread is not threading.current_thread():
                thread.join(timeout=5)

    def mode_changed(self) -> None:
        """After a mode switch: if running, (re)start what the mode needs, end the stream in FROZEN, and
        tell the FORGE now."""
        if not self.running:
            return
        if self.store.mode != ACCEPTING:
            # The stream's heartbeats are comments, which are no events: closing it is how its thread
            # learns of FROZEN now, rather than at the next publish. The thread then ends itself.
            self._close_stream()
        self.start()
        threading.Thread(target=self.remote.register, daemon=True).start()

    def _close_stream(self) -> None:
        response = self._stream_response
        if response is not None:
            try:
                response.close()  # unblocks the stream thread's read
            except Exception:
                pass

    # --- the poll-and-heartbeat thread ---------------------------------------------------

    def _run(self) -> None:
        """Pull every ``poll_interval`` (ACCEPTING only) and heartbeat every ``heartbeat_interval``."""
        remote = self.remote
        now = time.monotonic()
        next_pull, next_beat, failures = now, now, 0
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_beat:
                remote.register()
                next_beat = now + self.heartbeat_interval * random.uniform(0.9, 1.1)
            if now >= next_pull:
                if self.store.mode == ACCEPTING and self.poll_interval > 0:
                    try:
                        if remote.sync(force=False).applied:
                            remote.register()  # report the new versions at once
                        failures = 0
                    except SyncError as exc:
                        log.warning("anvil: background sync failed (%s): %s", exc.reason, exc.message)
                        if exc.reason != "cache":
                            failures += 1
                        else:  # the FORGE answered: no backoff; only the disk failed (retried next time)
                            failures = 0
                            if exc.applied:
                                remote.register()
                    except Exception:  # never let the thread die
                        failures += 1
                        log.exception("anvil: background sync crashed")
                next_pull = now + backoff(failures, self.poll_interval, cap=600.0, doublings=5, floor=1.0,
                                          jitter=(0.9, 1.1))
            self._stop.wait(max(0.05, min(next_pull, next_beat) - time.monotonic()))

    # --- the event-stream thread ------------------------------------------------------------

    def _stream_run(self) -> None:
        """Hold the FORGE's event stream open; pull when it announces a newer sequence."""
        failures = 0
        while not self._stop.is_set() and self.store.mode == ACCEPTING:
            try:
                self.listen()
                failures = 0
            except Exception as exc:  # network trouble, 4xx/5xx: back off and reconnect
                if self._stop.is_set() or self.store.mode != ACCEPTING:
                    return  # closed on purpose (stop, or FROZEN)
                failures += 1
                log.info("anvil: event stream interrupted (%s); reconnecting", exc)
            delay = backoff(failures, 1.0, cap=60.0, doublings=6, jitter=(0.5, 1.0)) if failures else 0.5
            self._stop.wait(delay)

    def listen(self) -> None:
        """Read the event stream until it ends, the client stops or leaves ACCEPTING mode."""
        with self.remote.events() as source:
            self._stream_response = source.response
            self.streaming = True
            try:
                for event in source.iter_sse():
                    if self._stop.is_set() or self.store.mode != ACCEPTING:
                        return
                    self.on_event(event.event, event.data)
            finally:
                self.streaming = False
                self._stream_response = None

    def on_event(self, event: str, data: str) -> None:
        if event == "bundle":  # the bundle itself (the FORGE serves it whole to a client that asks)
            self._apply_streamed(data)
            return
        if event not in ("hello", "publish"):
            return
        try:
            sequence = loads(data).get("sequence")
        except (ValueError, AttributeError):
            return
        held = self.store.table.sequence
        if isinstance(sequence, int) and (held is None or sequence > held):
            self._pull_after_event()

    def _pull_after_event(self) -> None:
        # A loaded FORGE may drop a pull that every streaming instance makes at once: try again shortly
        # rather than wait for the next event or poll.
        for attempt in range(3):
            try:
                if self.remote.sync(force=False).applied:
                    self._report_soon()  # tell the FORGE what it serves now (not at the next heartbeat)
                return
            except SyncError as exc:
                if exc.applied:  # served, though not written to disk
                    self._report_soon()
                    return
                if exc.reason == "stale":
                    return  # it came by another way meanwhile (the stream, a push)
                if exc.reason not in ("network", "http") or attempt == 2 or self._stop.wait(0.2 * 2 ** attempt):
                    log.warning("anvil: pull after a stream event failed (%s): %s", exc.reason, exc.message)
                    return

    def _apply_streamed(self, data: str) -> None:
        try:
            bundle = bundles.parse(data)
            result = self.store.apply(bundle, project_id=self.remote.project, source="forge", force=False)
        except bundles.BundleError as exc:
            log.warning("anvil: a bundle from the event stream was refused (%s): %s", exc.reason, exc.message)
            return
        except SyncError as exc:
            if exc.applied:
                self._report_soon()
            elif exc.reason != "stale":  # (held already: from a pull, say)
                log.warning("anvil: a bundle from the event stream was not applied (%s): %s", exc.reason,
                            exc.message)
            return
        if result.applied:
            self._report_soon()

    def _report_soon(self) -> None:
        """Register (tell the FORGE what it holds) within ``report_spread`` seconds. One report thread at a
        time; a change while it waits or sends makes it report once more (what it sent may predate it)."""
        if self.report_spread <= 0:
            self.remote.register()
            return
        with self._report_guard:
            self._report_wanted = True
            if self._reporting:
                return
            self._reporting = True

        def report() -> None:
            while True:
                # Not before half of it: the release is still reaching the others meanwhile.
                stopping = self._stop.wait(random.uniform(self.report_spread / 2, self.report_spread))  # noqa: S311
                with self._report_guard:
                    self._report_wanted = False  # what changed until now is in this report
                if not stopping:
                    self.remote.register()
                with self._report_guard:
                    if stopping or not self._report_wanted:
                        self._reporting = False
                        return

        threading.Thread(target=report, name="anvil-report", daemon=True).start()
