"""Database triggers: a prompt set outside LIVE and every version are frozen (see sql/)."""

from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"

DROP = {
    "sqlite": [
        "DROP TRIGGER IF EXISTS anvil_prompt_frozen_insert",
        "DROP TRIGGER IF EXISTS anvil_prompt_frozen_update",
        "DROP TRIGGER IF EXISTS anvil_prompt_frozen_delete",
        "DROP TRIGGER IF EXISTS anvil_promptset_frozen_update",
        "DROP TRIGGER IF EXISTS anvil_promptset_frozen_delete",
        "DROP TRIGGER IF EXISTS anvil_version_immutable",
    ],
    "postgresql": [
        "DROP TRIGGER IF EXISTS anvil_prompt_frozen ON prompts_prompt",
        "DROP TRIGGER IF EXISTS anvil_promptset_frozen ON prompts_promptset",
        "DROP TRIGGER IF EXISTS anvil_version_immutable ON prompts_version",
        "DROP FUNCTION IF EXISTS anvil_prompt_frozen()",
        "DROP FUNCTION IF EXISTS anvil_promptset_frozen()",
        "DROP FUNCTION IF EXISTS anvil_version_immutable()",
    ],
}


def _statements(vendor: str) -> list[str]:
    text = (SQL_DIR / f"freeze_{vendor}.sql").read_text()
    if vendor == "sqlite":
        # One statement per trigger; comments dropped.
        body = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
        return [part.strip() + " END;" for part in body.split("END;") if part.strip()]
    return [text]


def create(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor not in DROP:
        raise RuntimeError(f"Anvil supports SQLite and PostgreSQL, not {vendor}")
    for statement in _statements(vendor):
        schema_editor.execute(statement, params=None)


def drop(apps, schema_editor):
    for statement in DROP.get(schema_editor.connection.vendor, []):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("prompts", "0001_initial")]
    operations = [migrations.RunPython(create, drop)]
