"""Channels on the web, what the pages show: the project page's Channels and Waiting for approval cards, and
a channel's own page (its releases, its rollout's progress, its settings). The forms post to
:mod:`.channel_actions`."""

from __future__ import annotations

from django.http import HttpResponse

from anvil_forge.distribution import queries as dist_queries
from anvil_forge.orgs import policy
from anvil_forge.orgs.policy import Action

from . import base
from .base import AuthenticatedHttpRequest, crumbs, page, web_view

SHORT_DIGEST = 12  # enough to tell two set versions apart at a glance; the API gives the whole digest


def _sets(release) -> list[dict]:
    return [dict(s, short=_short(s["digest"])) for s in dist_queries.release_sets(release)]


def _short(digest: str) -> str:
    return digest.split(":", 1)[-1][:SHORT_DIGEST]


def _release_row(release) -> dict:
    """A release as the pages list it: what it did, to whom, who made (and approved) it."""
    return {"release": release, "targets": dist_queries.describe_targets(release), "sets": _sets(release),
            "partial": not release.everyone}


def project_context(user, project) -> dict:
    """What the project page shows about channels and the publish requests waiting for approval."""
    listed = dist_queries.channel_list(user, project)
    cards: list[dict] = []
    for channel in listed:
        head = getattr(channel, "head", None)  # (set by channel_list)
        card = {"channel": channel, "head": head, "sets": _sets(head), "progress": None,
                "can_roll_back": dist_queries.can_roll_back(head)}
        if head is not None and not head.everyone:
            card["progress"] = dist_queries.rollout_progress(user, project, channel.name)
        cards.append(card)
    pending = list(dist_queries.publish_requests(user, project, dist_queries.RequestState.PENDING)[:50])
    for request in pending:
        request.what = dist_queries.describe_request(request)
    return {
        "channel_cards": cards,
        "channel_names": [c.name for c in listed],
        "pending_requests": pending,
        "approval_channels": [c.name for c in listed if c.requires_approval],
    }


def instance_rows(instances) -> None:
    """Each LIVE instance gets the sequence it should hold and its cohort (for the LIVE instances card)."""
    for instance in instances:
        instance.should_hold, instance.cohort = dist_queries.instance_release(instance)


def channel_context(user, project, name: str) -> dict:
    channel = base.lookup(lambda: dist_queries.channel(user, project, name))
    progress = dist_queries.rollout_progress(user, project, channel.name)
    head = progress["release"]
    counts = progress["counts"]
    return {
        "org": project.organisation, "project": project, "channel": channel, "head": head,
        "head_sets": _sets(head), "progress": progress, "counts": counts,
        "releases": [_release_row(r) for r in dist_queries.releases(user, project, channel.name)],
        "can_distribute": policy.can(user, Action.MANAGE_DISTRIBUTION, project.organisation),
        "can_roll_back": dist_queries.can_roll_back(head),
        "delete_refusal": dist_queries.channel_delete_refusal(user, channel),
        "channel_names": [c.name for c in dist_queries.channel_list(user, project)],
    }


@web_view
def detail(request: AuthenticatedHttpRequest, org, project, channel) -> HttpResponse:
    project = base.project(request, org, project)
    context = channel_context(request.user, project, channel)
    return page(request, "web/projects/channel.html", context,
                crumbs=crumbs(project.organisation, project, None, None, f"Channel {context['channel'].name}"))
