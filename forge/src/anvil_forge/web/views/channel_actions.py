"""What the channel forms post: create, settings, delete, promote, expand, roll back, and the decisions on
publish requests. Each parses the form, calls the distribution services (they check the role and every
rule) and redirects with a flash message; a refusal shows the page it came from again, with the service's
message and its status (403 not allowed, 404, 409 conflict, 422 bad input)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from anvil_forge.distribution import queries as dist_queries
from anvil_forge.distribution import services as dist_services

from ..forms import parse_percentage, parse_rollout
from ..links import url_for
from . import base, channels, projects
from .base import AuthenticatedHttpRequest, attempt_status, web_view, with_status

BACK_TO_CHANNEL = "channel"  # the forms of a channel's page say so in their `back` field


def channel_url(project, name: str) -> str:
    return reverse("web:project_channel", args=[project.organisation.slug, project.slug, name])


def _refused(request, project, status: int, name: str | None = None) -> HttpResponse:
    """The page the form was on, again, with the message already flashed and the refusal's status."""
    if name and request.POST.get("back") == BACK_TO_CHANNEL:
        return with_status(channels.detail(request, project.organisation.slug, project.slug, name), status)
    return with_status(projects.detail(request, project.organisation.slug, project.slug), status)


def _back(request, project, name: str | None = None, anchor: str = "#channels-h") -> HttpResponse:
    if name and request.POST.get("back") == BACK_TO_CHANNEL:
        return redirect(channel_url(project, name))
    return redirect(url_for(project) + anchor)


def _released(request, result, doing: str) -> None:
    """The flash message of a release (or of a request now waiting for approval)."""
    if result.request is not None and result.request.state == dist_queries.RequestState.PENDING:
        messages.info(request, f"Waiting for approval by another owner or admin: "
                               f"{dist_queries.describe_request(result.request)} to {result.channel.name}.")
    elif not result.changed:
        messages.info(request, f"Channel {result.channel.name} already holds that (sequence {result.sequence}).")
    else:
        pushes = len([d for d in result.deliveries if d.state == "pending"])
        messages.success(request, f"{doing} {result.channel.name}: sequence {result.sequence} to "
                                  f"{dist_queries.describe_targets(result.publication)}"
                                  + (f", {pushes} receiver(s) are being pushed to." if pushes else "."))


@require_POST
@web_view
def create(request: AuthenticatedHttpRequest, org, project) -> HttpResponse:
    project = base.project(request, org, project)
    ok, channel, status = attempt_status(request, lambda: dist_services.create_channel(
        request.user, project, request.POST.get("name", ""), request.POST.get("description", ""),
        request.POST.get("requires_approval") == "on"))
    if not ok:
        return _refused(request, project, status)
    messages.success(request, f"Channel {channel.name} created: publish or promote to it, and give its apps an "
                              f"access token of it.")
    return redirect(channel_url(project, channel.name))


def _channel(request, project, name: str):
    return base.lookup(lambda: dist_queries.channel(request.user, project, name))


@require_POST
@web_view
def update(request: AuthenticatedHttpRequest, org, project, channel) -> HttpResponse:
    project = base.project(request, org, project)
    found = _channel(request, project, channel)
    ok, _, status = attempt_status(request, lambda: dist_services.update_channel(
        request.user, found, description=request.POST.get("description", ""),
        requires_approval=request.POST.get("requires_approval") == "on"))
    if not ok:
        return _refused(request, project, status, found.name)
    messages.success(request, f"Channel {found.name} saved.")
    return redirect(channel_url(project, found.name))


@require_POST
@web_view
def delete(request: AuthenticatedHttpRequest, org, project, channel) -> HttpResponse:
    project = base.project(request, org, project)
    found = _channel(request, project, channel)
    ok, _, status = attempt_status(request, lambda: dist_services.delete_channel(request.user, found))
    if not ok:
        return _refused(request, project, status, found.name)
    messages.success(request, f"Channel {found.name} deleted.")
    return redirect(url_for(project) + "#channels-h")


@require_POST
@web_view
def promote(request: AuthenticatedHttpRequest, org, project) -> HttpResponse:
    project = base.project(request, org, project)
    to = request.POST.get("to", "")

    def call():
        target = dist_queries.channel(request.user, project, to)
        return dist_services.promote(request.user, target, request.POST.get("source", ""), parse_rollout(request.POST),
                                     request.POST.get("remove_missing") == "on")

    ok, result, status = attempt_status(request, call)
    if not ok:
        return _refused(request, project, status, to)
    _released(request, result, f"Promoted {request.POST.get('source')} to")
    return _back(request, project, to, "#requests" if result.request else "#channels-h")


@require_POST
@web_view
def expand(request: AuthenticatedHttpRequest, org, project, channel) -> HttpResponse:
    project = base.project(request, org, project)
    found = _channel(request, project, channel)

    def call():
        if request.POST.get("everyone"):
            return dist_services.expand_rollout(request.user, found, {"everyone": True})
        percentage = parse_percentage(request.POST.get("percentage", ""))
        return dist_services.expand_rollout(request.user, found, {} if percentage is None else
                                            {"percentage": percentage})

    ok, result, status = attempt_status(request, call)
    if not ok:
        return _refused(request, project, status, found.name)
    _released(request, result, "Expanded the rollout of")
    return _back(request, project, found.name)


@require_POST
@web_view
def rollback(request: AuthenticatedHttpRequest, org, project, channel) -> HttpResponse:
    project = base.project(request, org, project)
    found = _channel(request, project, channel)
    ok, result, status = attempt_status(request, lambda: dist_services.rollback(request.user, found))
    if not ok:
        return _refused(request, project, status, found.name)
    _released(request, result, f"Rolled back (restoring sequence {result.publication.restores_sequence})")
    return _back(request, project, found.name)


DECISIONS = {"approve": dist_services.approve_request, "reject": dist_services.reject_request,
             "cancel": dist_services.cancel_request}
DONE = {"approve": "approved", "reject": "rejected", "cancel": "cancelled"}


@require_POST
@web_view
def decide(request: AuthenticatedHttpRequest, org, project, request_id, verb: str) -> HttpResponse:
    project = base.project(request, org, project)
    asked = base.lookup(lambda: dist_queries.publish_request(request.user, request_id))
    if asked.project_id != project.pk or verb not in DECISIONS:
        raise Http404("publish request not found")
    what = f"{dist_queries.describe_request(asked)} to {asked.channel.name}"
    ok, result, status = attempt_status(request, lambda: DECISIONS[verb](request.user, asked))
    if not ok:
        return _refused(request, project, status)
    if verb == "approve":
        messages.success(request, f"Approved {what}: released as sequence {result.sequence} to "
                                  f"{dist_queries.describe_targets(result.publication)}.")
        return redirect(url_for(project) + "#channels-h")
    messages.success(request, f"Request {DONE[verb]}: {what}.")
    return redirect(url_for(project) + "#requests")
