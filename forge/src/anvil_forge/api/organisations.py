"""Organisations, their members and their audit log."""

import uuid

from ninja import Router, Status

from anvil_forge.audit import queries as audit_queries
from anvil_forge.orgs import queries as org_queries
from anvil_forge.orgs import services as org_services

from .auth import actor
from .etag import etag
from .pagination import NEWEST_FIRST, Page, PageQuery, paginate
from .responses import DELETE, LIST, READ, WRITE
from .schemas import (
    AuditEventOut,
    InvitationOut,
    MemberInvite,
    MemberOut,
    MemberUpdate,
    OrganisationCreate,
    OrganisationOut,
    OrganisationUpdate,
)

router = Router(tags=["organisations"])


@router.get("/organisations", response={200: Page[OrganisationOut], **LIST})
def list_organisations(request, page: PageQuery):
    """The organisations the caller is a member of, with the caller's role in each."""
    return paginate(org_queries.organisations_with_role(actor(request)), page)


@router.post("/organisations", response={201: OrganisationOut, **WRITE})
def create_organisation(request, payload: OrganisationCreate):
    """Create an organisation; the caller becomes its owner."""
    return Status(201, org_services.create_organisation(actor(request), payload.name, payload.slug,
                                                        payload.description))


@router.get("/organisations/{uuid:id}", response={200: OrganisationOut, **READ})
@etag
def get_organisation(request, id: uuid.UUID):
    return org_queries.get_organisation(actor(request), id)


@router.patch("/organisations/{uuid:id}", response={200: OrganisationOut, **WRITE})
def update_organisation(request, id: uuid.UUID, payload: OrganisationUpdate):
    """Rename, re-slug or describe the organisation (owners)."""
    user = actor(request)
    organisation = org_queries.get_organisation(user, id)
    return org_services.update_organisation(user, organisation, **payload.dict(exclude_unset=True))


@router.delete("/organisations/{uuid:id}", response={204: None, **DELETE})
def delete_organisation(request, id: uuid.UUID):
    """Delete the organisation and everything in it (owners; not a personal organisation)."""
    user = actor(request)
    org_services.delete_organisation(user, org_queries.get_organisation(user, id))
    return Status(204, None)


@router.get("/organisations/{uuid:id}/members", response={200: Page[MemberOut], **LIST})
def list_members(request, id: uuid.UUID, page: PageQuery):
    user = actor(request)
    return paginate(org_queries.members(user, org_queries.get_organisation(user, id)), page)


@router.post("/organisations/{uuid:id}/members", response={201: MemberOut | InvitationOut, **WRITE})
def invite_member(request, id: uuid.UUID, payload: MemberInvite):
    """Invite by e-mail (owners). An existing user with a confirmed address joins at once: the answer
    is the membership (`"object": "membership"`). Anyone else (a new address, or an account whose
    address is not confirmed) is sent a link: the answer is the invitation (`"object": "invitation"`)."""
    user = actor(request)
    result = org_services.invite_member(user, org_queries.get_organisation(user, id), payload.email, payload.role)
    return Status(201, result.joined if result.joined is not None else result.invitation)


@router.patch("/organisations/{uuid:id}/members/{uuid:user_id}", response={200: MemberOut, **WRITE})
def change_member_role(request, id: uuid.UUID, user_id: uuid.UUID, payload: MemberUpdate):
    """Change a member's role (owners)."""
    user = actor(request)
    organisation = org_queries.get_organisation(user, id)
    membership = org_queries.member(user, organisation, user_id)
    return org_services.change_role(user, organisation, membership.user, payload.role)


@router.delete("/organisations/{uuid:id}/members/{uuid:user_id}", response={204: None, **DELETE})
def remove_member(request, id: uuid.UUID, user_id: uuid.UUID):
    """Remove a member (owners), or leave (anyone, with their own user id)."""
    user = actor(request)
    organisation = org_queries.get_organisation(user, id)
    membership = org_queries.member(user, organisation, user_id)
    org_services.remove_member(user, organisation, membership.user)
    return Status(204, None)


@router.get("/organisations/{uuid:id}/audit", response={200: Page[AuditEventOut], **LIST})
def list_audit_events(request, id: uuid.UUID, page: PageQuery):
    """Who did what in the organisation, newest first."""
    user = actor(request)
    events = audit_queries.events_for_organisation(user, org_queries.get_organisation(user, id))
    return paginate(events, page, NEWEST_FIRST)
