"""Run Anvil's benchmarks (issue 5, item 7), print one table and write docs/performance.md.

    .venv/bin/python bench/run.py                  # everything (what `make bench` runs)
    .venv/bin/python bench/run.py --only render    # one or more of: render, coldstart, build, pull
    .venv/bin/python bench/run.py --no-write       # print only

Each benchmark is a module of this folder; the FORGE ones run in child
processes with their own temporary data directory, so nothing here touches
ANVIL_DATA_DIR or a running FORGE.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, Row, machine, package_version  # noqa: E402

BENCHMARKS = {
    "render": ("bench_render", "(a) prompt() vs python-liquid, (b) vs Langfuse"),
    "coldstart": ("bench_coldstart", "(c) cold start from a disk cache of 1,000 prompts"),
    "build": ("bench_bundle_build", "(d) bundle build for 1,000 and 10,000 prompts"),
    "pull": ("bench_pull", "(e) bundle pull throughput"),
    "distribution": ("bench_distribution", "issue 6: push fan-out, publish → stream, 500 streams"),
    "rollout": ("bench_rollout", "issue 7: staged rollout 10 %, expand, roll back on 200 LIVE instances"),
    "chat": ("bench_chat", "(f) messages() vs python-liquid; prompt() vs the previous release"),
}

METHOD = """\
- **Per-call timings** ((a), (b)) run in one process, side by side: the cases'
  samples are interleaved (a, b, c, a, b, c, …), each sample is a loop of calls
  lasting ~10 ms, and the time is the process's CPU time (`time.process_time`),
  so the moments the shared machine gives the CPU to other processes do not
  count. The verdict uses the best sample of each case (timeit's convention:
  the least disturbed one); medians are shown beside it. Outputs are checked
  equal before timing.
- **(a)** `Client.prompt(id, **values)` — table lookup, parameter checks and
  conversion, rendering — against `liquid.Environment().from_string(src)
  .render(**values)` (a default python-liquid environment, template parsed
  once) on a prompt with five variables, an `if`, a `for` over `(1..3)` and two
  filters.
- **(b)** the same `prompt()` on a plain-substitution prompt
  (`Hello {{name}}, you are {{role}} at {{company}}.`) against the Langfuse SDK
  5 as an application calls it, `lf.get_prompt(name).compile(**values)`, with
  tracing off and its prompt cache pre-filled (a cache hit: no network). Every
  outgoing connection is refused and counted during the run, and the SDK is
  shut down afterwards (its consumer threads included).
- **(c)** a Client applies a signed bundle of 1,000 prompts (10 sets × 100, five
  template shapes) to a disk cache; then each trial is a fresh interpreter
  that constructs `Client(project=…, cache_dir=…, public_key=…, background=False)`
  — reading the cache and verifying it (checksum and Ed25519 signature) — and
  renders one prompt that must be compiled (`if`/`for`/filters). The child
  times `Client(...)` → first `prompt()` returned, in CPU time (the verdict)
  and wall time; the parent times the whole process. Median of 9 processes;
  the file is in the page cache after the first.
- **(d)** a child process migrates a temporary SQLite database and creates,
  through the services, a project with 100 LOCKED prompt sets of 100 prompts
  (see bench/bench_bundle_build.py for the two shortcuts taken to keep set-up
  short); publishes 10 sets and times `build_bundle(project)` with its cache
  cleared before each build (query, bundle body, canonical JSON, SHA-256,
  Ed25519 signature), then publishes the other 90 and times it again. The
  verdict uses the median CPU time of the builds; wall times are shown beside
  it (on a dedicated machine the two are the same for this single-threaded
  work on a database in the page cache).
- **(e)** `anvil serve` (one uvicorn worker) on a temporary data directory with
  1,000 published prompts; 4 client threads with httpx pull for 4 s with
  `Accept-Encoding: gzip` (full 200 responses), then 4 s with the ETag in
  `If-None-Match` (304s). The API rate limit is raised for the run. No target.
