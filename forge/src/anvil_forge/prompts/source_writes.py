"""Replacing a set's working copy with a source document (``services.replace_source``, the push of
``anvil-client``): each prompt saved by the ordinary services, partials checked once over the result."""

from __future__ import annotations

from anvil_forge.audit.services import record
from anvil_forge.core.errors import NotFound, PreconditionFailed, ValidationError
from anvil_forge.orgs import policy
from anvil_forge.orgs.policy import Action

from . import composition, services, sources
from .models import Kind, PromptSet
from .validation import check_config, check_kind, check_messages, check_parameters, check_tests


def _named(index: int, slug: str, exc: ValidationError) -> ValidationError:
    """``exc`` about the prompt at ``index`` of a source document, naming it."""
    return ValidationError(f"prompt '{slug}': {exc.message}",
                           [{**d, "field": f"prompts[{index}].{d.get('field') or ''}".rstrip(".")}
                            for d in exc.details])


def _normalised(index: int, item: dict) -> dict:
    """A source's prompt in the form the FORGE stores (so equal content plans no change)."""
    item = dict(item)
    try:
        kind = check_kind(item.get("kind") or Kind.TEXT)
        item["parameters"] = check_parameters(item.get("parameters"))
        item["config"] = check_config(item.get("config"), removals=True)
        item["tests"] = check_tests(item.get("tests"), kind)
        if kind == Kind.CHAT:
            item["messages"] = check_messages(item.get("messages"), item["parameters"])
    except ValidationError as exc:
        raise _named(index, str(item.get("slug")), exc) from None
    return item


def replace(actor, project, slug: str, document: dict, *, if_match: str | None = None,
            create: bool = False) -> tuple[PromptSet, dict]:
    """services.replace_source (documented there); runs in its transaction."""
    prompt_set = PromptSet.objects.filter(project=project, slug=slug).first()
    if prompt_set is None and not create:
        raise NotFound(f"project '{project.slug}' has no prompt set '{slug}'")
    if prompt_set is not None and create:
        raise PreconditionFailed(f"prompt set '{slug}' already exists (pull it first)",
                                 [{"field": "If-None-Match", "message": "the prompt set exists"}])
    if prompt_set is None:
        prompt_set = services.create_prompt_set(actor, project, document.get("name") or slug, slug,
                                       document.get("description") or "")
    prompt_set = services._locked_set(prompt_set)
    policy.require(actor, Action.EDIT_PROMPTS, project.organisation, "prompt set")
    services.require_editable(prompt_set)
    current = sources.document(prompt_set)
    if if_match is not None and if_match != sources.etag(current):
        raise PreconditionFailed(f"prompt set '{slug}' changed on the FORGE since you read it (its ETag is "
                                 f"{sources.etag(current)}): pull it again",
                                 [{"field": "If-Match", "message": "does not match the current ETag"}])
    document = {**document, "prompts": [_normalised(index, item) for index, item in
                                        enumerate(document.get("prompts") or [])]}
    changes = sources.plan(current, document)
    token = services._whole_set_checked.set(True)
    try:
        if changes["set"]:
            services.update_prompt_set(actor, prompt_set, name=document.get("name"),
                                       description=document.get("description"), metadata=document.get("metadata"),
                                       config=document.get("config"), dependencies=document.get("dependencies"))
        prompts = {p.slug: p for p in prompt_set.prompts.all()}
        for gone in changes["deleted"]:
            services.delete_prompt(actor, prompts[gone])
        for index, item in enumerate(document.get("prompts") or []):
            fields = {key: item.get(key) for key in sources.PROMPT_FIELDS if key in item}
            try:
                if item["slug"] in prompts:
                    if item["slug"] in changes["changed"]:
                        services.update_prompt(actor, prompts[item["slug"]], **fields)
                else:
                    services.create_prompt(actor, prompt_set, slug=item["slug"],
                                           **{"name": item["slug"], **fields})
            except ValidationError as exc:  # name the prompt: the document holds them all
                raise _named(index, item["slug"], exc) from None
    finally:
        services._whole_set_checked.reset(token)
    composition.refuse_problems(composition.problems(prompt_set), "the set's prompts would not render")
    after = sources.document(prompt_set)
    if after != current or create:
        prompt_set.pushed_etag = sources.etag(after)
        prompt_set.save(update_fields=["pushed_etag", "updated_at"])
        record(actor, project.organisation, "prompt_set.push", prompt_set,
               {"project": project.slug, **{k: v for k, v in changes.items() if v}})
    return prompt_set, changes
