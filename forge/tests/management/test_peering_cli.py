"""``anvil export`` and ``anvil import``."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from anvil_forge.audit.models import AuditEvent
from anvil_forge.peering import archive
from anvil_forge.prompts.models import Project, Version

from ..peering_support import rich, target_org  # noqa: F401  (fixtures)


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_export_to_a_file_by_slug_path_and_by_id(rich, tmp_path):
    path = tmp_path / "support.json"
    _, err = run("export", "acme/support", "-o", str(path))
    data = json.loads(path.read_text())
    assert archive.validate(data)
    assert "Exported acme/support: 4 prompt set(s), 5 prompt(s), 6 version(s)" in err and data["checksum"] in err
    out, _ = run("export", str(rich.project.pk))
    assert json.loads(out)["checksum"] == data["checksum"]


def test_export_as_a_user_sees_only_their_projects(rich, tmp_path):
    run("export", "acme/support", "--as", "member@example.com", "-o", str(tmp_path / "a.json"))
    with pytest.raises(CommandError, match="no project acme/support that outsider@example.com may see"):
        run("export", "acme/support", "--as", "outsider@example.com")


@pytest.mark.parametrize("args, message", [
    (["nope"], "neither a project id nor org/project"),
    (["acme/nothing"], "no project acme/nothing"),
    (["00000000-0000-0000-0000-000000000000"], "no project"),
    (["acme/support", "--as", "nobody@example.com"], "no active user"),
    (["acme/support", "-o", "/nonexistent-dir/x.json"], "cannot write"),
])
def test_export_errors(rich, args, message):
    with pytest.raises(CommandError, match=message):
        run("export", *args)


def test_import_then_again_then_export_is_the_same(rich, target_org, tmp_path):
    path = tmp_path / "support.json"
    run("export", "acme/support", "-o", str(path))
    out, _ = run("import", str(path), "--organisation", "target")
    assert "Imported 'Support' (target/support): 4 prompt set(s), 6 version(s)." in out
    event = AuditEvent.objects.get(action="project.import")
    assert event.actor == rich.owner and event.summary["via"] == "cli"  # the organisation's first owner
    versions = Version.objects.count()
    out, _ = run("import", str(path), "--org", str(target_org.pk))
    assert "Nothing new to import" in out and Version.objects.count() == versions
    again = tmp_path / "again.json"
    run("export", "target/support", "-o", str(again))
    assert json.loads(again.read_text())["content"] == json.loads(path.read_text())["content"]


def test_import_dry_run_changes_nothing(rich, target_org, tmp_path):
    path = tmp_path / "support.json"
    run("export", "acme/support", "-o", str(path))
    out, _ = run("import", str(path), "--organisation", "target", "--dry-run")
    assert out.startswith("Dry run, nothing changed. Imported")
    assert not Project.objects.filter(organisation=target_org).exists()


def test_import_refuses_a_tampered_file_and_checks_rights(rich, target_org, tmp_path):
    path = tmp_path / "support.json"
    run("export", "acme/support", "-o", str(path))
    path.write_text(path.read_text().replace("Hello {{ name }}!", "Hello {{ name }}?"))
    with pytest.raises(CommandError, match="checksum does not match"):
        run("import", str(path), "--organisation", "target")
    run("export", "acme/support", "-o", str(path))
    with pytest.raises(CommandError, match=r"your role \(member\) may not"):
        run("import", str(path), "--organisation", "acme", "--as", "member@example.com")
    with pytest.raises(CommandError, match="organisation not found"):
        run("import", str(path), "--organisation", "target", "--as", "outsider@example.com")


@pytest.mark.parametrize("args, message", [
    (["/nonexistent.json", "--organisation", "acme"], "cannot read"),
    (["{file}", "--organisation", "nowhere"], "no organisation 'nowhere'"),
])
def test_import_errors(rich, tmp_path, args, message):
    path = tmp_path / "x.json"
    path.write_text("{}")
    with pytest.raises(CommandError, match=message):
        run("import", *[a.replace("{file}", str(path)) for a in args])


def test_import_of_a_file_that_is_not_an_archive(rich, tmp_path):
    path = tmp_path / "x.json"
    path.write_text("not json at all")
    with pytest.raises(CommandError, match="not valid JSON"):
        run("import", str(path), "--organisation", "acme")
