"""``anvil worker``: pushes publishes to LIVE instances' receivers. The delivery rows are the queue
(docs/distribution.md): the worker claims the due ones, pushes them, and polls again."""

import argparse
import logging
import os
import random
import signal
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections, connections
from django.utils.autoreload import DJANGO_AUTORELOAD_ENV, run_with_reloader

from anvil_forge.distribution import services as dist_services

log = logging.getLogger(__name__)
POLL_SECONDS = 0.05  # between polls while nothing is due: a poll is one indexed query; a publish is pushed at once
EXPIRY_SECONDS = 60.0  # between sweeps of publish requests past their time
STOP_SIGNALS = [getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGQUIT") if hasattr(signal, name)]


def seconds(value: str) -> float:
    number = float(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value} is not a number of seconds")
    return number


class Command(BaseCommand):
    help = ("Push publishes to LIVE instances' receivers: claim the deliveries that are due (new, retried after "
            "their backoff, or left behind by a worker that died), push them, and poll again.")

    RETRY_SECONDS = 2.0

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=seconds, default=POLL_SECONDS,
                            help="seconds between polls while nothing is due (default: %(default)r)")
        parser.add_argument("--batch", action="store_true", help="push every delivery that is due, then exit")
        parser.add_argument("--max-tasks", type=int, default=None,
                            help="exit once at least this many deliveries were pushed")
        parser.add_argument("--reload", action=argparse.BooleanOptionalAction, default=settings.DEBUG,
                            help="restart on code changes (default: DEBUG)")
        parser.add_argument("--no-startup-delay", action="store_false", dest="startup_delay",
                            help="poll at once (by default the first poll waits up to 1 s at random, so "
                                 "workers started together do not poll in step)")

    def handle(self, *args, interval, batch, max_tasks, reload, startup_delay, **options):
        if startup_delay and interval:
            time.sleep(random.random())  # noqa: S311 (not a secret)
        if reload and not batch:
            if os.environ.get(DJANGO_AUTORELOAD_ENV) == "true":  # the child process, which runs the loop
                self._configure_signals()
            run_with_reloader(self._serve, interval, batch, max_tasks)
            return
        self._configure_signals()
        self._serve(interval, batch, max_tasks)

    stopping = False  # a stop signal came: finish the deliveries in hand, then exit
    busy = False  # claiming or pushing deliveries
    pushed = 0

    def _serve(self, interval: float, batch: bool = False, max_tasks: int | None = None) -> str:
        """The loop, restarted after a database error instead of exiting: the database restarted or refused
        a connection, and the queue must not be left unserved. Deliveries cut off here are taken over by a
        later claim once their claims expire."""
        while True:
            try:
                return self._loop(interval, batch, max_tasks)
            except DatabaseError as exc:
                self.stderr.write(f"The database failed ({exc.__class__.__name__}: {exc}); "
                                  f"retrying in {self.RETRY_SECONDS:g} s.")
                connections.close_all()
                time.sleep(self.RETRY_SECONDS)

    def _loop(self, interval: float, batch: bool, max_tasks: int | None) -> str:
        next_expiry = 0.0
        while not self.stopping:
            close_old_connections()  # drop a connection the database closed meanwhile
            self.busy = True
            try:
                if time.monotonic() >= next_expiry:  # publish requests past their time: expired (audited)
                    dist_services.expire_publish_requests()
                    next_expiry = time.monotonic() + EXPIRY_SECONDS
                count = dist_services.push_due_deliveries()
            except DatabaseError:
                raise
            except Exception:  # the batch's claims were handed back, each retried after its backoff
                log.exception("A batch of deliveries failed")
                count = 0
            finally:
                self.busy = False
            self.pushed += count
            if max_tasks is not None and self.pushed >= max_tasks:
                return "done"
            if not count:
                if batch:
                    return "done"
                time.sleep(interval)
        return "stopped"

    # --- stop signals: the first lets the deliveries in hand finish, a second one exits at once ----------------

    def _configure_signals(self) -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._shutdown)

    def _shutdown(self, signum, frame) -> None:
        if self.busy and not self.stopping:
            log.warning("Received %s: stopping once the deliveries in hand are pushed (again: at once).",
                        signal.strsignal(signum))
            self.stopping = True
            return
        for each in STOP_SIGNALS:
            signal.signal(each, signal.SIG_DFL)
        sys.exit(1 if self.busy else 0)
