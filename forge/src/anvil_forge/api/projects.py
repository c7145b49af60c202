"""Projects and the prompt sets in them."""

import uuid

from ninja import Query, Router, Status

from anvil_forge.orgs import queries as org_queries
from anvil_forge.prompts import queries as prompt_queries
from anvil_forge.prompts import services as prompt_services

from .auth import actor
from .etag import etag
from .pagination import Page, PageQuery, paginate
from .responses import DELETE, LIST, READ, WRITE
from .prompt_schemas import PromptSetCreate, PromptSetOut
from .schemas import ProjectCreate, ProjectOut, ProjectUpdate

router = Router(tags=["projects"])


@router.get("/projects", response={200: Page[ProjectOut], **LIST})
def list_projects(request, page: PageQuery, organisation: uuid.UUID | None = Query(
        None, description="only this organisation's projects")):
    """Projects of every organisation the caller is in, or of one."""
    user = actor(request)
    scope = org_queries.get_organisation(user, organisation) if organisation else None
    return paginate(prompt_queries.projects_for(user, scope), page)


@router.post("/projects", response={201: ProjectOut, **WRITE})
def create_project(request, payload: ProjectCreate):
    """Create a project in an organisation (owners and admins)."""
    user = actor(request)
    organisation = org_queries.get_organisation(user, payload.organisation)
    return Status(201, prompt_services.create_project(user, organisation, payload.name, payload.slug,
                                                      payload.description))


@router.get("/projects/{uuid:id}", response={200: ProjectOut, **READ})
@etag
def get_project(request, id: uuid.UUID):
    return prompt_queries.get_project(actor(request), id)


@router.patch("/projects/{uuid:id}", response={200: ProjectOut, **WRITE})
def update_project(request, id: uuid.UUID, payload: ProjectUpdate):
    user = actor(request)
    return prompt_services.update_project(user, prompt_queries.get_project(user, id),
                                          **payload.dict(exclude_unset=True))


@router.delete("/projects/{uuid:id}", response={204: None, **DELETE})
def delete_project(request, id: uuid.UUID):
    """Delete a project and its prompt sets (owners and admins; refused while a set is in review or
    LOCKED, or if a version was ever published)."""
    user = actor(request)
    prompt_services.delete_project(user, prompt_queries.get_project(user, id))
    return Status(204, None)


@router.get("/projects/{uuid:id}/prompt_sets", response={200: Page[PromptSetOut], **LIST})
def list_prompt_sets(request, id: uuid.UUID, page: PageQuery):
    user = actor(request)
    return paginate(prompt_queries.prompt_sets_for(user, prompt_queries.get_project(user, id)), page)


@router.post("/projects/{uuid:id}/prompt_sets", response={201: PromptSetOut, **WRITE})
def create_prompt_set(request, id: uuid.UUID, payload: PromptSetCreate):
    user = actor(request)
    project = prompt_queries.get_project(user, id)
    return Status(201, prompt_services.create_prompt_set(user, project, payload.name, payload.slug,
                                                         payload.description, payload.metadata,
                                                         config=payload.config, dependencies=payload.dependencies))
