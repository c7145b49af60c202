"""``anvil rollout``: widen the staged rollout in progress on a channel, or show where it stands.

    anvil rollout ORG/PROJECT [--channel NAME] (--percentage N | --everyone) [--label KEY=VALUE ...]
                  [--no-labels] [--instance ID ...] --as EMAIL [--json]
    anvil rollout ORG/PROJECT [--channel NAME] --status [--as EMAIL] [--json]

Widening never shrinks the cohort (roll back instead) and asks no approval: what it releases was released
to the channel already. ``--label`` replaces the label conditions (only dropping some widens it),
``--no-labels`` drops them all, ``--instance`` adds named instances, ``--everyone`` ends the rollout.

    expanded production sequence 4: 50 % of instances, 7 pushes queued

``--status`` prints a summary line, then one line per instance heard from in the last day:

    production sequence 4: rollout in progress to 25 % of instances (others keep sequence 3); 10 instances, ...
    instance=web-1	host=web-1.internal	cohort=rollout	holds=4	should_hold=4	stale=no	error=-
"""

from anvil_forge.distribution import queries as dist_queries
from anvil_forge.distribution import services as dist_services

from ._releases import ReleaseCommand, acting_user, add_as, add_json, add_rollout_arguments, parse_labels
from ._releases import project_for, pushes, reader, release_json, result_json, usage


class Command(ReleaseCommand):
    help = "Widen the staged rollout in progress on a channel (--percentage, --everyone), or show it (--status)."

    def add_arguments(self, parser):
        parser.add_argument("project", help="the project's id, or org/project")
        parser.add_argument("--channel", metavar="NAME", help="the channel (default: production)")
        how = parser.add_mutually_exclusive_group()
        how.add_argument("--everyone", action="store_true", help="release it to the whole channel")
        how.add_argument("--status", action="store_true",
                         help="print the rollout's progress: targets, counts, each instance's cohort")
        add_rollout_arguments(parser)
        parser.add_argument("--no-labels", action="store_true", help="drop the rollout's label conditions")
        add_as(parser, required=False)
        add_json(parser)

    def run(self, project, channel, everyone, status, percentage, labels, instances, no_labels, as_user,
            as_json=False, **options):
        if status:
            if everyone or percentage is not None or labels or instances or no_labels:
                raise usage("--status only reads: give it without --percentage, --everyone, --label, "
                            "--no-labels or --instance")
            return self._status(project, channel, as_user, as_json)
        if everyone and percentage is not None:
            raise usage("give --percentage or --everyone, not both")
        if labels and no_labels:
            raise usage("give --label or --no-labels, not both")
        if not (everyone or percentage is not None or labels or instances or no_labels):
            raise usage("say how to widen the rollout: --percentage N, --everyone, --label, --no-labels or "
                        "--instance (or --status to see it)")
        user = acting_user(as_user, "widen a rollout")
        found = project_for(project, user)
        wanted = {}
        if everyone:
            wanted["everyone"] = True
        if percentage is not None:
            wanted["percentage"] = percentage
        if labels or no_labels:
            wanted["labels"] = parse_labels(labels)
        if instances:
            wanted["instance_ids"] = list(instances)
        result = dist_services.expand_rollout(user, dist_queries.channel(user, found, channel), wanted)
        line = (f"expanded {result.channel.name} sequence {result.sequence}: "
                f"{dist_queries.describe_targets(result.publication)}, {pushes(result)}")
        self.emit(line, result_json(result), as_json)

    def _status(self, project, channel, as_user, as_json):
        user, found = reader(project, as_user)
        progress = dist_queries.rollout_progress(user, found, channel)
        name, release, previous = progress["channel"].name, progress["release"], progress["previous"]
        counts = progress["counts"]
        rows = [{"instance_id": r["instance"].instance_id, "host": r["instance"].host,
                 "labels": r["instance"].labels, "mode": r["instance"].mode, "cohort": r["cohort"],
                 "holds": r["holds"], "should_hold": r["should_hold"], "stale": r["stale"],
                 "error": r["error"] or None} for r in progress["instances"]]
        if as_json:
            self.emit("", {"project": f"{found.organisation.slug}/{found.slug}", "channel": name,
                           "sequence": release.sequence if release else 0,
                           "previous_sequence": previous.sequence if previous else None,
                           "rollout_in_progress": progress["partial"], "targets": progress["targets"],
                           "release": release_json(release), "counts": counts, "instances": rows}, True)
            return
        if release is None:
            head = f"{name} has no release"
        elif progress["partial"]:
            head = (f"{name} sequence {release.sequence}: rollout in progress to {progress['targets']} "
                    f"(others keep sequence {previous.sequence})")
        else:
            head = f"{name} sequence {release.sequence}: everyone"
        self.stdout.write(f"{head}; {counts['instances']} instances, {counts['in_cohort']} in cohort, "
                          f"{counts['on_release']} on release, {counts['on_previous']} on previous, "
                          f"{counts['elsewhere']} elsewhere, {counts['errors']} errors")
        for row in rows:
            error = " ".join(str(row["error"]).split()) if row["error"] else "-"
            self.stdout.write("\t".join([
                f"instance={row['instance_id']}", f"host={row['host'] or '-'}", f"cohort={row['cohort']}",
                f"holds={row['holds'] if row['holds'] is not None else '-'}",
                f"should_hold={row['should_hold'] if row['should_hold'] is not None else '-'}",
                f"stale={'yes' if row['stale'] else 'no'}", f"error={error}"]))
