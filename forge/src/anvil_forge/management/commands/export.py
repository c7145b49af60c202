"""``anvil export PROJECT [-o FILE] [--as EMAIL]``: a project's archive (docs/export-format.md).

PROJECT is the project's id or ``org/project`` (slugs). Without ``--as`` the
operator (who has the FORGE's shell) may export any project; with it, only a
project that user may see. Without ``-o`` (or with ``-o -``) the archive goes to
standard output.
"""

import uuid
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from anvil_forge.accounts import queries as account_queries
from anvil_forge.core.errors import AnvilError
from anvil_forge.peering import queries as peering_queries
from anvil_forge.peering import services as peering_services
from anvil_forge.prompts import queries as prompt_queries


def find_project(ref: str, user=None):
    """A project by id or ``org/project``; for ``user``, only one they may see."""
    ref = ref.strip()
    projects = prompt_queries.all_projects() if user is None else prompt_queries.projects_for(user)
    try:
        found = projects.filter(pk=uuid.UUID(ref)).first()
    except ValueError:
        org, sep, slug = ref.partition("/")
        if not sep or not org or not slug or "/" in slug:
            raise CommandError(f"{ref!r} is neither a project id nor org/project") from None
        found = projects.filter(organisation__slug=org, slug=slug).first()
    if found is None:
        raise CommandError(f"no project {ref}" + (f" that {user.email} may see" if user is not None else ""))
    return found


def write_out(command: BaseCommand, text: str, output: str) -> None:
    """``text`` to the file ``output``, or to standard output for ``-`` (CommandError if it cannot be written)."""
    if output == "-":
        command.stdout.write(text, ending="")
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"cannot write {output}: {exc.strerror}") from None


def user_by_email(email: str):
    user = account_queries.active_user_by_email(email)
    if user is None:
        raise CommandError(f"no active user with e-mail {email}")
    return user


class Command(BaseCommand):
    help = "Export a project (id or org/project) as a portable JSON archive."

    def add_arguments(self, parser):
        parser.add_argument("project", help="the project's id, or org/project")
        parser.add_argument("-o", "--output", default="-", metavar="FILE",
                            help="where to write the archive (default: standard output)")
        parser.add_argument("--as", dest="as_user", metavar="EMAIL",
                            help="export as this user (only their projects); default: the operator sees all")

    def handle(self, project, output, as_user, **options):
        user = user_by_email(as_user) if as_user else None
        found = find_project(project, user)
        try:
            data = peering_services.export_project(user, found, via="cli")
        except AnvilError as exc:
            raise CommandError(exc.message) from None
        write_out(self, peering_queries.dump_archive(data), output)
        counts = peering_queries.archive_summary(data)
        self.stderr.write(f"Exported {found.organisation.slug}/{found.slug}: {counts['prompt_sets']} prompt set(s), "
                         f"{counts['prompts']} prompt(s), {counts['versions']} version(s)"
                         + ("" if output == "-" else f" to {output}") + f" ({data['checksum']}).")