- **Staged rollouts** (bench/bench_rollout.py): `anvil serve` + `anvil worker` on
  SQLite and 200 real LIVE clients with fixed instance ids in 8 processes — 100
  with receivers (pushed to by the worker), 100 holding the event stream (polling
  and heartbeats an hour apart) — each process reporting when each client starts
  serving a sequence. Per round: a publish to everyone (the anchor), a publish to
  10 % (timed to the cohort's last instance; the others must not move), the
  expansion to everyone and a roll back (each timed from its HTTP request to the
  200th instance serving the sequence). Median of 3 rounds (max shown beside it);
  verdict on the median. SQLite only (the suite's PostgreSQL runs are
  bench_distribution's).
- The machine is shared with other work (its load average is printed above):
  wall-clock numbers vary between runs with what else runs, CPU-time ones much
  less, which is why the verdicts use CPU time. CPU time is still inflated by
  other processes sharing the cores' caches.
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), help="run only these")
    parser.add_argument("--write", default=str(REPO / "docs" / "performance.md"), help="markdown file to write")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    return parser.parse_args(argv)


def run_benchmarks(names: list[str]) -> tuple[list[Row], dict[str, float]]:
    import importlib

    rows: list[Row] = []
    durations: dict[str, float] = {}
    for name in names:
        module_name, title = BENCHMARKS[name]
        print(f"… {title}", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            rows.extend(importlib.import_module(module_name).run())
        except Exception as exc:  # report it in the table, keep going
            traceback.print_exc()
            rows.append(Row(title, f"not measured: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}",
                            verdict="not measured"))
        durations[name] = time.perf_counter() - start
    return rows, durations


def text_table(rows: list[Row]) -> str:
    header = ("benchmark", "measured", "target", "verdict")
    cells = [header] + [(r.name, r.measured, r.target, r.verdict) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(4)]
    lines = []
    for i, cell in enumerate(cells):
        lines.append("  ".join(c.ljust(w) for c, w in zip(cell, widths)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(rows: list[Row], facts: dict[str, str], when: str, durations: dict[str, float], load_after: str) -> str:
    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    out = [
        "# Performance",
        "",
        "Benchmarks of issue 5 (item 7), run with `make bench` (`bench/run.py`), which writes",
        "this file. Targets come from the issue; each comparison is measured side by side in",
        "one run.",
        "",
        f"Run on {when}.",
        "",
        "| machine | |",
        "| --- | --- |",
        f"| CPUs (`nproc`) | {facts['nproc']} |",
        f"| CPU model | {esc(facts['cpu'])} |",
        f"| memory | {facts['memory']} |",
        f"| Python | {facts['python']} |",
        f"| OS | {esc(facts['os'])} |",
        f"| load average (1, 5, 15 min) | at the start {facts['load']}; at the end {load_after} |",
        f"| python-liquid / langfuse | {package_version('python-liquid')} / {package_version('langfuse')} |",
        "",
        "## Results",
        "",
        "| benchmark | measured | target | verdict |",
        "| --- | --- | --- | --- |",
    ]
    for r in rows:
        out.append(f"| {esc(r.name.strip())} | {esc(r.measured)} | {esc(r.target)} | {r.verdict} |")
    out += ["", "Notes:", ""]
    for r in rows:
        for note in r.notes:
            if note:
                out.append(f"- *{esc(r.name.strip())}*: {note}")
    total = sum(durations.values())
    out += ["", f"Suite run time: {total:.0f} s ("
            + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in durations.items()) + ").",
            "", "## Method", "", METHOD]
    notes_file = Path(__file__).resolve().parent / "NOTES.md"
    if notes_file.exists():
        out += [notes_file.read_text().rstrip(), ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = args.only or list(BENCHMARKS)
    facts = machine()
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"Anvil benchmarks — {when}\nmachine: {facts['nproc']} CPUs ({facts['cpu']}), {facts['memory']}, "
          f"{facts['python']}, load {facts['load']}\n", flush=True)
    rows, durations = run_benchmarks(names)
    load_after = machine()["load"]
    print()
    print(text_table(rows))
    print(f"\nsuite run time {sum(durations.values()):.0f} s; load average at the end {load_after}")
    if not args.no_write and not args.only:
        path = Path(args.write)
        path.write_text(markdown(rows, facts, when, durations, load_after))
        print(f"written to {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    elif not args.no_write:
        print("(a partial run does not rewrite docs/performance.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
