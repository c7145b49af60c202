"""Dashboard and help (the Forges pages are in forges.py)."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from anvil_forge.audit.queries import recent_events_for_user
from anvil_forge.prompts import queries as prompt_queries

from ..current import current_organisation
from .base import AuthenticatedHttpRequest, crumbs, page, web_view


def home(request: HttpRequest) -> HttpResponse:
    """``/``: the dashboard, or the sign-in page for a visitor."""
    if not request.user.is_authenticated:
        return redirect("web:login")
    return dashboard(request)


@web_view
def dashboard(request: AuthenticatedHttpRequest) -> HttpResponse:
    org = current_organisation(request)
    counts = prompt_queries.counts(request.user, org) if org else None
    in_review = []
    if org is not None:
        in_review = prompt_queries.sets_in_review(request.user, org)[:10]
    return page(request, "web/dashboard.html", {
        "org": org,
        "counts": counts,
        "in_review": in_review,
        "events": recent_events_for_user(request.user, limit=12),
    }, crumbs=crumbs(None, None, None, None, "Dashboard"))


@web_view
def help_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    return page(request, "web/help.html", crumbs=crumbs(None, None, None, None, "Help"))
