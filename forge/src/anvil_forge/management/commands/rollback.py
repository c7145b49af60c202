"""``anvil rollback ORG/PROJECT [--channel NAME] --as EMAIL [--json]``: a new release restoring, for
everyone, the content before the channel's newest release (a rollout in progress ends there). It never
waits for approval: it is how a bad release is undone.

    rolled back production: sequence 6 restores sequence 4, everyone, 3 pushes queued
"""

from anvil_forge.distribution import queries as dist_queries
from anvil_forge.distribution import services as dist_services

from ._releases import ReleaseCommand, add_as, add_json, project_for, pushes, result_json, user_by_email


class Command(ReleaseCommand):
    help = "Roll a channel back to the content before its newest release, for everyone."

    def add_arguments(self, parser):
        parser.add_argument("project", help="the project's id, or org/project")
        parser.add_argument("--channel", metavar="NAME", help="the channel (default: production)")
        add_as(parser, doing="rolls back")
        add_json(parser)

    def run(self, project, channel, as_user, as_json=False, **options):
        user = user_by_email(as_user)
        found = project_for(project, user)
        result = dist_services.rollback(user, dist_queries.channel(user, found, channel))
        line = (f"rolled back {result.channel.name}: sequence {result.sequence} restores sequence "
                f"{result.publication.restores_sequence}, {dist_queries.describe_targets(result.publication)}, "
                f"{pushes(result)}")
        self.emit(line, result_json(result), as_json)
