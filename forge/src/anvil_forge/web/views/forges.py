"""Forges (docs/peering.md): the known forges, browsing a remote FORGE read-only, connecting and importing its
projects; a project's export download and the upload import.

Each remote page makes exactly one request to the remote (:mod:`anvil_forge.peering.remote`). A remote that
fails — down, slow, refusing the key, answering nonsense — is shown as a message on the page (status 200, so
HTMX swaps it in too), never as a 500. A broken ``ANVIL_KNOWN_FORGES`` is shown on the Forges page.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.text import slugify
from django.views.decorators.http import require_POST

from anvil_forge.core.errors import AnvilError
from anvil_forge.orgs import queries as org_queries
from anvil_forge.peering import queries as peering_queries
from anvil_forge.peering import services as peering_services

from ..current import current_organisation
from ..forms import Form
from ..links import url_for
from . import base
from .base import AuthenticatedHttpRequest, crumbs, page, web_view

UPLOAD_MAX_BYTES = 64 * 1024 * 1024


# --- helpers ---------------------------------------------------------------------------------------

class TargetForm(Form):
    organisation = forms.ChoiceField(label="Into organisation")

    def __init__(self, *args, organisations=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.organisations = {o.slug: o for o in organisations}
        self.fields["organisation"].choices = [(o.slug, o.name) for o in organisations]

    def chosen(self):
        return self.organisations[self.cleaned_data["organisation"]]


class UploadForm(TargetForm):
    archive = forms.FileField(label="Archive file", help_text="A .json project archive, from “Export” on a project "
                                                             "page, `anvil export` or the API.")


def _forge(name: str):
    """The known forge called ``name``; 404 when there is none (or the configuration is broken)."""
    try:
        return peering_queries.get_forge(name)
    except peering_queries.KnownForgesError as exc:
        raise Http404(f"the known-forges configuration is broken: {exc.message}") from None
    except AnvilError as exc:
        raise Http404(exc.message) from None


def _trail(forge=None, *extra):
    trail = [("Home", reverse("web:dashboard")), ("Forges", reverse("web:forges"))]
    if forge is not None:
        trail.append((forge.name, reverse("web:forge", args=[forge.name])))
    trail.extend(extra)
    return trail


def _remote_page(request: HttpRequest, template: str, forge, call, context: dict, trail) -> HttpResponse:
    """Make the one remote request and render the page; a failure becomes the page's message."""
    try:
        context["remote"] = call()
        context["remote_error"] = None
    except peering_queries.RemoteError as exc:
        context["remote"] = None
        context["remote_error"] = exc
    context["forge"] = forge
    return page(request, template, context, crumbs=trail)


def _target_form(request: HttpRequest):
    return TargetForm(request.POST or None, organisations=org_queries.manageable_organisations(request.user),
                      initial={"organisation": getattr(current_organisation(request), "slug", None)})


# --- the Forges page ---------------------------------------------------------------------------------

@web_view
def index(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The known forges (reachability loads per forge), connected projects, and the upload import."""
    forges, config_error = [], None
    try:
        forges = peering_queries.known_forges()
    except peering_queries.KnownForgesError as exc:
        config_error = exc.message
    return page(request, "web/forges.html", {
        "forges": forges,
        "config_error": config_error,
        "links": list(peering_queries.links_for(request.user)),
        "can_import": bool(org_queries.manageable_organisations(request.user)),
    }, crumbs=crumbs(None, None, None, None, "Forges"))


@web_view
def status(request: AuthenticatedHttpRequest, forge) -> HttpResponse:
    """One forge's reachability (a fragment, loaded by the Forges page): name, version, the key's user."""
    forge = _forge(forge)
    try:
        info, error = peering_queries.remote_info(forge), None
    except peering_queries.RemoteError as exc:
        info, error = None, exc
    response = page(request, "web/forges/_status.html", {"forge": forge, "info": info, "error": error})
    response["Cache-Control"] = "no-store"  # reachability is about now
    return response


# --- browsing a remote FORGE ---------------------------------------------------------------------------

@web_view
def browse(request: AuthenticatedHttpRequest, forge) -> HttpResponse:
    """A remote forge's organisations (those its key's user may see)."""
    forge = _forge(forge)
    cursor = request.GET.get("cursor") or None
    return _remote_page(request, "web/forges/remote.html", forge, lambda: peering_queries.remote_organisations(forge, cursor),
                        {"cursor": cursor}, _trail(forge))


@web_view
def remote_org(request: AuthenticatedHttpRequest, forge, org_id) -> HttpResponse:
    """A remote organisation's projects, with their counts and when they last changed."""
    forge = _forge(forge)
    cursor = request.GET.get("cursor") or None
    name = (request.GET.get("name") or "")[:100]  # display only, passed by the link that led here
    try:
        found, error = peering_queries.remote_projects(forge, org_id, cursor), None
    except peering_queries.RemoteError as exc:
        found, error = None, exc
    if found is not None and found.data:
        name = found.data[0].organisation.name
    return page(request, "web/forges/remote_org.html", {
        "forge": forge, "remote": found, "remote_error": error, "org_id": org_id, "cursor": cursor,
        "org_name": name,
    }, crumbs=_trail(forge, (name or "Organisation", None)))


