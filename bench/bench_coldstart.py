"""(c) Cold start: a disk cache of 1,000 prompts → a new process's first prompt().

The cache is written by a Client that applied a signed bundle of 1,000 prompts
(10 sets × 100). Each trial is a fresh interpreter that imports anvil_client,
constructs Client(...) on that cache (verifying the bundle: checksum and
Ed25519 signature) and renders one prompt. The child reports its own timings;
the parent measures the whole process (interpreter start-up included).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PYTHON, Row, emit, fmt_seconds, verdict  # noqa: E402

PROJECT = "0b6f5c1e-0000-7000-8000-0000000c01d5"
FIRST_PROMPT = "set000.prompt001"  # the `if`/`for`/filters shape: compiled on first use
TRIALS = 9

CHILD = r"""
import json, sys, time
t0, c0 = time.perf_counter(), time.process_time()
import anvil_client
t1, c1 = time.perf_counter(), time.process_time()
client = anvil_client.Client(project=sys.argv[2], cache_dir=sys.argv[1], public_key=sys.argv[3], background=False)
text = client.prompt(sys.argv[4], company="Acme", name="ada", vip=True, question="Where is my order?")
t2, c2 = time.perf_counter(), time.process_time()
assert client.status()["prompt_count"] == 1000 and client.status()["source"] == "disk", client.status()
print(json.dumps({"import": t1 - t0, "first_prompt": t2 - t1, "import_cpu": c1 - c0, "first_prompt_cpu": c2 - c1,
                  "chars": len(text)}))
"""


def write_cache(cache_dir: str) -> str:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from anvil_client import Client
    from anvil_client import bundle as bundles
    from fixtures import bundle_sets

    key = Ed25519PrivateKey.generate()
    public = bundles.public_key_text(key)
    prompt_sets, prompts = bundle_sets(10, 100)
    body = bundles.make_body(project={"id": PROJECT, "slug": "cold", "name": "Cold start"}, sequence=1,
                             created_at="2026-11-22T00:00:00Z", prompt_sets=prompt_sets, prompts=prompts,
                             forge_key=public)
    client = Client(project=PROJECT, cache_dir=cache_dir, public_key=public, background=False)
    client.apply(bundles.seal(body, key))
    assert len(client.prompt_ids()) == 1000
    return public


def run(trials: int = TRIALS) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="anvil-bench-cold-") as cache_dir:
        public = write_cache(cache_dir)
        size = (Path(cache_dir) / "state.json").stat().st_size
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANVIL_")}
        # Let the interpreter keep its bytecode cache, as an installed application's would.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        results, wall = [], []
        for _ in range(trials):
            start = time.perf_counter()
            proc = subprocess.run([PYTHON, "-c", CHILD, cache_dir, PROJECT, public, FIRST_PROMPT],
                                  capture_output=True, text=True, env=env, cwd=tempfile.gettempdir())
            wall.append(time.perf_counter() - start)
            if proc.returncode != 0:
                raise RuntimeError(f"cold-start child failed:\n{proc.stderr[-3000:]}")
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    first = [r["first_prompt"] for r in results]
    first_cpu = [r["first_prompt_cpu"] for r in results]
    imports = [r["import"] for r in results]
    med = statistics.median(first_cpu)
    return [
        Row("cold start: Client(...) on a disk cache of 1,000 prompts → first prompt() returns",
            f"{fmt_seconds(med)} CPU (wall: median {fmt_seconds(statistics.median(first))}, "
            f"best {fmt_seconds(min(first))})", "< 100 ms", verdict(med < 0.1),
            [f"median of {trials} fresh processes; cache file {size / 1e6:.1f} MB, verified (checksum + "
             f"Ed25519 signature) on load; the prompt is compiled on first use"],
            {"first_prompt": first, "first_prompt_cpu": first_cpu}),
        Row("  same, whole process: interpreter start + imports + Client + first prompt()",
            f"{fmt_seconds(statistics.median(wall))} wall median (of which import anvil_client "
            f"{fmt_seconds(statistics.median(imports))})",
            notes=["measured by the parent from spawn to exit; the imports are mostly python-liquid's and "
                   "cryptography's (`python -X importtime -c 'import anvil_client'`)"],
            data={"wall": wall, "import": imports}),
    ]


if __name__ == "__main__":
    rows = run()
    if "--child" in sys.argv:
        emit({"rows": [r.to_json() for r in rows]})
    else:
        for row in rows:
            print(row)
