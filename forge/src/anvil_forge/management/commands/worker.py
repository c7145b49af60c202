import threading
import time

from django.db import DatabaseError, close_old_connections, connections
from django_tasks_db.management.commands.db_worker import Command as DbWorker


class Command(DbWorker):
    help = ("Run the background task worker (django-tasks-db); first re-queues unfinished deliveries, then "
            "keeps re-queueing those whose claim expired (a worker died mid-push).")

    def add_arguments(self, parser):
        super().add_arguments(parser)
        # Poll the queue every 0.05 s (django-tasks-db's default is 1 s; a poll is one indexed query):
        # a publish's pushes start at once.
        parser.set_defaults(interval=0.05)

    def handle(self, *args, **options):
        from anvil_forge.distribution import fanout

        period = fanout.claim_duration().total_seconds() / 2
        threading.Thread(target=self._sweep, args=(period,), daemon=True, name="anvil-sweep").start()
        return self._serve(*args, **options)

    def _recover(self) -> None:
        from anvil_forge.distribution import fanout

        recovered = fanout.recover()
        if recovered:
            self.stdout.write(f"Re-queued {recovered} unfinished deliveries.")

    RETRY_SECONDS = 2.0

    def _serve(self, *args, **options):
        """django-tasks-db's worker loop, restarted after a database error instead of exiting: the database
        restarted or refused a connection, and the queue must not be left unserved. A task cut off here
        is finished by the sweep once its claims expire."""
        while True:
            try:
                self._recover()
                return super().handle(*args, **options)
            except DatabaseError as exc:
                self.stderr.write(f"The database failed ({exc.__class__.__name__}: {exc}); "
                                  f"retrying in {self.RETRY_SECONDS:g} s.")
                connections.close_all()
                time.sleep(self.RETRY_SECONDS)

    def _sweep(self, period: float) -> None:
        from anvil_forge.distribution import fanout

        while True:
            time.sleep(period)
            try:
                close_old_connections()
                reclaimed = fanout.reclaim_expired()
                if reclaimed:
                    self.stdout.write(f"Re-queued {reclaimed} deliveries whose claim expired.")
            except Exception as exc:  # a database hiccup: try again next period
                self.stderr.write(f"Could not re-queue expired deliveries: {exc}")
