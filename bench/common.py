"""Shared helpers of the benchmark suite: timing, machine facts, results, child processes."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
PYTHON = sys.executable


@dataclass
class Row:
    """One line of the results table."""

    name: str
    measured: str
    target: str = ""
    verdict: str = ""  # "meets", "MISSES", "" (no target) or "not measured"
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


# --- timing -------------------------------------------------------------------------

def per_call(fn: Callable[[], object], number: int) -> float:
    """CPU seconds per call of ``fn`` over ``number`` calls (one sample).

    CPU time of this process (``time.process_time``), not wall time: on a shared
    machine the wall clock also counts the time other processes hold the CPU.
    """
    timer = time.process_time
    start = timer()
    for _ in range(number):
        fn()
    return (timer() - start) / number


def calibrate(fn: Callable[[], object], sample_seconds: float = 0.01) -> int:
    """How many calls make a sample of about ``sample_seconds``."""
    number = 1
    while True:
        elapsed = per_call(fn, number) * number
        if elapsed >= sample_seconds / 4 or number >= 1_000_000:
            return max(1, int(number * sample_seconds / max(elapsed, 1e-9)))
        number *= 4


def compare(cases: dict[str, Callable[[], object]], *, samples: int, sample_seconds: float = 0.01) -> dict[str, dict]:
    """Time several callables side by side: samples are interleaved (a, b, c, a, b, c, …)
    so that a busy moment of the machine hits every case alike.

    Returns, per case, the best and median seconds per call and the sample size.
    The best of many short samples is the least disturbed by other processes.
    """
    numbers = {name: calibrate(fn, sample_seconds) for name, fn in cases.items()}
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(samples):
        for name, fn in cases.items():
            times[name].append(per_call(fn, numbers[name]))
    return {name: {"best": min(ts), "median": statistics.median(ts), "samples": len(ts),
                   "calls_per_sample": numbers[name]} for name, ts in times.items()}


def fmt_seconds(seconds: float) -> str:
    if seconds < 1e-6:
        return f"{seconds * 1e9:.0f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


# --- machine ------------------------------------------------------------------------

def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "unknown"
    return {"nproc": str(os.cpu_count()), "cpu": cpu, "memory": memory,
            "python": f"{platform.python_implementation()} {platform.python_version()}",
            "os": f"{platform.system()} {platform.release()}", "load": load}


def package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


# --- child processes ------------------------------------------------------------------

def stop_process(process: subprocess.Popen, timeout: float = 15) -> None:
    """Terminate a server or worker the benchmark started; kill it if it does not stop in time."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run_child(module: str, args: list[str] | None = None, *, env: dict[str, str] | None = None,
              timeout: float = 240) -> dict[str, Any]:
    """Run ``bench/<module>.py --child …`` in a fresh interpreter; it prints one JSON object last."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([PYTHON, str(BENCH_DIR / f"{module}.py"), "--child", *(args or [])],
                          capture_output=True, text=True, env=full_env, timeout=timeout, cwd=REPO)
    if proc.returncode != 0:
        raise RuntimeError(f"{module} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    last = [line for line in proc.stdout.splitlines() if line.strip()][-1]
    return json.loads(last)


def emit(result: dict[str, Any]) -> None:
    """What a child prints as its last line."""
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


def rows_from(result: dict[str, Any]) -> list[Row]:
    return [Row(**row) for row in result["rows"]]
