"""Shared by the release commands (``publish``, ``promote``, ``rollout``, ``rollback``, ``channels``,
``requests``): thin adapters over ``dist_services`` / ``dist_queries`` for scripts and CI pipelines.

Each command prints one plain line per result (``--json``: a JSON document instead), exits 0 on success
(a release waiting for approval included: it says so), 1 with the service's message when it refuses
(CommandError), 2 on a usage error (argparse). Every write acts as ``--as EMAIL``: the services check that
user's role, record them in the audit log and keep four-eyes approval (a requester cannot approve their
own request).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from django.core.management.base import BaseCommand, CommandError

from anvil_forge.core.errors import AnvilError
from anvil_forge.distribution import queries as dist_queries
from anvil_forge.orgs import queries as org_queries

from .export import find_project, user_by_email


def usage(message: str) -> CommandError:
    """A usage error the parser could not catch (exit 2, as argparse's own)."""
    return CommandError(message, returncode=2)


def fail(exc: AnvilError) -> CommandError:
    """The service's refusal: its message (which names the problem), then any further fields it names."""
    extra = [f"{d.get('field')}: {d.get('message')}" for d in exc.details[1:6]]
    return CommandError(exc.message + "".join(f"\n  {line}" for line in extra))


def acting_user(as_user: str | None, doing: str):
    """The user a write acts as: ``--as EMAIL`` is required."""
    if not as_user:
        raise usage(f"--as EMAIL is required to {doing} (the acting user: their role is checked and the audit "
                    f"log records them)")
    return user_by_email(as_user)


def project_for(ref: str, user):
    """The project by id or ``org/project`` that ``user`` may see (None: any project, for the operator)."""
    return find_project(ref, user)


def reader(ref: str, as_user: str | None):
    """``(user, project)`` for a read: as ``--as EMAIL``, by default as the project's organisation's first
    owner (the operator, who has the FORGE's shell, sees every project)."""
    if as_user:
        user = user_by_email(as_user)
        return user, find_project(ref, user)
    project = find_project(ref)
    user = org_queries.owner_of(project.organisation)
    if user is None:
        raise CommandError(f"{project.organisation.slug} has no active owner: pass --as EMAIL")
    return user, project


def parse_labels(pairs: list[str] | None) -> dict[str, str]:
    """``KEY=VALUE`` pairs as a dict (the services check the names and values)."""
    labels: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CommandError(f"--label {pair!r}: expected KEY=VALUE (e.g. --label region=eu)")
        if key in labels:
            raise CommandError(f"--label {key!r} is given twice")
        labels[key] = value
    return labels


def rollout_of(percentage: int | None, labels: list[str] | None, instances: list[str] | None) -> dict | None:
    """The ``rollout`` the services take, or None (everyone) when no option names one."""
    rollout: dict = {}
    if percentage is not None:
        rollout["percentage"] = percentage
    if labels:
        rollout["labels"] = parse_labels(labels)
    if instances:
        rollout["instance_ids"] = list(instances)
    return rollout or None


def drop_option(parser, option: str) -> None:
    """Remove one of Django's base options (``--version``: here a prompt set's version label)."""
    action = parser._option_string_actions.pop(option)
    parser._remove_action(action)
    for group in parser._action_groups:
        if action in group._group_actions:
            group._group_actions.remove(action)


def add_rollout_arguments(parser) -> None:
    parser.add_argument("--percentage", type=int, metavar="N",
                        help="release to N %% of the channel's instances (0-100; stable per instance)")
    parser.add_argument("--label", dest="labels", action="append", metavar="KEY=VALUE",
                        help="only instances whose client declares this label (repeat: all must match)")
    parser.add_argument("--instance", dest="instances", action="append", metavar="ID",
                        help="this instance id is in the rollout whatever its labels and percentage (repeat)")


def add_as(parser, required: bool = True, doing: str = "act") -> None:
    parser.add_argument("--as", dest="as_user", metavar="EMAIL", required=required,
                        help=f"the user who {doing} (an owner or admin)" if required else
                        "read as this user; default: the organisation's first owner")


def add_json(parser) -> None:
    parser.add_argument("--json", dest="as_json", action="store_true", help="print the result as JSON")


# --- presentation ---------------------------------------------------------------------------------------

def when(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def moment(value) -> str:
    """A time in a line: ``2026-12-09T21:25:35Z`` (to the second; --json gives it whole)."""
    return when(value.replace(microsecond=0)) or ""


def release_json(publication) -> dict | None:
    if publication is None:
        return None
    return {"id": str(publication.pk), "sequence": publication.sequence, "kind": publication.kind,
            "source_channel": publication.source_channel or None,
            "restores_sequence": publication.restores_sequence, "everyone": publication.everyone,
            "percentage": publication.percentage, "labels": publication.labels,
            "instance_ids": publication.instance_ids, "targets": dist_queries.describe_targets(publication),
            "previous_sequence": publication.previous.sequence if publication.previous_id else None,
            "published_by": publication.published_by.email if publication.published_by else None,
            "approved_by": publication.approved_by.email if publication.approved_by else None,
            "created_at": when(publication.created_at), "sets": dist_queries.release_sets(publication)}


def request_json(request) -> dict | None:
    if request is None:
        return None
    return {"id": str(request.pk), "state": request.state, "kind": request.kind, "channel": request.channel.name,
            "what": dist_queries.describe_request(request),
            "prompt_set": request.prompt_set.slug if request.prompt_set_id else None,
            "version": request.version.label if request.version_id else None,
            "source_channel": request.source_channel or None, "rollout": request.rollout or None,
            "requested_by": request.requested_by.email if request.requested_by else None,
            "decided_by": request.decided_by.email if request.decided_by else None,
            "decided_at": when(request.decided_at), "expires_at": when(request.expires_at),
            "created_at": when(request.created_at),
            "sequence": request.publication.sequence if request.publication_id else None}


def result_status(result) -> str:
    if result.request is not None and result.request.state == dist_queries.RequestState.PENDING:
        return "pending"
    return "released" if result.changed else "unchanged"


def result_json(result) -> dict:
    project = result.project
    return {"status": result_status(result), "project": f"{project.organisation.slug}/{project.slug}",
            "channel": result.channel.name, "sequence": result.sequence, "changed": result.changed,
            "pushes_queued": len(result.deliveries), "release": release_json(result.publication),
            "request": request_json(result.request)}


def pushes(result) -> str:
    n = len(result.deliveries)
    return f"{n} push{'es' if n != 1 else ''} queued"


def pending_line(request) -> str:
    """``waiting for approval: request <id> (expires …): emails 1.3.0 to production``."""
    return (f"waiting for approval: request {request.pk} (expires {moment(request.expires_at)}): "
            f"{dist_queries.describe_request(request)} to {request.channel.name}")


def released_line(verb: str, result) -> str:
    """``<verb> to production: sequence 4, 25 % of instances, 3 pushes queued``."""
    return (f"{verb} to {result.channel.name}: sequence {result.sequence}, "
            f"{dist_queries.describe_targets(result.publication)}, {pushes(result)}")


class ReleaseCommand(BaseCommand):
    """Prints a result as one line, or as JSON with ``--json``; turns the services' refusals into
    CommandError."""

    def emit(self, line: str, data, as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps(data, indent=2, ensure_ascii=False))
        else:
            self.stdout.write(line)

    def handle(self, *args, **options):
        try:
            return self.run(*args, **options)
        except AnvilError as exc:
            raise fail(exc) from None

    run: Callable[..., None]  # what each command does (defined by every subclass)

    def emit_result(self, result, verb: str, unchanged: str, as_json: bool) -> None:
        """A publish, promote, expand or roll back: released, unchanged, or waiting for approval."""
        status = result_status(result)
        if status == "pending":
            line = pending_line(result.request)
        elif status == "unchanged":
            line = f"unchanged: {result.channel.name} already holds {unchanged} (sequence {result.sequence})"
        else:
            line = released_line(verb, result)
        self.emit(line, result_json(result), as_json)
