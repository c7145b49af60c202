import ctypes
import signal
import subprocess
import sys
import threading

from django.core.management.base import BaseCommand, CommandError

from . import _serve_limits as limits

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

    def __init__(self, out) -> None:
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
            process = self.process
            assert process is not None  # start() spawned it before starting this thread
            code = process.wait()
            if self._stopping.is_set():
                return
            self.out.write(f"The delivery worker exited ({code}); starting it again in 1 s.")
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
    help = "Serve the FORGE over ASGI (uvicorn); --with-worker also runs the delivery worker (and restarts it)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=1, help="server processes")
        parser.add_argument("--with-worker", action="store_true",
                            help="run `anvil worker` beside the server: restarted if it exits, stopped with it")
        # Each also from the environment (the option wins); the defaults are in _serve_limits.
        parser.add_argument("--header-timeout", type=float, metavar="SECONDS",
                            help="close a connection whose request head is not complete within this long "
                                 f"(ANVIL_HEADER_TIMEOUT; {limits.HEADER_TIMEOUT:g})")
        parser.add_argument("--keepalive-timeout", type=float, metavar="SECONDS",
                            help="close an idle kept-alive connection after this long "
                                 f"(ANVIL_KEEPALIVE_TIMEOUT; {limits.KEEPALIVE_TIMEOUT:g})")
        parser.add_argument("--max-connections", type=int, metavar="N",
                            help="open connections per process; requests beyond get 503 (ANVIL_MAX_CONNECTIONS; "
                                 f"{limits.MAX_CONNECTIONS}, less with fewer file descriptors)")
        parser.add_argument("--backlog", type=int, metavar="N",
                            help=f"connections queued before they are accepted (ANVIL_BACKLOG; {limits.BACKLOG})")

    def handle(self, host, port, workers, with_worker, **options):
        import uvicorn

        try:
            serve_limits = limits.resolve(options)
        except limits.LimitError as exc:
            raise CommandError(str(exc)) from None
        self._report_limits(serve_limits)
        supervisor = Supervisor(self.stdout) if with_worker else None
        if supervisor:
            supervisor.start()
        self.stdout.write(f"Serving the FORGE at http://{host}:{port}/")
        try:
            uvicorn.run("anvil_forge.asgi:application", host=host, port=port, workers=workers,
                        log_level="info", lifespan="off", timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
                        **serve_limits.uvicorn_options())
        finally:
            if supervisor:
                supervisor.stop()

    def _report_limits(self, serve: "limits.Limits") -> None:
        fds = "unlimited" if serve.fd_limit is None else str(serve.fd_limit)
        if serve.fd_limit_before is not None and serve.fd_limit != serve.fd_limit_before:
            fds += f" (raised from {serve.fd_limit_before})"
        self.stdout.write(f"Connections: at most {serve.max_connections} per process, request head within "
                          f"{serve.header_timeout:g} s, keep-alive {serve.keepalive_timeout:g} s, backlog "
                          f"{serve.backlog}; open files: {fds}")
        bound = limits.fd_bound(serve.fd_limit)
        if bound is not None and serve.max_connections > bound:
            self.stderr.write(f"Warning: {serve.max_connections} connections is more than the open-file limit "
                              f"({fds}) safely allows ({bound}): the server may run out of file descriptors "
                              "before it answers 503.")
