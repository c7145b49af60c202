"""``anvil promote ORG/PROJECT --from SOURCE --to TARGET [--percentage N] [--label KEY=VALUE ...]
[--instance ID ...] --as EMAIL [--json]``: release to channel TARGET exactly the set versions channel
SOURCE holds now (the same per-set digests), to everyone or a staged rollout; a pending request (exit 0)
if TARGET requires approval.

    promoted staging to production: sequence 5, everyone, 2 pushes queued
"""

from anvil_forge.distribution import queries as dist_queries
from anvil_forge.distribution import services as dist_services

from ._releases import ReleaseCommand, add_as, add_json, add_rollout_arguments, project_for, rollout_of
from ._releases import user_by_email


class Command(ReleaseCommand):
    help = "Promote what one channel holds to another (e.g. staging to production)."

    def add_arguments(self, parser):
        parser.add_argument("project", help="the project's id, or org/project")
        parser.add_argument("--from", dest="source", required=True, metavar="SOURCE",
                            help="the channel whose release is promoted")
        parser.add_argument("--to", dest="target", required=True, metavar="TARGET",
                            help="the channel that receives it")
        parser.add_argument("--remove-missing", action="store_true",
                            help="also stop publishing the sets TARGET holds and SOURCE does not")
        add_rollout_arguments(parser)
        add_as(parser, doing="promotes")
        add_json(parser)

    def run(self, project, source, target, percentage, labels, instances, as_user, as_json=False,
            remove_missing=False, **options):
        user = user_by_email(as_user)
        found = project_for(project, user)
        channel = dist_queries.channel(user, found, target)
        result = dist_services.promote(user, channel, source, rollout_of(percentage, labels, instances),
                                       remove_missing)
        self.emit_result(result, f"promoted {source}", f"what {source} holds", as_json)
