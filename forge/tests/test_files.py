"""Files created once in the data directory (secret key, signing key) when several processes start at once."""

import multiprocessing
import os

from anvil_forge.core.files import create_once


def _create(path, content, start, results):
    start.wait()
    results.put(len(create_once(path, content)))


def test_racing_processes_all_get_the_first_complete_file(tmp_path):
    path = tmp_path / "forge_ed25519.pem"
    context = multiprocessing.get_context("spawn")  # fresh interpreters, as separate processes would be
    results, start = context.Queue(), context.Barrier(8)
    size = 4 * 1024 * 1024  # large enough that a reader could catch a writer half-way
    processes = [context.Process(target=_create, args=(path, bytes([n]) * size, start, results)) for n in range(8)]
    for process in processes:
        process.start()
    got = [results.get(timeout=30) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    assert got == [size] * 8  # every process got a whole file …
    assert len(set(path.read_bytes())) == 1  # … and one process's content, not a mix
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert os.listdir(tmp_path) == ["forge_ed25519.pem"]  # nothing left aside


def test_an_existing_file_is_never_overwritten(tmp_path):
    path = tmp_path / "secret_key"
    path.write_bytes(b"kept")
    assert create_once(path, b"new") == b"kept" and path.read_bytes() == b"kept"
