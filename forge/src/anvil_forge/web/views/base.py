"""What every view uses: error presentation, lookups that answer 404, breadcrumbs."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from anvil_forge.core.errors import AnvilError, NotFound
from anvil_forge.core.network import client_network
from anvil_forge.orgs.queries import get_organisation
from anvil_forge.prompts import queries as prompt_queries

from ..current import remember
from ..links import url_for

if TYPE_CHECKING:  # annotations only: adapters use the accounts face at run time
    from anvil_forge.accounts.models import User


class AuthenticatedHttpRequest(HttpRequest):
    """For annotations only (django-stubs' way to say it): the request a :func:`web_view` view gets, whose
    user is signed in. Django passes its own HttpRequest; nothing creates one of these."""

    user: User


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def client_address(request: HttpRequest) -> str:
    """What per-address throttles count (the address, or its IPv6 /64)."""
    return client_network(request)


def safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return default


def field_for(detail_field: str, form) -> str | None:
    """The form field an error detail names: "name" → name, "parameters.x" → parameters, "variables.x" → None."""
    if form is None or not detail_field:
        return None
    for candidate in (detail_field, detail_field.split(".")[0]):
        if candidate in form.fields:
            return candidate
    return None


def detail_message(detail: dict, exc: AnvilError) -> str:
    """An error detail's message, with the line and column it names."""
    message = detail.get("message") or exc.message
    if detail.get("line") and "(line " not in message:
        message = f"{message} (line {detail['line']}, column {detail.get('column') or '?'})"
    return message


def show_error(request: HttpRequest, exc: AnvilError, form=None, place: Callable[[str, str], bool] | None = None) -> None:
    """Put a refused action on the page: next to the fields its details name — rows and fields outside the
    Django form through ``place(field, message)`` (True when placed), else the form's fields — else as a
    message."""
    placed = False
    for detail in exc.details:
        field = str(detail.get("field", ""))
        message = detail_message(detail, exc)
        if place is not None and field and place(field, message):
            placed = True
            continue
        name = field_for(field, form)
        if name is not None:
            form.add_error(name, message)
            placed = True
    if form is not None and placed:
        form.add_error(None, exc.message)
        return
    messages.error(request, exc.message)


def attempt(request: HttpRequest, call: Callable, form=None, place: Callable[[str, str], bool] | None = None):
    """Run a service call. Returns (True, result), or (False, None) with the refusal shown on the page.

    A NotFound without field details (the thing, or its organisation, is not
    visible to this user) becomes the 404 page.
    """
    try:
        return True, call()
    except NotFound as exc:
        if not exc.details:
            raise Http404(exc.message) from None
        show_error(request, exc, form, place)
    except AnvilError as exc:
        show_error(request, exc, form, place)
    return False, None


def attempt_status(request: HttpRequest, call: Callable, form=None) -> tuple[bool, Any, int]:
    """:func:`attempt`, also giving the refusal's HTTP status (403 not allowed, 409 conflict, 422 bad input),
    for the views that show the refused page with that status instead of redirecting."""
    try:
        return True, call(), 200
    except NotFound as exc:
        if not exc.details:
            raise Http404(exc.message) from None
        show_error(request, exc, form)
        return False, None, exc.status
    except AnvilError as exc:
        show_error(request, exc, form)
        return False, None, exc.status


def with_status(response: HttpResponse, status: int) -> HttpResponse:
    """A page re-rendered after a refused action answers with the refusal's status."""
    response.status_code = status
    return response


def web_view(view):
    """Sign-in required; any AnvilError a view lets through becomes a 404 or a message, never a 500."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            if is_htmx(request):  # a fragment cannot show the sign-in page: send the whole window there
                response = HttpResponse(status=200)
                response["HX-Redirect"] = reverse("web:login")
                return response
            return redirect_to_login(request.get_full_path())
        try:
            return view(request, *args, **kwargs)
        except NotFound as exc:
            raise Http404(exc.message) from None
        except AnvilError as exc:
            messages.error(request, exc.message)
            fallback = request.META.get("HTTP_REFERER") or reverse("web:dashboard")
            if not url_has_allowed_host_and_scheme(fallback, allowed_hosts={request.get_host()}):
                fallback = reverse("web:dashboard")
            return HttpResponseRedirect(fallback)

    return wrapper


def page(request: HttpRequest, template: str, context: dict | None = None, *, crumbs=None,
         status: int = 200) -> HttpResponse:
    context = dict(context or {})
    context["crumbs"] = crumbs or []
    return render(request, template, context, status=status)


# --- lookups: anything the user may not see is a 404 ------------------------------------

def lookup(call: Callable):
    try:
        return call()
    except NotFound as exc:
        raise Http404(exc.message) from None


def organisation(request: HttpRequest, org_slug: str):
    org = lookup(lambda: get_organisation(request.user, org_slug))
    remember(request, org)
    return org


def project(request: HttpRequest, org_slug: str, project_slug: str):
    org = organisation(request, org_slug)
    return lookup(lambda: prompt_queries.get_project_by_slug(request.user, org, project_slug))


def prompt_set(request: HttpRequest, org_slug: str, project_slug: str, set_slug: str):
    proj = project(request, org_slug, project_slug)
    return lookup(lambda: prompt_queries.get_prompt_set_by_slug(request.user, proj, set_slug))


def prompt(request: HttpRequest, org_slug: str, project_slug: str, set_slug: str, prompt_slug: str):
    pset = prompt_set(request, org_slug, project_slug, set_slug)
    found = lookup(lambda: prompt_queries.get_prompt_by_slug(request.user, pset, prompt_slug))
    found.prompt_set = pset
    return found


# --- breadcrumbs: Home › Organisation › Project › Prompt set › Prompt ---------------------

def crumbs(org=None, project=None, prompt_set=None, prompt=None, *extra) -> list[tuple[str, str | None]]:
    trail: list[tuple[str, str | None]] = [("Home", reverse("web:dashboard"))]
    if org is not None:
        trail.append((org.name, url_for(org)))
    if project is not None:
        trail.append((project.name, url_for(project)))
    if prompt_set is not None:
        trail.append((prompt_set.name, url_for(prompt_set)))
    if prompt is not None:
        trail.append((prompt.name, url_for(prompt)))
    for item in extra:
        trail.append(item if isinstance(item, tuple) else (item, None))
    return trail
