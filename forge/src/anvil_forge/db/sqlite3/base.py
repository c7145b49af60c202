"""Django's SQLite backend, with a flush that respects the prompt-set freeze triggers.

``flush`` (used by ``anvil flush`` and by transactional tests) empties every
table with ``DELETE``; on SQLite that fires the triggers that refuse deleting a
frozen set's prompts. Wiping everything is not an edit, so the flush first
returns every set to LIVE (the one change the triggers allow). PostgreSQL
flushes with ``TRUNCATE``, which fires no row triggers.

The database file holds receiver secrets and password hashes: it is created
0600 (SQLite gives its ``-wal`` and ``-shm`` files the database file's mode),
and a file an earlier release left readable by others is tightened.
"""

from pathlib import Path

from django.db.backends.sqlite3 import base, operations

from anvil_forge.core.files import create_private, private


class DatabaseOperations(operations.DatabaseOperations):
    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        sql = super().sql_flush(style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        if "prompts_promptset" in tables:
            sql.insert(0, "UPDATE prompts_promptset SET status = 'live';")
        return sql


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations

    def get_new_connection(self, conn_params):
        name = str(conn_params.get("database", ""))
        on_disk = name and name != ":memory:" and not name.startswith("file:")
        if on_disk:
            create_private(Path(name))
        connection = super().get_new_connection(conn_params)
        if on_disk:
            for suffix in ("-wal", "-shm", "-journal"):
                private(Path(name + suffix))
        return connection
