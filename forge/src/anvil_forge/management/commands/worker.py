from django_tasks_db.management.commands.db_worker import Command as DbWorker


class Command(DbWorker):
    help = "Run the background task worker (django-tasks-db); first re-queues unfinished deliveries."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        # Poll the queue every 0.2 s (django-tasks-db's default is 1 s): a publish's pushes start at once.
        parser.set_defaults(interval=0.2)

    def handle(self, *args, **options):
        from anvil_forge.distribution import fanout

        recovered = fanout.recover()
        if recovered:
            self.stdout.write(f"Re-queued {recovered} unfinished deliveries.")
        return super().handle(*args, **options)
