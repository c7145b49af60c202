"""Django's SQLite backend, with a flush that respects the prompt-set freeze triggers.

``flush`` (used by ``anvil flush`` and by transactional tests) empties every
table with ``DELETE``; on SQLite that fires the triggers that refuse deleting a
frozen set's prompts. Wiping everything is not an edit, so the flush first
returns every set to LIVE (the one change the triggers allow). PostgreSQL
flushes with ``TRUNCATE``, which fires no row triggers.
"""

from django.db.backends.sqlite3 import base, operations


class DatabaseOperations(operations.DatabaseOperations):
    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        sql = super().sql_flush(style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        if "prompts_promptset" in tables:
            sql.insert(0, "UPDATE prompts_promptset SET status = 'live';")
        return sql


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
