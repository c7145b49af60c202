"""``anvil requests``: the publish requests waiting for four-eyes approval.

    anvil requests ORG/PROJECT list [--state pending] [--as EMAIL] [--json]
    anvil requests approve REQUEST_ID --as EMAIL [--json]
    anvil requests reject REQUEST_ID --as EMAIL [--json]
    anvil requests cancel REQUEST_ID --as EMAIL [--json]

``list`` prints a line per request, newest first, tab-separated: id, state, channel, what it releases, who
asked, when it expires. ``approve`` releases what was asked: it must be an owner or admin other than the
requester (the requester's own approval is refused). ``cancel``: the requester withdraws it (or an owner or
admin clears it).

    approved request <id>: published emails 1.3.0 to production: sequence 4, everyone, 3 pushes queued
"""

import uuid

from anvil_forge.distribution import queries as dist_queries
from anvil_forge.distribution import services as dist_services

from ._releases import ReleaseCommand, acting_user, add_json, reader, released_line, request_json, result_json
from ._releases import moment, usage

DECISIONS = ("approve", "reject", "cancel")


class Command(ReleaseCommand):
    help = "List publish requests (ORG/PROJECT list), or approve, reject or cancel one (approve REQUEST_ID)."

    def add_arguments(self, parser):
        parser.add_argument("words", nargs="+", metavar="ORG/PROJECT list | {approve,reject,cancel} REQUEST_ID")
        parser.add_argument("--state", choices=dist_queries.RequestState.values,
                            help="list: only the requests in this state (e.g. pending)")
        parser.add_argument("--as", dest="as_user", metavar="EMAIL",
                            help="who decides (required to approve, reject or cancel); list: default the "
                                 "organisation's first owner")
        add_json(parser)

    def run(self, words, state, as_user, as_json=False, **options):
        if len(words) == 2 and words[0] in DECISIONS:
            if state:
                raise usage("--state goes with list only")
            return self._decide(words[0], words[1], as_user, as_json)
        if len(words) == 2 and words[1] == "list":
            return self._list(words[0], state, as_user, as_json)
        raise usage("expected `requests ORG/PROJECT list [--state STATE]` or "
                    "`requests approve|reject|cancel REQUEST_ID --as EMAIL`")

    def _list(self, project, state, as_user, as_json):
        user, found = reader(project, as_user)
        listed = list(dist_queries.publish_requests(user, found, state).order_by("-created_at", "-id"))
        if as_json:
            self.emit("", [request_json(r) for r in listed], True)
            return
        for request in listed:
            self.stdout.write("\t".join([
                str(request.pk), request.state, request.channel.name, dist_queries.describe_request(request),
                request.requested_by.email if request.requested_by else "-",
                f"expires {moment(request.expires_at)}"]))

    def _decide(self, decision, request_id, as_user, as_json):
        user = acting_user(as_user, f"{decision} a publish request")
        try:
            pk = uuid.UUID(request_id)
        except ValueError:
            raise usage(f"{request_id!r} is not a publish request id") from None
        request = dist_queries.publish_request(user, pk)
        if decision == "approve":
            result = dist_services.approve_request(user, request)
            verb = (f"promoted {request.source_channel}" if request.kind == "promote" else
                    f"published {request.prompt_set.slug} {request.version.label}")
            done = (released_line(verb, result) if result.changed else
                    f"unchanged: {result.channel.name} already holds it (sequence {result.sequence})")
            self.emit(f"approved request {request.pk}: {done}", result_json(result), as_json)
            return
        decided = getattr(dist_services, f"{decision}_request")(user, request)
        past = {"reject": "rejected", "cancel": "cancelled"}[decision]
        self.emit(f"{past} request {decided.pk}: {dist_queries.describe_request(decided)} to {decided.channel.name}",
                  request_json(decided), as_json)
