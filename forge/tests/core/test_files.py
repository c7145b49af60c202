"""Files in the data directory: created once (secret key, signing key) when several processes start at once;
those holding secrets (the SQLite database, e-mailed sign-in links) readable by the service's user only."""

import multiprocessing
import os
import stat
import subprocess
import sys

import pytest

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


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def loose_umask():
    old = os.umask(0o022)  # the common default: files 0644
    yield
    os.umask(old)


def _sqlite(name):
    """A connection to an embedded database file, as the FORGE opens it (on whichever database tests run)."""
    from django.db.utils import ConnectionHandler

    return ConnectionHandler({"default": {"ENGINE": "anvil_forge.db.sqlite3", "NAME": str(name)}})["default"]


def test_the_sqlite_database_and_its_wal_files_are_created_private(tmp_path, loose_umask, django_db_blocker):
    name = tmp_path / "anvil.sqlite3"
    with django_db_blocker.unblock():  # a database of its own, not the test database
        db = _sqlite(name)
        with db.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("CREATE TABLE secrets (value TEXT)")
            cursor.execute("INSERT INTO secrets VALUES ('receiver secret')")
            assert {_mode(name), _mode(f"{name}-wal"), _mode(f"{name}-shm")} == {0o600}
        db.close()
        os.chmod(name, 0o644)  # as an earlier release created it
        db = _sqlite(name)
        db.ensure_connection()
        db.close()
    assert _mode(name) == 0o600


def test_mail_files_with_sign_in_links_are_private(tmp_path, settings, loose_umask):
    from django.core.mail import send_mail

    from anvil_forge import settings as anvil_settings

    settings.MAILERS = {"default": {**anvil_settings.MAILERS["default"], "OPTIONS": {"file_path": str(tmp_path / "mail")}}}
    send_mail("Sign in", "https://forge.example/accounts/link/secret", "anvil@localhost", ["ann@example.com"])
    [mail] = (tmp_path / "mail").iterdir()
    assert "accounts/link/secret" in mail.read_text()
    assert _mode(mail) == 0o600 and _mode(tmp_path / "mail") == 0o700


def test_a_new_data_directory_is_private(tmp_path):
    data = tmp_path / "data"
    env = {**os.environ, "ANVIL_DATA_DIR": str(data)}
    subprocess.run([sys.executable, "-c", "import anvil_forge.settings"], env=env, check=True, umask=0o022)
    assert _mode(data) == 0o700
