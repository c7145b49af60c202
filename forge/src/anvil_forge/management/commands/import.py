"""``anvil import FILE --organisation ORG [--as EMAIL] [--dry-run]``: import a project archive.

FILE is an archive made by ``anvil export``, the API or the UI (``-`` reads
standard input); ORG the target organisation's slug or id. The import acts as
``--as EMAIL`` (who must be an owner or admin there), by default as the
organisation's first owner, and is recorded in its audit log as
``project.import`` via ``cli``. ``--dry-run`` checks everything (format,
checksum, conflicts) and changes nothing.
"""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from anvil_forge.core.errors import AnvilError
from anvil_forge.orgs import queries as org_queries
from anvil_forge.peering import queries as peering_queries
from anvil_forge.peering import services as peering_services

from .export import user_by_email


def _organisation(ref: str):
    found = org_queries.organisation_by_ref(ref.strip())
    if found is None:
        raise CommandError(f"no organisation {ref!r} (give its slug or id)")
    return found


def _details(exc: AnvilError) -> str:
    extra = [f"{d.get('field')}: {d.get('message')}" for d in exc.details[1:6]]
    return exc.message + "".join(f"\n  {line}" for line in extra)


class Command(BaseCommand):
    help = "Import a project archive into an organisation (creates the project or adds what it lacks)."

    def add_arguments(self, parser):
        parser.add_argument("file", help="the archive file (- for standard input)")
        parser.add_argument("--organisation", "--org", required=True, metavar="ORG",
                            help="the target organisation's slug or id")
        parser.add_argument("--as", dest="as_user", metavar="EMAIL",
                            help="import as this user (an owner or admin of ORG); default: its first owner")
        parser.add_argument("--dry-run", action="store_true", help="check everything, change nothing")

    def handle(self, file, organisation, as_user, dry_run, **options):
        org = _organisation(organisation)
        if as_user:
            user = user_by_email(as_user)
        else:
            user = org_queries.owner_of(org)
            if user is None:
                raise CommandError(f"{org.slug} has no active owner: pass --as EMAIL")
        try:
            raw = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}") from None
        try:
            data = peering_queries.parse_archive(raw)
            result = peering_services.import_archive(user, org, data, via="cli", dry_run=dry_run)
        except AnvilError as exc:
            raise CommandError(_details(exc)) from None
        self.stdout.write(f"Dry run, nothing changed. {result.message()}" if dry_run else result.message())
