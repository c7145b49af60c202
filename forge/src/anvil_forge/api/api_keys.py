"""The caller's own API keys."""

import uuid

from ninja import Router, Status

from anvil_forge.accounts import queries as account_queries
from anvil_forge.accounts import services as account_services

from .auth import actor
from .pagination import Page, PageQuery, paginate
from .responses import DELETE, LIST, WRITE
from .schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut

router = Router(tags=["API keys"])


@router.get("/api_keys", response={200: Page[ApiKeyOut], **LIST})
def list_api_keys(request, page: PageQuery):
    """The caller's active keys (never their secrets)."""
    return paginate(account_queries.api_keys_for(actor(request)), page)


@router.post("/api_keys", response={201: ApiKeyCreated, **WRITE})
def create_api_key(request, payload: ApiKeyCreate):
    """A new key for the caller, optionally expiring at `expires_at`. The answer holds the secret `key`, shown
    this once: store it."""
    key, secret = account_services.create_api_key(actor(request), payload.name, payload.scopes, payload.expires_at)
    return Status(201, {**ApiKeyOut.from_orm(key).dict(), "key": secret})


@router.delete("/api_keys/{uuid:id}", response={204: None, **DELETE})
def revoke_api_key(request, id: uuid.UUID):
    """Revoke one of the caller's keys: it stops working at once."""
    account_services.revoke_api_key(actor(request), id)
    return Status(204, None)
