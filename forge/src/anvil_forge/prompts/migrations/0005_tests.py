"""Prompt test cases (docs/prompt-tests.md): a prompt's ``tests``, the results a version recorded when it was
made (``test_results``, immutable like the rest of a version), the project's locking gate (``tests_gate``)
and the ETag of what the last push from files wrote (``pushed_etag``, docs/prompts-as-code.md).

As in 0004, SQLite rebuilds the tables that gain columns, so every trigger is dropped first and created
again after; the version trigger learns the new column."""

from pathlib import Path

from django.db import migrations, models

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
SQLITE_TRIGGERS = ["anvil_prompt_frozen_insert", "anvil_prompt_frozen_update", "anvil_prompt_frozen_delete",
                   "anvil_promptset_frozen_update", "anvil_promptset_frozen_delete", "anvil_version_immutable"]


def _sqlite_statements(name: str) -> list[str]:
    text = (SQL_DIR / name).read_text()
    body = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
    return [part.strip() + " END;" for part in body.split("END;") if part.strip()]


def _statements(vendor: str, v3: bool) -> list[str]:
    if vendor == "sqlite":
        statements = []
        for statement in _sqlite_statements("freeze_sqlite.sql"):
            if "anvil_promptset_frozen_update" in statement:
                statement = _sqlite_statements("freeze_promptset_v2_sqlite.sql")[0]
            if v3 and "anvil_version_immutable" in statement:
                statement = _sqlite_statements("freeze_version_v3_sqlite.sql")[0]
            statements.append(statement)
        return statements
    if vendor == "postgresql":
        if v3:
            return [(SQL_DIR / "freeze_version_v3_postgresql.sql").read_text()]
        text = (SQL_DIR / "freeze_postgresql.sql").read_text()
        start = text.index("CREATE OR REPLACE FUNCTION anvil_version_immutable()")
        return [text[start:text.index("CREATE TRIGGER anvil_version_immutable")]]
    raise RuntimeError(f"Anvil supports SQLite and PostgreSQL, not {vendor}")


def drop_sqlite_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for name in SQLITE_TRIGGERS:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}", params=None)


def triggers_v3(apps, schema_editor):
    for statement in _statements(schema_editor.connection.vendor, v3=True):
        schema_editor.execute(statement, params=None)


def triggers_v2(apps, schema_editor):
    for statement in _statements(schema_editor.connection.vendor, v3=False):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("prompts", "0004_chat_config_dependencies")]

    operations = [
        migrations.RunPython(drop_sqlite_triggers, triggers_v2),
        migrations.AddField(model_name="prompt", name="tests", field=models.JSONField(blank=True, default=list)),
        migrations.AddField(model_name="version", name="test_results",
                            field=models.JSONField(blank=True, null=True)),
        migrations.AddField(model_name="project", name="tests_gate", field=models.BooleanField(default=True)),
        migrations.AddField(model_name="promptset", name="pushed_etag",
                            field=models.CharField(blank=True, default="", max_length=40)),
        migrations.RunPython(triggers_v3, drop_sqlite_triggers),
    ]
