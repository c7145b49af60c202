"""The command palette's search: projects, prompt sets, prompts (what the user may see) and pages."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse

from anvil_forge.core.fuzzy import rank
from anvil_forge.prompts import queries as prompt_queries

from ..current import current_organisation
from ..links import hit_url
from .base import AuthenticatedHttpRequest, web_view

KIND_LABELS = {"project": "Project", "prompt_set": "Prompt set", "prompt": "Prompt", "page": "Page"}


def _pages(request: HttpRequest) -> list[dict]:
    org = current_organisation(request)
    pages = [("Dashboard", reverse("web:dashboard")), ("Projects", reverse("web:projects")),
             ("Organisations", reverse("web:orgs")), ("New organisation", reverse("web:org_create")),
             ("Forges", reverse("web:forges")), ("Help", reverse("web:help")),
             ("Liquid cheatsheet", reverse("web:help") + "#liquid"), ("Account", reverse("web:account"))]
    if org is not None:
        pages += [("Members", reverse("web:org_members", args=[org.slug])),
                  ("Audit log", reverse("web:org_audit", args=[org.slug])),
                  ("Organisation settings", reverse("web:org_settings", args=[org.slug])),
                  ("New project", reverse("web:org_new_project", args=[org.slug]))]
    return [{"kind": "page", "name": name, "path": url, "url": url} for name, url in pages]


@web_view
def search(request: AuthenticatedHttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")[:200]
    hits = prompt_queries.search(request.user, query, limit=12)
    for hit in hits:
        hit["url"] = hit_url(hit)
    pages = _pages(request)
    pages = rank(query, pages, key=lambda p: p["name"], limit=6) if query.strip() else pages[:6]
    results = (hits + pages) if query.strip() else (pages + hits)
    return JsonResponse({"query": query, "results": [
        {"kind": r["kind"], "kind_label": KIND_LABELS[r["kind"]], "name": r["name"], "path": r["path"],
         "url": r["url"], "status": r.get("status")}
        for r in results[:18]
    ]})
