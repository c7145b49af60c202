"""``anvil publish ORG/PROJECT SET [--version LABEL] [--channel NAME] [--percentage N] [--label KEY=VALUE ...]
[--instance ID ...] --as EMAIL [--json]``: publish an approved version of a LOCKED prompt set.

The version defaults to the newest approved one, the channel to production; ``--percentage``, ``--label``
and ``--instance`` make it a staged rollout (the rest of the channel keeps its current release). A channel
that requires approval answers with a pending request (exit 0), which another owner or admin approves with
``anvil requests approve``.

    published emails 1.3.0 to production: sequence 4, 25 % of instances, 3 pushes queued
    waiting for approval: request <id> (expires 2026-12-09T21:25:35Z): Emails 1.3.0 to production
    unchanged: production already holds emails 1.3.0 (sequence 4)
"""

from anvil_forge.core.errors import NotFound
from anvil_forge.distribution import services as dist_services
from anvil_forge.prompts import queries as prompt_queries

from ._releases import ReleaseCommand, add_as, add_json, add_rollout_arguments, drop_option, project_for
from ._releases import rollout_of, user_by_email


class Command(ReleaseCommand):
    help = "Publish an approved version of a LOCKED prompt set to a channel (to everyone or a staged rollout)."

    def add_arguments(self, parser):
        drop_option(parser, "--version")  # Django's; `anvil --version` still prints the FORGE's
        parser.add_argument("project", help="the project's id, or org/project")
        parser.add_argument("prompt_set", metavar="SET", help="the prompt set's slug")
        parser.add_argument("--version", dest="label", metavar="LABEL",
                            help="the version to publish (default: the newest approved one)")
        parser.add_argument("--channel", metavar="NAME", help="the channel (default: production)")
        add_rollout_arguments(parser)
        add_as(parser, doing="publishes")
        add_json(parser)

    def run(self, project, prompt_set, label, channel, percentage, labels, instances, as_user, as_json=False,
            **options):
        user = user_by_email(as_user)
        found = project_for(project, user)
        try:
            pset = prompt_queries.get_prompt_set_by_slug(user, found, prompt_set)
        except NotFound:
            raise NotFound(f"project {found.organisation.slug}/{found.slug} has no prompt set {prompt_set!r}",
                           [{"field": "prompt_set", "message": "no such prompt set"}]) from None
        result = dist_services.publish(user, pset, label or None, channel, rollout_of(percentage, labels, instances))
        what = f"{pset.slug} {result.version.label}" if result.version else pset.slug
        self.emit_result(result, f"published {what}", what, as_json)
