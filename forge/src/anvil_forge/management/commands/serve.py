import ctypes
import signal
import subprocess
import sys
import threading

from django.core.management.base import BaseCommand

# Open event streams never end on their own: on a stop signal, uvicorn closes them after this long.
GRACEFUL_SHUTDOWN_SECONDS = 5


def _die_with_parent() -> None:
    """In the child, before exec: receive SIGTERM when the parent dies, however it dies (Linux; elsewhere,
    the parent's own clean-up is all there is)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Supervisor:
    """Runs ``anvil worker`` beside the server, restarts it if it exits, and stops it with the server."""

    def __init__(self, out):
        self.out = out
        self.process: subprocess.Popen | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        self._spawn()
        threading.Thread(target=self._watch, daemon=True, name="anvil-worker-supervisor").start()

    def _spawn(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "anvil_forge.cli", "worker", "--no-reload"],
                                        preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        self.out.write(f"Task worker started (pid {self.process.pid}).")

    def _watch(self) -> None:
        while not self._stopping.is_set():
            code = self.process.wait()
            if self._stopping.is_set():
                return
            self.out.write(f"The task worker exited ({code}); starting it again in 1 s.")
            if self._stopping.wait(1.0):
                return
            self._spawn()

    def stop(self) -> None:
        self._stopping.set()
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


class Command(BaseCommand):
    help = "Serve the FORGE over ASGI (uvicorn); --with-worker also runs the task worker (and restarts it)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=1, help="server processes")
        parser.add_argument("--with-worker", action="store_true",
                            help="run `anvil worker` beside the server: restarted if it exits, stopped with it")

    def handle(self, host, port, workers, with_worker, **options):
        import uvicorn

        supervisor = Supervisor(self.stdout) if with_worker else None
        if supervisor:
            supervisor.start()
        self.stdout.write(f"Serving the FORGE at http://{host}:{port}/")
        try:
            uvicorn.run("anvil_forge.asgi:application", host=host, port=port, workers=workers,
                        log_level="info", lifespan="off", timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS)
        finally:
            if supervisor:
                supervisor.stop()
