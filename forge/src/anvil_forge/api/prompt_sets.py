"""One prompt set: its fields, its status and its prompts."""

import uuid

from ninja import Router, Status

from anvil_forge.prompts import queries as prompt_queries
from anvil_forge.prompts import services as prompt_services

from .auth import actor
from .etag import etag
from .pagination import Page, PageQuery, paginate
from .responses import DELETE, LIST, READ, WRITE
from .prompt_schemas import PromptCreate, PromptOut, PromptSetOut, PromptSetUpdate, StatusChange

router = Router(tags=["prompt sets"])


@router.get("/prompt_sets/{uuid:id}", response={200: PromptSetOut, **READ})
@etag
def get_prompt_set(request, id: uuid.UUID):
    return prompt_queries.get_prompt_set(actor(request), id)


@router.patch("/prompt_sets/{uuid:id}", response={200: PromptSetOut, **WRITE})
def update_prompt_set(request, id: uuid.UUID, payload: PromptSetUpdate):
    """Edit the set (only while LIVE). `config` and `dependencies` replace the whole object."""
    user = actor(request)
    return prompt_services.update_prompt_set(user, prompt_queries.get_prompt_set(user, id),
                                             **payload.dict(exclude_unset=True))


@router.delete("/prompt_sets/{uuid:id}", response={204: None, **DELETE})
def delete_prompt_set(request, id: uuid.UUID):
    """Delete the set with its prompts and versions (owners and admins; only while LIVE and never published)."""
    user = actor(request)
    prompt_services.delete_prompt_set(user, prompt_queries.get_prompt_set(user, id))
    return Status(204, None)


@router.post("/prompt_sets/{uuid:id}/status", response={200: PromptSetOut, **WRITE})
def change_status(request, id: uuid.UUID, payload: StatusChange):
    """Move the set through LIVE → REVIEW → LOCKED (or back), per the role matrix: anyone may submit
    for review; owners and admins approve, reject and unlock."""
    user = actor(request)
    return prompt_services.change_status(user, prompt_queries.get_prompt_set(user, id), payload.status)


@router.get("/prompt_sets/{uuid:id}/prompts", response={200: Page[PromptOut], **LIST})
def list_prompts(request, id: uuid.UUID, page: PageQuery):
    user = actor(request)
    return paginate(prompt_queries.prompts_for(user, prompt_queries.get_prompt_set(user, id)), page)


@router.post("/prompt_sets/{uuid:id}/prompts", response={201: PromptOut, **WRITE})
def create_prompt(request, id: uuid.UUID, payload: PromptCreate):
    """Add a prompt to the set (only while LIVE): a text prompt (`template`) or a chat prompt (`kind: chat`,
    `messages`). Its template or messages must compile and its partials resolve."""
    user = actor(request)
    prompt_set = prompt_queries.get_prompt_set(user, id)
    parameters = None if payload.parameters is None else [p.declaration() for p in payload.parameters]
    return Status(201, prompt_services.create_prompt(
        user, prompt_set, payload.name, payload.slug, payload.template, parameters, payload.description,
        payload.metadata, kind=payload.kind, messages=payload.messages, config=payload.config))
