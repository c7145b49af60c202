"""URLs of the things the UI shows, built from slugs (``/o/acme/p/support/s/emails/prompts/welcome/``)."""

from __future__ import annotations

from django.urls import reverse

from anvil_forge.orgs.queries import Organisation
from anvil_forge.prompts.queries import Project, Prompt, PromptSet, Version


def kind_and_args(obj) -> tuple[str, list[str]]:
    if isinstance(obj, Organisation):
        return "org", [obj.slug]
    if isinstance(obj, Project):
        return "project", [obj.organisation.slug, obj.slug]
    if isinstance(obj, PromptSet):
        project = obj.project
        return "set", [project.organisation.slug, project.slug, obj.slug]
    if isinstance(obj, Prompt):
        prompt_set = obj.prompt_set
        project = prompt_set.project
        return "prompt", [project.organisation.slug, project.slug, prompt_set.slug, obj.slug]
    if isinstance(obj, Version):
        prompt_set = obj.prompt_set
        project = prompt_set.project
        return "version", [project.organisation.slug, project.slug, prompt_set.slug, obj.label]
    raise TypeError(f"no page for {type(obj).__name__}")


def url_for(obj, action: str = "") -> str:
    """``url_for(project)`` is the project's page; ``url_for(project, "edit")`` its edit page (``web:project_edit``)."""
    kind, args = kind_and_args(obj)
    return reverse(f"web:{kind}_{action}" if action else f"web:{kind}", args=args)


def hit_url(hit: dict) -> str:
    """The page of a search hit from ``prompts.queries.search``."""
    if hit["kind"] == "project":
        return reverse("web:project", args=[hit["organisation"], hit["project"]])
    if hit["kind"] == "prompt_set":
        return reverse("web:set", args=[hit["organisation"], hit["project"], hit["prompt_set"]])
    return reverse("web:prompt", args=[hit["organisation"], hit["project"], hit["prompt_set"], hit["prompt"]])
