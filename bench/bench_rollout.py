"""Issue 7 benchmark: staged rollouts — a 10 % rollout, its expansion to everyone and a roll back, each timed
until every LIVE instance concerned holds the new sequence, beside a plain publish to everyone (the anchor).

A child process sets up a temporary data directory with the embedded SQLite database (the same project as
bench_distribution: a LOCKED prompt set of 10 prompts and 40 versions, an access token, an API key), starts
``anvil serve`` (one uvicorn worker) and ``anvil worker`` on it, publishes 1.0.0 to everyone, and starts
200 real LIVE ``anvil_client.Client`` instances of the production channel with fixed instance ids, split
over the FORGE's two delivery paths as separate applications would be:

- ``push-000`` … ``push-099``: 100 clients with receivers (``anvil_client.receiver.make_server`` on
  loopback, ``background=False``) in 4 processes of 25, registered with their receiver URL (the worker
  pushes to them), as bench_distribution's fan-out runs them;
- ``stream-000`` … ``stream-099``: 100 clients holding the event stream (``Client(stream=True)``,
  background on, ``poll_interval`` and ``heartbeat_interval`` of an hour, so neither polling nor a
  heartbeat moves them) in 4 processes of 25; each registers (its first heartbeat) at start.

Each holder process watches its clients' ``sequence`` every 2 ms and writes each change, with its
``time.perf_counter()`` (CLOCK_MONOTONIC: the same clock in every process), to the parent, which
therefore knows when each instance started serving each sequence. No label is set: the cohort is chosen by
the rollout's hash of the instance id alone; the parent computes it with the FORGE's own
``channels.in_cohort`` from the release just made.

Each round (ROUNDS of them), every phase timed from just before its HTTP request (API key) to the last
instance concerned serving the sequence:

1. **publish to everyone** (anchor): ``POST /api/v1/prompt_sets/{id}/publish {"version": …}`` → all 200;
2. **staged 10 %**: ``POST …/publish {"version": …, "rollout": {"percentage": 10}}`` → every instance of
   the cohort; then SETTLE seconds more, and no instance outside it may have moved to anything but the
   previous release (the streams of all 200 hear the announcement; those outside pull and must be served
   the previous release);
3. **expand**: ``POST /api/v1/projects/{id}/channels/production/rollout {"everyone": true}`` → all 200
   hold the rollout's sequence;
4. **roll back**: ``POST …/channels/production/rollback`` → all 200 hold the roll back's new sequence.

After phases 3 and 4 the FORGE's rollout progress (``GET …/channels/production/progress``) is read once
the instances converged, to check what the FORGE shows (200 on the release) against what they hold.
"""

from __future__ import annotations

import logging
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

PUSH_INSTANCES = 100
STREAM_INSTANCES = 100
PROCESSES_PER_KIND = 4
ROUNDS = 3
PERCENTAGE = 10
SETTLE = 2.2  # seconds after a phase converged before the next (the instances report what they hold within 2 s)
PHASE_TIMEOUT = 10.0
WATCH_INTERVAL = 0.002
# Diagnosis only (not what `make bench` runs): ANVIL_BENCH_ROLLOUT_QUIET_STREAMS=1 stops the streaming
# clients' registration after each applied pull (anvil_client does it to report what it serves at once), to
# see how much of their convergence is those registrations queueing before the other clients' pulls.
QUIET_STREAMS = os.environ.get("ANVIL_BENCH_ROLLOUT_QUIET_STREAMS") == "1"


