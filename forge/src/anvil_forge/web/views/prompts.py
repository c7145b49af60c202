"""The prompt editor page: create (a text or a chat prompt), edit, save, delete.

Its live checks, preview and row fragments are :mod:`.editor`'s; the form's rows and fields are read by
:mod:`..drafts`. Nothing is stored but by *Save*, a plain POST to ``prompts.services``.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect

from anvil_forge.prompts import services as prompt_services

from .. import drafts
from ..forms import PromptForm
from ..links import url_for
from . import base
from .base import AuthenticatedHttpRequest, attempt, crumbs, page, web_view
from .editor import editor_context, remember_samples

UNREADABLE = "Some fields cannot be read: see the marked ones."


def _save(request: AuthenticatedHttpRequest, prompt_set, prompt, form, draft: drafts.Draft):
    """Create or update the prompt from a valid form and readable draft: (ok, prompt)."""
    if not form.is_valid():
        return False, None
    if draft.errors:
        form.add_error(None, UNREADABLE)
        return False, None
    data = form.cleaned_data
    metadata = data["metadata"] if data["metadata"] is not None else {}
    chat = draft.is_chat
    if prompt is None:
        return attempt(request, lambda: prompt_services.create_prompt(
            request.user, prompt_set, data["name"], data["slug"] or None, "" if chat else draft.template,
            draft.parameters, data["description"], metadata, kind=draft.kind,
            messages=draft.messages if chat else None, config=draft.config,
            tests=draft.tests if draft.tests is not None else []), form, draft.place)
    return attempt(request, lambda: prompt_services.update_prompt(
        request.user, prompt, name=data["name"], slug=data["slug"] or None,
        template=None if chat else draft.template, messages=draft.messages if chat else None,
        parameters=draft.parameters, description=data["description"], metadata=metadata,
        config=draft.config, tests=draft.tests), form, draft.place)


@web_view
def editor(request: AuthenticatedHttpRequest, org, project, pset, prompt) -> HttpResponse:
    found = base.prompt(request, org, project, pset, prompt)
    prompt_set = found.prompt_set
    initial = {"name": found.name, "slug": found.slug, "description": found.description,
               "template": found.template, "metadata": found.metadata, "kind": found.kind}
    posted = request.method == "POST"
    form = PromptForm(request.POST if posted else None, initial=initial)
    draft = drafts.from_post(request.POST, found) if posted else drafts.from_prompt(found)
    if posted:
        ok, saved = _save(request, prompt_set, found, form, draft)
        if ok:
            remember_samples(request, prompt_set, saved.slug)  # the page after the save shows them again
            messages.success(request, f"Saved {saved.name}.")
            return redirect(url_for(saved))
    context = editor_context(request, prompt_set, found, form, draft, request.POST if posted else None)
    return page(request, "web/prompts/editor.html", context,
                crumbs=crumbs(prompt_set.project.organisation, prompt_set.project, prompt_set, found))


@web_view
def create(request: AuthenticatedHttpRequest, org, project, pset) -> HttpResponse:
    prompt_set = base.prompt_set(request, org, project, pset)
    posted = request.method == "POST"
    kind = "chat" if request.GET.get("kind") == "chat" else "text"
    form = PromptForm(request.POST if posted else None, initial={"kind": kind})
    draft = drafts.from_post(request.POST) if posted else drafts.from_prompt(None, kind)
    if posted:
        ok, created = _save(request, prompt_set, None, form, draft)
        if ok:
            remember_samples(request, prompt_set, created.slug)
            messages.success(request, f"Prompt {created.name} created.")
            return redirect(url_for(created))
    context = editor_context(request, prompt_set, None, form, draft, request.POST if posted else None)
    context["creating"] = True
    return page(request, "web/prompts/editor.html", context,
                crumbs=crumbs(prompt_set.project.organisation, prompt_set.project, prompt_set, None, "New prompt"))


@web_view
def delete(request: AuthenticatedHttpRequest, org, project, pset, prompt) -> HttpResponse:
    found = base.prompt(request, org, project, pset, prompt)
    prompt_set = found.prompt_set
    if request.method == "POST":
        name = found.name
        ok, _ = attempt(request, lambda: prompt_services.delete_prompt(request.user, found))
        if ok:
            messages.success(request, f"Prompt {name} deleted.")
            return redirect(url_for(prompt_set))
        return redirect(url_for(found))
    return page(request, "web/prompts/delete.html", {"prompt": found, "prompt_set": prompt_set},
                crumbs=crumbs(prompt_set.project.organisation, prompt_set.project, prompt_set, found, "Delete"))
