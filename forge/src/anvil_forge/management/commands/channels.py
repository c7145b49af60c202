"""``anvil channels``: a project's channels and their definitions document.

    anvil channels ORG/PROJECT list [--as EMAIL] [--json]
    anvil channels ORG/PROJECT create NAME [--description D] [--requires-approval] --as EMAIL [--json]
    anvil channels ORG/PROJECT export [-o FILE] [--as EMAIL]
    anvil channels ORG/PROJECT import FILE --as EMAIL [--json]

``list`` prints a line per channel, tab-separated: name, sequence, who its newest release reaches, whether it
requires approval, its description. ``export`` writes the definitions document (names, descriptions,
approval; not the releases) to standard output or FILE; ``import`` (FILE, or - for standard input) creates
or updates the channels it names and leaves the others alone.
"""

import json
import sys
from pathlib import Path

from django.core.management.base import CommandError

from anvil_forge.distribution import queries as dist_queries
from anvil_forge.distribution import services as dist_services

from ._releases import ReleaseCommand, add_as, add_json, project_for, reader, release_json, user_by_email, when
from .export import write_out


def _channel_json(channel) -> dict:
    head = getattr(channel, "head", None)
    return {"name": channel.name, "description": channel.description,
            "requires_approval": channel.requires_approval, "sequence": head.sequence if head else 0,
            "rollout_in_progress": head is not None and not head.everyone,
            "created_at": when(channel.created_at), "release": release_json(head)}


class Command(ReleaseCommand):
    help = "List, create, export or import a project's channels."

    def add_arguments(self, parser):
        parser.add_argument("project", help="the project's id, or org/project")
        sub = parser.add_subparsers(dest="action", required=True, metavar="{list,create,export,import}")
        listing = sub.add_parser("list", help="the project's channels, production first")
        add_as(listing, required=False)
        add_json(listing)
        create = sub.add_parser("create", help="a new channel")
        create.add_argument("name", help="1-64 lower-case letters, digits and hyphens (e.g. staging)")
        create.add_argument("--description", default="", metavar="D")
        create.add_argument("--requires-approval", action="store_true",
                            help="its publishes and promotes wait for a second owner or admin")
        add_as(create, doing="creates it")
        add_json(create)
        export = sub.add_parser("export", help="write the channel definitions document")
        export.add_argument("-o", "--output", default="-", metavar="FILE",
                            help="where to write it (default: standard output)")
        add_as(export, required=False)
        imported = sub.add_parser("import", help="create or update the channels a definitions document names")
        imported.add_argument("file", help="the definitions document (- for standard input)")
        add_as(imported, doing="imports them")
        add_json(imported)

    def run(self, project, action, **options):
        getattr(self, f"_{action}")(project, **options)

    def _list(self, project, as_user, as_json=False, **options):
        user, found = reader(project, as_user)
        listed = dist_queries.channel_list(user, found)
        if as_json:
            self.emit("", [_channel_json(c) for c in listed], True)
            return
        for channel in listed:
            head = channel.head
            self.stdout.write("\t".join([
                channel.name, f"sequence {head.sequence if head else 0}",
                dist_queries.describe_targets(head) if head else "no release",
                "requires approval" if channel.requires_approval else "-", channel.description or "-"]))

    def _create(self, project, name, description, requires_approval, as_user, as_json=False, **options):
        user = user_by_email(as_user)
        found = project_for(project, user)
        channel = dist_services.create_channel(user, found, name, description, requires_approval)
        channel.head = None
        self.emit(f"created channel {channel.name} of {found.organisation.slug}/{found.slug}"
                  + (" (requires approval)" if channel.requires_approval else ""), _channel_json(channel), as_json)

    def _export(self, project, output, as_user, **options):
        user, found = reader(project, as_user)
        document = dist_queries.channel_definitions(user, found)
        write_out(self, json.dumps(document, indent=2, ensure_ascii=False) + "\n", output)
        self.stderr.write(f"exported {len(document['channels'])} channel definition(s) of "
                          f"{found.organisation.slug}/{found.slug}" + ("" if output == "-" else f" to {output}"))

    def _import(self, project, file, as_user, as_json=False, **options):
        user = user_by_email(as_user)
        found = project_for(project, user)
        try:
            raw = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {file}: {getattr(exc, 'strerror', None) or exc}") from None
        try:
            document = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise CommandError(f"{file} is not JSON: {exc}") from None
        before = {c["name"]: c for c in dist_queries.channel_definitions(user, found)["channels"]}
        done = dist_services.import_channels(user, found, document)
        after = {c["name"]: c for c in dist_queries.channel_definitions(user, found)["channels"]}
        outcome = {c.name: "created" if c.name not in before else
                   "updated" if before[c.name] != after[c.name] else "unchanged" for c in done}
        data = {"project": f"{found.organisation.slug}/{found.slug}",
                "channels": [{**after[name], "outcome": state} for name, state in outcome.items()]}
        self.emit(f"imported {len(done)} channel definition(s) into {found.organisation.slug}/{found.slug}: "
                  + (", ".join(f"{name} ({state})" for name, state in outcome.items()) or "none"), data, as_json)