class Instances:
    """What each instance serves, as its holder process reports it: ``{instance id: (sequence, when)}``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.held: dict[str, tuple[int | None, float]] = {}
        self.changes: list[tuple[str, int | None, float]] = []

    def follow(self, proc: subprocess.Popen) -> None:
        def read() -> None:
            for line in proc.stdout:
                parts = line.split()
                if len(parts) != 3:
                    continue
                iid, seq, when = parts[0], None if parts[1] == "None" else int(parts[1]), float(parts[2])
                with self.lock:
                    self.held[iid] = (seq, when)
                    self.changes.append((iid, seq, when))

        threading.Thread(target=read, daemon=True).start()

    def all_hold(self, ids, sequence: int) -> bool:
        with self.lock:
            return all(self.held.get(i, (None, 0))[0] == sequence for i in ids)

    def moved_since(self, ids, since: float) -> list[tuple[str, int | None, float]]:
        ids = set(ids)
        with self.lock:
            return [c for c in self.changes if c[0] in ids and c[2] >= since]


def wait_until(predicate, timeout: float, interval: float = 0.002) -> bool:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


LOGS: list[str] = []  # what the holder processes logged (start-up times, the clients' warnings)


def child() -> dict:
    result = run_phases()
    result["logs"] = LOGS[:60]
    return result


def run_phases() -> dict:
    import httpx

    from bench_distribution import setup
    from bench_pull import free_port, wait_ready

    began = time.perf_counter()
    phases: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="anvil-bench-rollout-") as data_dir:
        project, pset, token, key = setup(data_dir, None)  # SQLite (DATABASE_URL unset)
        phases["set-up"] = time.perf_counter() - began
        from anvil_forge.distribution import channels
        from anvil_forge.distribution import queries as dist_queries
        from anvil_forge.distribution.models import Publication

        public_key = dist_queries.public_key()
        env = {**os.environ, "ANVIL_DATA_DIR": data_dir, "ANVIL_API_RATE_LIMIT": "100000000/minute",
               "DJANGO_SETTINGS_MODULE": "anvil_forge.settings",
               # receivers on loopback are refused unless allowed (5cc9b67, docs/security.md)
               "ANVIL_RECEIVER_ALLOWED_NETWORKS": "127.0.0.0/8"}
        env.pop("DATABASE_URL", None)
        anvil = str(Path(sys.executable).parent / "anvil")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([anvil, "serve", "--port", str(port)], env=env, cwd=REPO,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        worker = subprocess.Popen([anvil, "worker", "--no-reload", "--no-startup-delay"], env=env, cwd=REPO,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        holders: list[subprocess.Popen] = []
        api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30)
        channel_url = f"/api/v1/projects/{project.pk}/channels/production"
        request_times: dict[str, list[float]] = {"publish": [], "staged": [], "expand": [], "rollback": []}

        def call(kind: str, path: str, body: dict | None) -> tuple[float, int]:
            started = time.perf_counter()
            answer = api.post(path, json=body)
            request_times[kind].append(time.perf_counter() - started)
            answer.raise_for_status()
            return started, answer.json()["sequence"]

        def publish(label: str, rollout: dict | None = None) -> tuple[float, int]:
            body = {"version": label, **({"rollout": rollout} if rollout else {})}
            return call("staged" if rollout else "publish", f"/api/v1/prompt_sets/{pset.pk}/publish", body)

        try:
            wait_ready(base, server)
            publish("1.0.0")  # v1, before anyone starts: every instance begins on it
            instances = Instances()
            push_ids = [f"push-{n:03d}" for n in range(PUSH_INSTANCES)]
            stream_ids = [f"stream-{n:03d}" for n in range(STREAM_INSTANCES)]
            everyone = push_ids + stream_ids
            for kind, ids in (("push", push_ids), ("stream", stream_ids)):  # one kind after the other
                per = len(ids) // PROCESSES_PER_KIND
                started_here = []
                for n in range(PROCESSES_PER_KIND):
                    proc = subprocess.Popen(
                        [sys.executable, __file__, "--holders", kind, ",".join(ids[n * per:(n + 1) * per]), base,
                         str(project.pk), token, public_key, str(Path(data_dir) / f"{kind}{n}")],
                        stdout=subprocess.PIPE, stderr=open(Path(data_dir) / f"{kind}{n}.log", "w"), text=True,
                        cwd=REPO)
                    holders.append(proc)
                    started_here.append(proc)
                for proc in started_here:
                    line = proc.stdout.readline().strip()
                    if line != "ready":
                        log = Path(proc.args[-1] + ".log").read_text()[-3000:]
                        raise RuntimeError(f"a holder process did not start: {line!r} (exit {proc.poll()}):\n{log}")
                    instances.follow(proc)
            assert wait_until(lambda: len(instances.held) == len(everyone), 10)
            sequence0 = dist_queries.current_sequence(project)
            assert wait_until(lambda: instances.all_hold(everyone, sequence0), 10), "not everyone holds v1"
            phases["200 clients started"] = time.perf_counter() - began - sum(phases.values())

            def converge(ids, sequence: int, started: float) -> dict:
                ok = wait_until(lambda: instances.all_hold(ids, sequence), PHASE_TIMEOUT)
                moved = {iid: when for iid, seq, when in instances.moved_since(ids, started) if seq == sequence}
                per_path = {}
                for path, group in (("push", push_ids), ("stream", stream_ids)):
                    times = [moved[i] - started for i in group if i in moved]
                    per_path[path] = {"n": len(times), "max": max(times) if times else None,
                                      "median": statistics.median(times) if times else None}
                total = (max(moved.values()) - started) if ok and moved else (0.0 if ok else float("inf"))
                late = sorted(((when - started, iid) for iid, when in moved.items()), reverse=True)[:5]
                return {"seconds": total, "ok": ok, "moved": len(moved), "paths": per_path,
                        "late": [f"{iid} {fmt_seconds(t)}" for t, iid in late],
                        "missing": [] if ok else [i for i in ids if instances.held.get(i, (None,))[0] != sequence]}

            def progress_counts() -> dict:
                answer = api.get(f"{channel_url}/progress")
                answer.raise_for_status()
                return answer.json()["counts"]

            rounds = []
            for r in range(ROUNDS):
                time.sleep(SETTLE)
                result = {}
                # 1. publish to everyone (the anchor)
                started, seq_all = publish(f"1.{2 * r + 1}.0")
                result["publish"] = converge(everyone, seq_all, started)
                time.sleep(SETTLE)
                # 2. staged: 10 %
                started, seq_staged = publish(f"1.{2 * r + 2}.0", {"percentage": PERCENTAGE})
                release = Publication.objects.get(channel__project=project, channel__name="production",
                                                  sequence=seq_staged)
                cohort = [i for i in everyone if channels.in_cohort(release, i, {})]
                outside = [i for i in everyone if i not in cohort]
                staged = converge(cohort, seq_staged, started)
                time.sleep(SETTLE)
                # outside the cohort an instance must keep (or, if it lagged, reach) the release before
                strays = [c for c in instances.moved_since(outside, started) if c[1] != seq_all]
                staged.update(cohort=len(cohort), cohort_push=sum(i.startswith("push") for i in cohort),
                              outside_moved=len(strays), strays=strays[:5])
                result["staged"] = staged
                # 3. expand to everyone
                started, seq = call("expand", f"{channel_url}/rollout", {"everyone": True})
                assert seq == seq_staged, (seq, seq_staged)
                result["expand"] = converge(everyone, seq_staged, started)
                time.sleep(SETTLE)
                result["expand"]["progress"] = progress_counts()
                # 4. roll back
                started, seq_back = call("rollback", f"{channel_url}/rollback", None)
                result["rollback"] = converge(everyone, seq_back, started)
                time.sleep(SETTLE)
                result["rollback"]["progress"] = progress_counts()
                rounds.append(result)
            phases["rounds"] = time.perf_counter() - began - sum(phases.values())
            return {"rounds": rounds, "requests": request_times, "phases": phases}
        finally:
            for process in (*holders, server, worker):
                stop_process(process)
            logs = []
            for path in sorted(Path(data_dir).glob("*.log")):
                logs += [f"{path.stem}: {line[24:]}" for line in path.read_text().splitlines()
                         if "bench_rollout" in line or ("anvil_client" in line and "applied bundle" not in line)]
            print("\n".join(logs), file=sys.stderr)
            LOGS[:] = logs


def holders(kind: str, ids: str, base: str, project: str, token: str, public_key: str, cache_root: str) -> None:
    """A process holding LIVE clients of one kind ("push": with receivers, "stream": on the event stream);
    prints "ready" once all are registered and hold a release, then a line per change of what one serves:
    ``<instance id> <sequence> <perf_counter>``."""
    from anvil_client.client import Client
    from anvil_client.receiver import make_server

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("anvil_client").setLevel(logging.INFO)  # its warnings, and stream reconnections (INFO)
    began = time.monotonic()
    log = logging.getLogger("bench_rollout")
    log.setLevel(logging.INFO)

    def start(iid: str):
        cache_dir = Path(cache_root) / iid
        if kind == "stream":
            return iid, Client(forge_url=base, project=project, access_token=token, cache_dir=cache_dir,
                               public_key=public_key, instance_id=iid, stream=True, poll_interval=3600,
                               heartbeat_interval=3600)
        client = Client(forge_url=base, project=project, access_token=token, cache_dir=cache_dir,
                        public_key=public_key, background=False, instance_id=iid)
        httpd = make_server(client.receiver(), "127.0.0.1", 0)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        client.receiver_url = f"http://127.0.0.1:{httpd.server_address[1]}/anvil/receive"
        for attempt in range(5):  # a start-up of 200 clients on 2 shared cores can time a registration out
            if client.register():
                break
            time.sleep(0.5)
        else:
            raise RuntimeError(f"{iid} could not register")
        client.sync()  # start on what the channel holds (the pushes carry every later release)
        return iid, client

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=5) as pool:  # (a few at a time: the FORGE is one process)
        clients = list(pool.map(start, ids.split(",")))
    log.info("%d %s clients constructed in %.2f s", len(clients), kind, time.monotonic() - began)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all(
            c.sequence is not None and (kind == "push" or (c._streaming and c._remote.last_registered))
            for _, c in clients):
        time.sleep(0.02)
    if QUIET_STREAMS and kind == "stream":
        for _, client in clients:
            client._remote.register = lambda: True  # noqa: E731 (diagnosis: see QUIET_STREAMS)
    log.info("ready after %.2f s", time.monotonic() - began)
    print("ready", flush=True)
    last: dict[str, int | None] = {}
    out = sys.stdout
    while True:  # until terminated
        for iid, client in clients:
            sequence = client.sequence
            if last.get(iid, -1) != sequence:
                last[iid] = sequence
                out.write(f"{iid} {sequence} {time.perf_counter()!r}\n")
                out.flush()
        time.sleep(WATCH_INTERVAL)


def run() -> list[Row]:
    return rows_for(run_child("bench_rollout", [], timeout=300))


def rows_for(result: dict) -> list[Row]:
    rounds = result["rounds"]
    n = PUSH_INSTANCES + STREAM_INSTANCES

    def times(phase: str) -> list[float]:
        return [r[phase]["seconds"] for r in rounds]

    def summary(phase: str) -> tuple[float, float, str]:
        ts = times(phase)
        med, top = statistics.median(ts), max(ts)
        return med, top, f"median {fmt_seconds(med)}, max {fmt_seconds(top)}"

    def paths(phase: str) -> str:
        parts = []
        for path in ("push", "stream"):
            tops = [r[phase]["paths"][path]["max"] for r in rounds if r[phase]["paths"][path]["max"] is not None]
            meds = [r[phase]["paths"][path]["median"] for r in rounds
                    if r[phase]["paths"][path]["median"] is not None]
            if tops:
                parts.append(f"{path}: median instance {fmt_seconds(statistics.median(meds))}, last "
                             f"{fmt_seconds(statistics.median(tops))} (median over rounds), worst "
                             f"{fmt_seconds(max(tops))}")
        return "; ".join(parts)

    def requests(kind: str) -> str:
        ts = result["requests"].get(kind) or []
        return f"its HTTP request took a median {fmt_seconds(statistics.median(ts))}" if ts else ""

    common = (f"`anvil serve` (1 uvicorn worker) + `anvil worker`, SQLite, loopback; {n} LIVE clients: "
              f"{PUSH_INSTANCES} with receivers, {STREAM_INSTANCES} on the event stream "
              f"({PROCESSES_PER_KIND} processes of each); {len(rounds)} rounds")
    anchor_med, anchor_max, anchor_text = summary("publish")
    wall = ", ".join(f"{name} {fmt_seconds(t)}" for name, t in result.get("phases", {}).items())
    rows = [Row(f"rollout anchor: publish to everyone, {n} instances → all converge", anchor_text, "", "",
                notes=[common + (f" (wall time: {wall})" if wall else ""), "each: " + ", ".join(fmt_seconds(t) for t in times("publish")), paths("publish"),
                       requests("publish")]
                + [f"the clients logged: {line}" for line in result.get("logs", []) if "bench_rollout" not in line][:10]
                + ["holder start-up: " + "; ".join(line for line in result.get("logs", []) if "bench_rollout" in line)],
                data={"seconds": times("publish")})]

    cohorts = [r["staged"]["cohort"] for r in rounds]
    strays = sum(r["staged"]["outside_moved"] for r in rounds)
    med, top, text = summary("staged")
    rows.append(Row(f"rollout {PERCENTAGE} %, {n} instances → cohort converges",
                    f"{text}; cohort {min(cohorts)}–{max(cohorts)} instances; {strays} outside moved",
                    "< 1 s, none outside moves", verdict(med < 1.0 and strays == 0),
                    notes=[f"cohorts per round {cohorts} (of them with receivers: "
                           f"{[r['staged']['cohort_push'] for r in rounds]}); {fmt_seconds(SETTLE)} waited after "
                           f"each converged before checking the others",
                           "each: " + ", ".join(fmt_seconds(t) for t in times("staged")), paths("staged"),
                           requests("staged")]
                          + ([f"outside instances that moved: {[r['staged']['strays'] for r in rounds]}"]
                             if strays else []),
                    data={"seconds": times("staged"), "cohorts": cohorts, "outside_moved": strays}))
    for phase, label in (("expand", "rollout expand"), ("rollback", "rollout roll back")):
        med, top, text = summary(phase)
        ratio = med / anchor_med if anchor_med else float("nan")
        progress = [r[phase]["progress"] for r in rounds]
        shown = [p["on_release"] for p in progress]
        failed = [r[phase]["missing"][:5] for r in rounds if not r[phase]["ok"]]
        rows.append(Row(f"{label}, {n} instances → all converge", f"{text}; {ratio:.2f}× the anchor",
                        "< 1 s", verdict(med < 1.0),
                        notes=[f"last five per round: {[r[phase]['late'] for r in rounds]}",
                               "each: " + ", ".join(fmt_seconds(t) for t in times(phase))
                               + f" (instances that moved: {[r[phase]['moved'] for r in rounds]})",
                               paths(phase), requests(phase),
                               f"the FORGE's rollout progress once they converged: on the release {shown} of "
                               f"{[p['instances'] for p in progress]}"]
                              + ([f"did not converge in {PHASE_TIMEOUT:g} s: {failed}"] if failed else []),
                        data={"seconds": times(phase), "progress": progress}))
    return rows


if __name__ == "__main__":
    if "--holders" in sys.argv:
        i = sys.argv.index("--holders")
        holders(*sys.argv[i + 1:i + 8])
    elif "--child" in sys.argv:
        emit(child())
    else:
        for row in run():
            print(row)
