"""Issue 6 benchmarks: push fan-out, publish → streaming client, and many concurrent streams.

A child process sets up a temporary data directory and database — the
embedded SQLite one, then a scratch PostgreSQL database (created and dropped
by the benchmark; ``ANVIL_BENCH_POSTGRES`` names the server, default
``postgres://postgres@127.0.0.1:5432/postgres``) — a project with a LOCKED
prompt set of 10 prompts and 40 versions, an access token and an API key, then
starts ``anvil serve`` and ``anvil worker`` on it:

- **fan-out**: 100 real LIVE clients with receivers (``anvil_client.receiver``
  on loopback) in 4 separate processes, as separate applications would be, are
  registered; the time is from the publish request (``POST …/publish`` over
  HTTP) to the FORGE recording the last of the 100 deliveries as delivered (a
  receiver answers 200 only after applying). Median of 5 publishes.
- **stream**: one real ``Client`` holds ``GET …/events``; 30 publishes, each
  timed from the publish request to the client serving the new sequence
  (p50 / p95).
- **500 streams**: 500 concurrent SSE connections (asyncio + httpx) to the one
  FORGE process; the server's resident memory before and after, connection
  errors, and the time for one publish's event to reach all 500.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, Row, emit, fmt_seconds, run_child, stop_process, verdict  # noqa: E402

RECEIVERS = 100
RECEIVER_PROCESSES = 4
STREAM_PUBLISHES = 30
STREAMS = 500
FANOUT_PUBLISHES = 5


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_until(predicate, timeout: float, interval: float = 0.002) -> bool:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


POSTGRES = os.environ.get("ANVIL_BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres")


def scratch_postgres() -> str | None:
    """Create an empty PostgreSQL database for one run; returns its URL (None: no server reachable)."""
    import psycopg

    name = f"anvil_bench_{os.getpid()}"
    try:
        with psycopg.connect(POSTGRES, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError:
        return None
    return POSTGRES.rsplit("/", 1)[0] + "/" + name


def drop_postgres(url: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def setup(data_dir: str, database_url: str | None):
    os.environ["ANVIL_DATA_DIR"] = data_dir
    os.environ["DJANGO_SETTINGS_MODULE"] = "anvil_forge.settings"
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    else:
        os.environ.pop("DATABASE_URL", None)  # the embedded SQLite database of that directory
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from anvil_forge.accounts.services import create_api_key
    from anvil_forge.orgs.services import create_user
    from anvil_forge.distribution.services import create_access_token
    from anvil_forge.orgs.services import create_organisation
    from anvil_forge.prompts import services as prompts

    owner = create_user("owner@bench.example")
    org = create_organisation(owner, "Bench", "bench")
    project = prompts.create_project(owner, org, "Bench", "bench")
    pset = prompts.create_prompt_set(owner, project, "Emails", "emails")
    for n in range(10):
        prompts.create_prompt(owner, pset, f"P{n}", f"p{n}", "Hello {{ name }}, number " + str(n),
                              [{"name": "name"}])
    prompts.change_status(owner, pset, "review")
    prompts.change_status(owner, pset, "locked")
    for minor in range(40):
        prompts.create_version(owner, pset, f"1.{minor}.0")
    _, token = create_access_token(owner, project, "bench")
    _, key = create_api_key(owner, "bench", ["read", "write"])
    return project, pset, token, key


def child(database: str) -> dict:
    if database == "sqlite":
        return run_phases(None)
    url = scratch_postgres()
    if url is None:
        return {"unavailable": f"no PostgreSQL server at {POSTGRES}"}
    try:
        return run_phases(url)
    finally:
        from django.db import connections

        connections.close_all()
        drop_postgres(url)


def run_phases(database_url: str | None) -> dict:
    import httpx

    from anvil_client.client import Client
    from bench_pull import free_port, wait_ready

    with tempfile.TemporaryDirectory(prefix="anvil-bench-dist-") as data_dir:
        project, pset, token, key = setup(data_dir, database_url)
        from anvil_forge.distribution import queries as dist_queries

        public_key = dist_queries.public_key()
        env = {**os.environ, "ANVIL_DATA_DIR": data_dir, "ANVIL_API_RATE_LIMIT": "100000000/minute",
               "DJANGO_SETTINGS_MODULE": "anvil_forge.settings",
               "ANVIL_RECEIVER_ALLOWED_NETWORKS": "127.0.0.0/8"}  # the bench's receivers are on loopback
        if not database_url:
            env.pop("DATABASE_URL", None)
        anvil = str(Path(sys.executable).parent / "anvil")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([anvil, "serve", "--port", str(port)], env=env, cwd=REPO,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        worker = subprocess.Popen([anvil, "worker", "--no-reload", "--no-startup-delay"], env=env, cwd=REPO,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        receiver_procs = []
        labels = iter(f"1.{minor}.0" for minor in range(40))
        api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30)

        def publish() -> tuple[float, int]:
            started = time.perf_counter()
            answer = api.post(f"/api/v1/prompt_sets/{pset.pk}/publish", json={"version": next(labels)})
            answer.raise_for_status()
            return started, answer.json()["sequence"]

        try:
            wait_ready(base, server)
            # --- publish → streaming client ---------------------------------------------------
            streamer = Client(forge_url=base, project=str(project.pk), access_token=token,
                              cache_dir=Path(data_dir) / "streamer", public_key=public_key,
                              poll_interval=3600, heartbeat_interval=3600)
            assert wait_until(lambda: streamer._streaming and streamer.sequence is not None, 30)
            latencies = []
            for _ in range(STREAM_PUBLISHES):
                started, sequence = publish()
                if wait_until(lambda: streamer.sequence == sequence, 10, interval=0.0005):
                    latencies.append(time.perf_counter() - started)
                time.sleep(0.05)
            streamer.stop()
            # --- 500 concurrent streams ---------------------------------------------------------
            before = rss_mb(server.pid)
            many = asyncio.run(many_streams(base, str(project.pk), token, publish))
            many["rss_before_mb"], many["rss_after_mb"] = before, many.pop("rss_during_mb", None)
            # --- fan-out to 100 receivers (last: their registrations would slow the phases above) ----
            # The receivers are real anvil_client receivers in RECEIVER_PROCESSES separate processes, as
            # separate applications would be; "applied" is read from the FORGE's delivery records (a
            # delivery is marked delivered when its receiver answered 200 after applying).
            from anvil_forge.distribution.models import Delivery, DeliveryState

            procs = []
            per = RECEIVERS // RECEIVER_PROCESSES
            for n in range(RECEIVER_PROCESSES):
                procs.append(subprocess.Popen(
                    [sys.executable, __file__, "--receivers", str(per), base, str(project.pk), token, public_key,
                     str(Path(data_dir) / f"recv{n}")], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True))
            for proc in procs:
                assert proc.stdout.readline().strip() == "ready"
            receiver_procs.extend(procs)
            fanout = []
            for _ in range(FANOUT_PUBLISHES):
                started, sequence = publish()
                done = lambda: Delivery.objects.filter(  # noqa: E731
                    publication__sequence=sequence, state=DeliveryState.DELIVERED).count() == RECEIVERS
                ok = wait_until(done, 30, interval=0.005)
                fanout.append(time.perf_counter() - started if ok else float("inf"))
                time.sleep(0.3)
            return {"fanout": fanout, "stream": latencies, "stream_missed": STREAM_PUBLISHES - len(latencies),
                    "many": many}
        finally:
            for process in (server, worker, *receiver_procs):
                stop_process(process)


async def many_streams(base: str, project: str, token: str, publish) -> dict:
    import httpx

    url = f"{base}/api/v1/projects/{project}/events"
    errors: list[str] = []
    connected = 0
    received: list[float] = []
    all_connected = asyncio.Event()
    limits = httpx.Limits(max_connections=STREAMS + 10, max_keepalive_connections=0)

    async def one(http: httpx.AsyncClient) -> None:
        nonlocal connected
        try:
            async with http.stream("GET", url, headers={"Authorization": f"Bearer {token}"}) as response:
                if response.status_code != 200:
                    errors.append(str(response.status_code))
                    return
                connected += 1
                if connected == STREAMS:
                    all_connected.set()
                async for line in response.aiter_lines():
                    if line.startswith("event: publish"):
                        received.append(time.perf_counter())
                        return
        except Exception as exc:  # counted, not raised: the benchmark reports errors
            errors.append(f"{exc.__class__.__name__}: {exc}")

    async with httpx.AsyncClient(timeout=httpx.Timeout(60, read=120), limits=limits) as http:
        tasks = [asyncio.create_task(one(http)) for _ in range(STREAMS)]
        try:
            await asyncio.wait_for(all_connected.wait(), 120)
        except TimeoutError:
            pass
        server_pid = _server_pid(base)
        rss_during = rss_mb(server_pid) if server_pid else float("nan")
        started, _ = await asyncio.to_thread(publish)
        done, pending = await asyncio.wait(tasks, timeout=60)
        for task in pending:
            task.cancel()
    return {"connected": connected, "errors": len(errors), "error_samples": errors[:3],
            "received": len(received), "all_received_s": (max(received) - started) if received else None,
            "rss_during_mb": rss_during}


def _server_pid(base: str) -> int | None:
    port = base.rsplit(":", 1)[1]
    try:
        out = subprocess.run(["ss", "-ltnp", f"sport = :{port}"], capture_output=True, text=True).stdout
        return int(out.split("pid=")[1].split(",")[0])
    except (IndexError, ValueError, FileNotFoundError):
        return None


def run() -> list[Row]:
    rows = []
    for database, label in (("sqlite", "SQLite"), ("postgresql", "PostgreSQL")):
        result = run_child("bench_distribution", [database], timeout=600)
        if "unavailable" in result:
            rows.append(Row(f"distribution benchmarks on {label}", "not run", "", "",
                            notes=[result["unavailable"]]))
            continue
        rows += rows_for(result, label)
    return rows


def rows_for(result: dict, label: str) -> list[Row]:
    fanout = statistics.median(result["fanout"])
    lat = sorted(result["stream"])
    p50 = statistics.median(lat) if lat else float("inf")
    p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))] if lat else float("inf")
    many = result["many"]
    common = f"`anvil serve` (1 uvicorn worker) + `anvil worker`, {label}, loopback"
    return [
        Row(f"publish → all {RECEIVERS} ACCEPTING receivers applied ({label})", fmt_seconds(fanout), "< 1 s",
            verdict(fanout < 1.0), notes=[common, f"median of {len(result['fanout'])}; each: "
                                          + ", ".join(fmt_seconds(t) for t in result["fanout"])],
            data={"fanout": result["fanout"]}),
        Row(f"publish → streaming client serving the new prompt ({label})",
            f"p50 {fmt_seconds(p50)}, p95 {fmt_seconds(p95)}", "p95 < 200 ms", verdict(p95 < 0.2),
            notes=[common, f"{len(lat)} publishes, {result['stream_missed']} missed"], data={"latencies": lat}),
        Row(f"{STREAMS} concurrent streaming clients on one FORGE process ({label})",
            f"{many['connected']} connected, {many['errors']} errors, event to all in "
            f"{fmt_seconds(many['all_received_s']) if many['all_received_s'] else 'n/a'}; server RSS "
            f"{many['rss_before_mb']:.0f} → {many['rss_after_mb']:.0f} MB",
            "no errors", verdict(many["errors"] == 0 and many["received"] == STREAMS),
            notes=[f"{many['received']} of {STREAMS} received the publish event"]
                  + ([f"errors: {many['error_samples']}"] if many["errors"] else []), data=many),
    ]


def receivers(count: int, base: str, project: str, token: str, public_key: str, cache_root: str) -> None:
    """A process holding ``count`` LIVE clients with receivers; prints "ready" once all are registered."""
    from anvil_client.client import Client
    from anvil_client.receiver import make_server

    held = []
    for n in range(count):
        client = Client(forge_url=base, project=project, access_token=token, cache_dir=Path(cache_root) / str(n),
                        public_key=public_key, background=False)
        httpd = make_server(client.receiver(), "127.0.0.1", 0)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        client.receiver_url = f"http://127.0.0.1:{httpd.server_address[1]}/anvil/receive"
        assert client.register()
        held.append((client, httpd))
    print("ready", flush=True)
    threading.Event().wait()  # until terminated


if __name__ == "__main__":
    if "--receivers" in sys.argv:
        i = sys.argv.index("--receivers")
        receivers(int(sys.argv[i + 1]), *sys.argv[i + 2:i + 7])
    elif "--child" in sys.argv:
        emit(child(sys.argv[sys.argv.index("--child") + 1]))
    else:
        for row in run():
            print(row)
