import subprocess
import sys

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve the FORGE over ASGI (uvicorn); --with-worker also runs the task worker."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=1, help="server processes")
        parser.add_argument("--with-worker", action="store_true", help="start `anvil worker` beside the server")

    def handle(self, host, port, workers, with_worker, **options):
        import uvicorn

        worker = None
        if with_worker:
            worker = subprocess.Popen([sys.executable, "-m", "anvil_forge.cli", "worker", "--no-reload"])
            self.stdout.write(f"Task worker started (pid {worker.pid}).")
        self.stdout.write(f"Serving the FORGE at http://{host}:{port}/")
        try:
            uvicorn.run("anvil_forge.asgi:application", host=host, port=port, workers=workers,
                        log_level="info", lifespan="off")
        finally:
            if worker is not None:
                worker.terminate()
                try:
                    worker.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    worker.kill()
