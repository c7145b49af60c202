"""Distribution on the web: publish a set (to a channel, to everyone or to part of it); a project's access
tokens, LIVE instances and publications. Channels and publish requests are :mod:`.channels`'."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from anvil_forge.distribution import queries as dist_queries
from anvil_forge.distribution import services as dist_services
from anvil_forge.orgs import policy
from anvil_forge.orgs.policy import Action

from ..forms import parse_rollout
from ..links import url_for
from . import base, channels, prompt_sets
from .base import attempt, attempt_status, web_view, with_status


def project_context(user, project) -> dict:
    """What the project page shows about distribution."""
    org = project.organisation
    live, gone = dist_queries.live_overview(user, project)
    channels.instance_rows(live)
    return {
        "can_distribute": policy.can(user, Action.MANAGE_DISTRIBUTION, org),
        "access_tokens": list(dist_queries.access_tokens(user, project)[:50]),
        "live_instances": live,
        "gone_instances": gone,
        "published": dist_queries.release_tests(user, project),  # each set version with its test summary
        "publications": list(dist_queries.publications(user, project)[:5]),
        **channels.project_context(user, project),
    }


@require_POST
@web_view
def publish(request, org, project, pset):
    prompt_set = base.prompt_set(request, org, project, pset)
    ok, result, status = attempt_status(request, lambda: dist_services.publish(
        request.user, prompt_set, request.POST.get("version") or None, request.POST.get("channel") or None,
        parse_rollout(request.POST)))
    if not ok:  # the set page again, with the refusal and its status
        return with_status(prompt_sets.detail(request, org, project, pset), status)
    where = "" if result.channel.name == dist_queries.PRODUCTION else f" to {result.channel.name}"
    if result.request is not None:
        messages.info(request, f"Waiting for approval by another owner or admin: {prompt_set.slug}@"
                               f"{result.version.label}{where} is released once one approves it.")
        return redirect(url_for(prompt_set.project) + "#requests")
    if result.changed:
        pushes = len([d for d in result.deliveries if d.state == "pending"])
        to = dist_queries.describe_targets(result.publication)
        messages.success(request, f"Published {prompt_set.slug}@{result.version.label}{where} as sequence "
                                  f"{result.sequence}" + (f" to {to}" if to != "everyone" else "")
                                  + ": streaming and polling clients take it now"
                                  + (f", {pushes} receiver(s) are being pushed to." if pushes else "."))
    else:
        messages.info(request, f"{prompt_set.slug}@{result.version.label} was already published{where}.")
    return redirect(url_for(prompt_set.project) + "#publications-h")


@require_POST
@web_view
def create_token(request, org, project):
    project = base.project(request, org, project)
    ok, made, status = attempt_status(request, lambda: dist_services.create_access_token(
        request.user, project, request.POST.get("label", ""), request.POST.get("channel") or None))
    if not ok:
        from . import projects  # (projects imports this module for the page's context)
        return with_status(projects.detail(request, org, project.slug), status)
    token, secret = made
    request.session["anvil_new_token"] = {"id": str(token.pk), "secret": secret}
    messages.success(request, f"Access token {token.label} for channel {token.channel.name} created. Copy it "
                              f"now: it is not shown again.")
    return redirect(url_for(project) + "#tokens-h")


@require_POST
@web_view
def revoke_token(request, org, project, token_id):
    project = base.project(request, org, project)
    token = base.lookup(lambda: dist_queries.access_token(request.user, project, token_id))
    ok, _ = attempt(request, lambda: dist_services.revoke_access_token(request.user, token))
    if ok:
        messages.success(request, f"Access token {token.label} revoked.")
    return redirect(url_for(project) + "#tokens-h")


@require_POST
@web_view
def retry_delivery(request, org, project, delivery_id):
    project = base.project(request, org, project)
    delivery = base.lookup(lambda: dist_queries.get_delivery(request.user, delivery_id))
    if delivery.publication.project_id != project.pk:
        raise Http404("delivery not found")
    ok, _ = attempt(request, lambda: dist_services.retry_delivery(request.user, delivery))
    if ok:
        messages.success(request, f"Delivery to {delivery.instance.host or delivery.instance.instance_id} queued again.")
    return redirect(url_for(project) + "#publications-h")
