"""Chat prompts, model configuration and dependencies between prompt sets (docs/data-model.md). The frozen
set trigger learns the two new set columns; old rows keep their meaning (text prompts, no config).

On SQLite, adding a column rebuilds the table, which its triggers (and the other table's, which name it)
do not survive: every trigger of 0002 is dropped before the columns are added and created again after
(and the same going back)."""

from pathlib import Path

from django.db import migrations, models

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
SQLITE_TRIGGERS = ["anvil_prompt_frozen_insert", "anvil_prompt_frozen_update", "anvil_prompt_frozen_delete",
                   "anvil_promptset_frozen_update", "anvil_promptset_frozen_delete", "anvil_version_immutable"]


def _sqlite_statements(name: str) -> list[str]:
    text = (SQL_DIR / name).read_text()
    body = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
    return [part.strip() + " END;" for part in body.split("END;") if part.strip()]


def _statements(vendor: str, v2: bool) -> list[str]:
    if vendor == "sqlite":
        statements = [f"DROP TRIGGER IF EXISTS {name}" for name in SQLITE_TRIGGERS]
        for statement in _sqlite_statements("freeze_sqlite.sql"):
            if v2 and "anvil_promptset_frozen_update" in statement:
                statement = _sqlite_statements("freeze_promptset_v2_sqlite.sql")[0]
            statements.append(statement)
        return statements
    if vendor == "postgresql":
        if v2:
            return [(SQL_DIR / "freeze_promptset_v2_postgresql.sql").read_text()]
        text = (SQL_DIR / "freeze_postgresql.sql").read_text()
        start = text.index("CREATE OR REPLACE FUNCTION anvil_promptset_frozen()")
        return [text[start:text.index("CREATE TRIGGER anvil_promptset_frozen")]]
    raise RuntimeError(f"Anvil supports SQLite and PostgreSQL, not {vendor}")


def drop_sqlite_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for name in SQLITE_TRIGGERS:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}", params=None)


def triggers_v2(apps, schema_editor):
    for statement in _statements(schema_editor.connection.vendor, v2=True):
        schema_editor.execute(statement, params=None)


def triggers_v1(apps, schema_editor):
    for statement in _statements(schema_editor.connection.vendor, v2=False):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("prompts", "0003_approvals")]

    operations = [
        migrations.RunPython(drop_sqlite_triggers, triggers_v1),
        migrations.AddField(model_name="promptset", name="config", field=models.JSONField(blank=True, default=dict)),
        migrations.AddField(model_name="promptset", name="dependencies",
                            field=models.JSONField(blank=True, default=dict)),
        migrations.AddField(model_name="prompt", name="kind",
                            field=models.CharField(choices=[("text", "text"), ("chat", "chat")], default="text",
                                                   max_length=10)),
        migrations.AddField(model_name="prompt", name="messages", field=models.JSONField(blank=True, default=list)),
        migrations.AddField(model_name="prompt", name="config", field=models.JSONField(blank=True, default=dict)),
        migrations.AddConstraint(model_name="prompt", constraint=models.CheckConstraint(
            condition=models.Q(kind__in=["text", "chat"]), name="prompt_kind_valid")),
        migrations.RunPython(triggers_v2, drop_sqlite_triggers),
    ]