@web_view
def remote_project(request: AuthenticatedHttpRequest, forge, project_id, pset=None,
                   prompt=None) -> HttpResponse:
    """A remote project: its prompt sets (status, versions, published version); or one set; or one prompt."""
    forge = _forge(forge)
    context = {"project_id": project_id, "pset_slug": pset, "prompt_slug": prompt}
    try:
        detail, error = peering_queries.remote_project(forge, project_id), None
    except peering_queries.RemoteError as exc:
        detail, error = None, exc
    context.update(forge=forge, remote=detail, remote_error=error)
    trail = _trail(forge)
    template = "web/forges/remote_project.html"
    if detail is not None:
        org = detail.organisation
        trail.append((org.name, reverse("web:forge_org", args=[forge.name, org.id]) + f"?name={org.name}"))
        project_url = reverse("web:forge_project", args=[forge.name, project_id])
        trail.append((detail.name, project_url))
        if pset is not None:
            found = next((s for s in detail.prompt_sets if s.slug == pset), None)
            if found is None:
                raise Http404(f"{forge.name}: project {detail.slug} has no prompt set {pset}")
            context["prompt_set"] = found
            trail.append((found.name, reverse("web:forge_set", args=[forge.name, project_id, pset])))
            template = "web/forges/remote_set.html"
            if prompt is not None:
                item = next((p for p in found.prompts if p.slug == prompt), None)
                if item is None:
                    raise Http404(f"{forge.name}: prompt set {pset} has no prompt {prompt}")
                context["prompt"] = item
                trail.append((item.name, None))
                template = "web/forges/remote_prompt.html"
        else:
            context["links"] = peering_queries.links_to(request.user, forge.name, project_id)
            context["target_form"] = _target_form(request)
            context["can_act"] = bool(context["target_form"].organisations)
    else:
        trail.append(("Project", None))
    return page(request, template, context, crumbs=trail)


# --- connect, disconnect, import from a remote ------------------------------------------------------------

def _target(request: HttpRequest, forge_name, project_id):
    """The known forge, the remote project's page (to go back to) and the organisation chosen in the form
    (None, with a message, when the choice is not valid)."""
    forge = _forge(forge_name)
    back = reverse("web:forge_project", args=[forge.name, project_id])
    form = _target_form(request)
    if not form.is_valid():
        messages.error(request, "Choose an organisation where you are an owner or admin.")
        return forge, back, None
    return forge, back, form.chosen()


@require_POST
@web_view
def connect(request: AuthenticatedHttpRequest, forge, project_id) -> HttpResponse:
    forge, back, organisation = _target(request, forge, project_id)
    if organisation is None:
        return redirect(back)
    try:
        detail = peering_queries.remote_project(forge, project_id)
    except peering_queries.RemoteError as exc:
        messages.error(request, f"Not connected: {exc.message}")
        return redirect(back)
    ok, link = base.attempt(request, lambda: peering_services.connect_remote_project(
        request.user, organisation, forge.name, detail.id, name=detail.name, slug=detail.slug,
        description=detail.description, remote_organisation=detail.organisation.name))
    if not ok:
        return redirect(back)
    messages.success(request, f"Connected {detail.name} from {forge.name}: it is listed among {organisation.name}'s "
                              "projects, read-only.")
    return redirect(url_for(organisation))


@require_POST
@web_view
def disconnect(request: AuthenticatedHttpRequest, link_id) -> HttpResponse:
    link = base.lookup(lambda: peering_queries.get_link(request.user, link_id))
    organisation = link.organisation
    ok, _ = base.attempt(request, lambda: peering_services.disconnect_remote_project(request.user, link))
    if ok:
        messages.success(request, f"Disconnected {link.name} ({link.forge_name}). Nothing changed on "
                                  f"{link.forge_name}.")
    return redirect(base.safe_next(request, url_for(organisation)))


@require_POST
@web_view
def import_remote(request: AuthenticatedHttpRequest, forge, project_id) -> HttpResponse:
    """Fetch the remote project's export and import it into one of the user's organisations."""
    forge, back, organisation = _target(request, forge, project_id)
    if organisation is None:
        return redirect(back)
    try:
        data = peering_queries.remote_export(forge, project_id)
    except peering_queries.RemoteError as exc:
        messages.error(request, f"Nothing was imported: {exc.message}")
        return redirect(back)
    ok, result = base.attempt(request, lambda: peering_services.import_archive(
        request.user, organisation, data, via=f"forge {forge.name}"))
    if not ok:
        return redirect(back)
    messages.success(request, result.message())
    return redirect(url_for(result.project))


# --- export download and upload import -------------------------------------------------------------------

@web_view
def export(request: AuthenticatedHttpRequest, org, project) -> HttpResponse:
    """The project's archive as a file download."""
    project = base.project(request, org, project)
    data = peering_services.export_project(request.user, project, via="download")
    response = HttpResponse(peering_queries.dump_archive(data), content_type="application/json; charset=utf-8")
    name = slugify(f"{project.organisation.slug}-{project.slug}") or "project"
    response["Content-Disposition"] = f'attachment; filename="{name}.anvil.json"'
    response["Cache-Control"] = "no-store"
    return response


@web_view
def import_upload(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Upload an archive file and import it into one of the user's organisations."""
    organisations = org_queries.manageable_organisations(request.user)
    current = current_organisation(request)
    wanted = request.GET.get("organisation") or getattr(current, "slug", None)
    form = UploadForm(request.POST or None, request.FILES or None, organisations=organisations,
                      initial={"organisation": wanted})
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["archive"]
        if upload.size > UPLOAD_MAX_BYTES:
            form.add_error("archive", f"The file is larger than {UPLOAD_MAX_BYTES // (1024 * 1024)} MB.")
        else:
            organisation = form.chosen()

            def run():
                return peering_services.import_archive(request.user, organisation, peering_queries.parse_archive(upload.read()),
                                                       via="upload")

            ok, result = base.attempt(request, run, form)
            if ok:
                messages.success(request, result.message())
                return redirect(url_for(result.project))
    return page(request, "web/forges/import.html", {"form": form, "organisations": organisations},
                crumbs=_trail(None, ("Import a project", None)))
