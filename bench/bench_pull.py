"""(e) Bundle pull throughput: GET /api/v1/projects/{id}/current_bundle on `anvil serve`.

A child process sets up a temporary data directory (SQLite), creates a project
with 1,000 published prompts (10 LOCKED sets of 100, as in the bundle-build
benchmark) and an access token through the services, then starts
``anvil serve --port <free port>`` on it and pulls from a few threads for a
few seconds: full 200 responses (gzip accepted, as anvil_client asks) and
304s (``If-None-Match`` with the ETag, what a polling client gets when nothing
changed). The API's rate limit is raised for the run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, Row, emit, fmt_seconds, run_child, stop_process  # noqa: E402

THREADS = 4
SECONDS = 4.0
SETS = 10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"anvil serve exited with {proc.returncode}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("anvil serve did not start in time")


def load(url: str, headers: dict[str, str], expect: int, seconds: float, threads: int) -> dict:
    import httpx

    counts = [0] * threads
    wire = [0] * threads
    body = [0] * threads
    errors: list[str] = []
    stop = time.perf_counter() + seconds

    def worker(i: int) -> None:
        with httpx.Client(timeout=30, headers=headers) as http:
            while time.perf_counter() < stop:
                response = http.get(url)
                if response.status_code != expect:
                    errors.append(f"{response.status_code}: {response.text[:200]}")
                    return
                counts[i] += 1
                wire[i] += response.num_bytes_downloaded
                body[i] += len(response.content)

    start = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"unexpected responses: {errors[:3]}")
    return {"requests": sum(counts), "seconds": elapsed, "rps": sum(counts) / elapsed,
            "wire_mb_s": sum(wire) / elapsed / 1e6, "body_mb_s": sum(body) / elapsed / 1e6,
            "wire_bytes": sum(wire) / max(1, sum(counts)), "body_bytes": sum(body) / max(1, sum(counts))}


def child() -> dict:
    import httpx

    from bench_bundle_build import create_data, setup_django

    with tempfile.TemporaryDirectory(prefix="anvil-bench-pull-") as data_dir:
        setup_django(data_dir)
        from anvil_forge.distribution.services import create_access_token, publish

        owner, project, sets = create_data(SETS)
        for pset in sets:
            publish(owner, pset)
        _, secret = create_access_token(owner, project, "bench")
        port = free_port()
        env = {**os.environ, "ANVIL_DATA_DIR": data_dir, "ANVIL_API_RATE_LIMIT": "100000000/minute",
               "DJANGO_SETTINGS_MODULE": "anvil_forge.settings"}
        env.pop("DATABASE_URL", None)
        anvil = str(Path(sys.executable).parent / "anvil")
        server = subprocess.Popen([anvil, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base, server)
            url = f"{base}/api/v1/projects/{project.pk}/current_bundle"
            auth = {"Authorization": f"Bearer {secret}", "Accept-Encoding": "gzip"}
            first = httpx.get(url, headers=auth, timeout=60)
            if first.status_code == 404:
                return {"missing": True, "detail": first.text[:300]}
            first.raise_for_status()
            etag = first.headers["ETag"]
            assert len(first.json()["prompts"]) == SETS * 100
            full = load(url, auth, 200, SECONDS, THREADS)
            not_modified = load(url, {**auth, "If-None-Match": etag}, 304, SECONDS, THREADS)
            return {"missing": False, "full": full, "not_modified": not_modified,
                    "gzip": first.headers.get("Content-Encoding") == "gzip"}
        finally:
            stop_process(server)


def run() -> list[Row]:
    result = run_child("bench_pull", timeout=300)
    if result.get("missing"):
        return [Row("bundle pull throughput (GET current_bundle)", "not measured: endpoint missing",
                    verdict="not measured", notes=[result.get("detail", "")])]
    full, nm = result["full"], result["not_modified"]
    common = f"`anvil serve` (1 uvicorn worker), SQLite, {THREADS} client threads × {SECONDS:g} s, 1,000 prompts"
    return [
        Row("bundle pull throughput, full 200 responses (gzip)",
            f"{full['rps']:.1f} req/s, {full['wire_mb_s']:.2f} MB/s on the wire "
            f"({full['body_mb_s']:.1f} MB/s decompressed)",
            notes=[common, f"{full['wire_bytes'] / 1e3:.0f} kB gzip per response "
                           f"({full['body_bytes'] / 1e6:.2f} MB JSON); {full['requests']} requests"
                           + ("" if result["gzip"] else "; NOT gzip-encoded")],
            data=full),
        Row("bundle pull throughput, 304 Not Modified (If-None-Match)",
            f"{nm['rps']:.0f} req/s ({fmt_seconds(1 / nm['rps'])} per request)",
            notes=[common, f"{nm['requests']} requests"], data=nm),
    ]


if __name__ == "__main__":
    if "--child" in sys.argv:
        emit(child())
    else:
        for row in run():
            print(row)
