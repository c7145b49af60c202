"""Distribution: access tokens, publishing, the current bundle, the FORGE's public key (docs/distribution.md)."""

from __future__ import annotations

import asyncio
import datetime
import gzip
import json
import uuid

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified, StreamingHttpResponse
from ninja import Field, Router, Schema, Status
from ninja.errors import AuthenticationError
from ninja.security import HttpBearer

from anvil_client import bundle as bundle_format
from anvil_forge.core.errors import Conflict, NotFound
from anvil_forge.distribution import queries as dist_queries
from anvil_forge.distribution import services as dist_services
from anvil_forge.prompts import queries as prompt_queries

from . import etag
from .auth import access_token_of, actor
from .pagination import Page, PageQuery, paginate
from .responses import DELETE, LIST, WRITE, errors
from .channel_schemas import PublishRequestOut, RolloutIn
from .schemas import Resource, Text

router = Router(tags=["distribution"])


# --- schemas ---------------------------------------------------------------------------

class AccessTokenOut(Resource):
    project_id: uuid.UUID
    channel: str
    label: str
    prefix: str
    last_used_at: datetime.datetime | None
    revoked_at: datetime.datetime | None


    @staticmethod
    def resolve_channel(obj):
        return obj.channel.name


class AccessTokenCreated(AccessTokenOut):
    token: str


class AccessTokenCreate(Schema):
    label: Text
    channel: Text | None = Field(None, description="the channel LIVE clients of this token follow (default "
                                                   "production)")


class PublishIn(Schema):
    version: Text | None = None
    channel: Text | None = Field(None, description="default production")
    rollout: RolloutIn | None = Field(None, description="release to part of the channel only (the others keep "
                                                        "its current release)")


class PublishOut(Schema):
    project_id: uuid.UUID
    prompt_set_id: uuid.UUID
    version: str
    version_id: uuid.UUID
    channel: str
    sequence: int
    changed: bool
    request: PublishRequestOut | None = Field(None, description="the channel requires approval: the publish "
                                                                "waits for this request (202)")


class PublicKeyOut(Schema):
    public_key: str
    key_id: str


class SigningKeyOut(Schema):
    key_id: str
    public_key: str
    state: str  # current, previous or retired
    created_at: str
    retired_at: str | None


class EndorsementOut(Schema):
    """The new key signed by the old one (anvil_client.keys; docs/security.md#key-rotation)."""

    format: str
    old_key: str
    new_key: str
    created_at: str
    signature: str


class KeyChainOut(Schema):
    current_key: str
    keys: list[SigningKeyOut]
    endorsements: list[EndorsementOut]


class BundleOut(Schema):
    """See docs/bundle-format.md and client/src/anvil_client/bundle*.schema.json (formats 1 to 4)."""

    model_config = {"extra": "allow"}
    format: str
    format_version: int
    sequence: int
    checksum: str
    signature: str


# --- access tokens -------------------------------------------------------------------------

@router.get("/projects/{id}/access_tokens", response={200: Page[AccessTokenOut], **LIST})
def list_access_tokens(request, id: uuid.UUID, page: PageQuery):
    """The project's access tokens (their secrets are never shown again)."""
    user = actor(request)
    return paginate(dist_queries.access_tokens(user, prompt_queries.get_project(user, id)), page)


@router.post("/projects/{id}/access_tokens", response={201: AccessTokenCreated, **WRITE})
def create_access_token(request, id: uuid.UUID, payload: AccessTokenCreate):
    """A new access token for LIVE clients (owners and admins). `token` is shown this once."""
    user = actor(request)
    token, secret = dist_services.create_access_token(user, prompt_queries.get_project(user, id), payload.label,
                                                      payload.channel)
    setattr(token, "token", secret)  # noqa: B010 - shown this once, beside the stored fields
    return Status(201, token)


@router.delete("/projects/{id}/access_tokens/{token_id}", response={204: None, **DELETE})
def revoke_access_token(request, id: uuid.UUID, token_id: uuid.UUID):
    """Revoke a token: the next request made with it is refused."""
    user = actor(request)
    token = dist_queries.access_token(user, prompt_queries.get_project(user, id), token_id)
    dist_services.revoke_access_token(user, token)
    return Status(204, None)


# --- publishing -------------------------------------------------------------------------------

@router.post("/prompt_sets/{id}/publish", response={200: PublishOut, 202: PublishOut, **WRITE})
def publish(request, id: uuid.UUID, payload: PublishIn | None = None):
    """Publish an approved version (default: the newest approved one) of a LOCKED prompt set to a channel
    (default production) — to everyone, or with `rollout` to part of it. A version whose content no approver
    approved is refused (409); on a channel that requires approval the answer is 202 with the pending
    `request`, released once another owner or admin approves it."""
    user = actor(request)
    label, channel = (payload.version, payload.channel) if payload else (None, None)
    rollout = payload.rollout.dict() if payload and payload.rollout else None
    result = dist_services.publish(user, prompt_queries.get_prompt_set(user, id), label, channel, rollout)
    assert result.prompt_set and result.version and result.channel  # (a publish names all three)
    out = {"project_id": result.project.pk, "prompt_set_id": result.prompt_set.pk, "version": result.version.label,
           "version_id": result.version.pk, "channel": result.channel.name, "sequence": result.sequence,
           "changed": result.changed, "request": result.request}
    return Status(202, out) if result.request is not None else out


# --- for LIVE clients ------------------------------------------------------------------------

class AccessTokenAuth(HttpBearer):
    """``Authorization: Bearer ant_…``: a project access token."""

    def authenticate(self, request: HttpRequest, token: str):
        found = access_token_of(request)
        if found is None:
            raise AuthenticationError(401, "the access token is not valid (unknown or revoked)")
        setattr(request, "access_token", found)  # noqa: B010 - a mark for later steps, as api/auth.py sets its own
        return found


def token_project(request: HttpRequest, project_id: uuid.UUID):
    """The project of the request's access token, which must be the one in the path (else: not found), and
    the channel the client asks for (``X-Anvil-Channel``), if it asks, must be the token's (else: 409)."""
    token = getattr(request, "auth")  # noqa: B009 - set by ninja once AccessTokenAuth accepted the request
    if token.project_id != project_id:
        raise NotFound("project not found")
    asked = request.headers.get(CHANNEL_HEADER, "").strip()
    if asked and asked != token.channel.name:
        raise Conflict(f"this access token is bound to channel '{token.channel.name}', not {asked[:64]!r}: use a "
                       f"token of that channel, or drop the client's channel setting",
                       [{"field": CHANNEL_HEADER, "message": "not the token's channel"}])
    return token.project


CHANNEL_HEADER = "X-Anvil-Channel"
COHORT_HEADER = "X-Anvil-Cohort"


def _bundle_response(request: HttpRequest, data: dict) -> HttpResponse:
    tag = '"' + data["checksum"].removeprefix("sha256:") + '"'
    if etag.matches(request, tag):  # the one If-None-Match rule (W/ and * included), as every ETag'd GET
        not_modified = HttpResponseNotModified()
        not_modified["ETag"] = tag
        return not_modified
    body = bundle_format.canonical(data)
    response = HttpResponse(content_type="application/json")
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        body = gzip.compress(body, compresslevel=6, mtime=0)
        response["Content-Encoding"] = "gzip"
    response.content = body
    response["ETag"] = tag
    response["Vary"] = f"Accept-Encoding, {bundle_format.FORMATS_HEADER}"  # each reader's formats, its bundle
    response["Cache-Control"] = "no-cache"
    return response


def reader_formats(request: HttpRequest) -> tuple[int, ...]:
    """The bundle formats the puller reads, from ``X-Anvil-Bundle-Formats: 1,2,3``. Without the header (or
    with nothing usable in it): those of the previous release, which pulls without naming them."""
    formats = []
    for part in request.headers.get(bundle_format.FORMATS_HEADER, "").split(",")[:16]:
        part = part.strip()
        if part.isascii() and part.isdigit() and len(part) <= 4:  # no sign, no space; unknown ones are ignored
            formats.append(int(part))
    return tuple(formats) or dist_queries.PREVIOUS_RELEASE_FORMATS


@router.get("/projects/{id}/current_bundle", auth=AccessTokenAuth(),
            response={200: BundleOut, 304: None, **errors(404, 409)})
def current_bundle(request, id: uuid.UUID):
    """The signed bundle of the token's channel (access token) for the client's cohort: during a staged
    rollout an instance (`X-Anvil-Instance`, placed with the labels it registered) in the rollout's cohort
    gets the new release, the others the previous one; `X-Anvil-Channel` and `X-Anvil-Cohort`
    (`all`/`rollout`/`previous`) say which. In the formats the client names in `X-Anvil-Bundle-Formats`
    (`1,2,3,4`; absent: `1,2`). `ETag` is the checksum; `If-None-Match` → 304; gzip when accepted. 409: the
    client asked (`X-Anvil-Channel`) for another channel than its token's."""
    token_project(request, id)
    token = request.auth
    instance_id = request.headers.get("X-Anvil-Instance", "")[:64] or None
    data, cohort = dist_queries.bundle_for_token(token, instance_id, reader_formats(request))
    response = _bundle_response(request, data)
    response[CHANNEL_HEADER], response[COHORT_HEADER] = token.channel.name, cohort
    response["Vary"] = f"Accept-Encoding, {bundle_format.FORMATS_HEADER}, X-Anvil-Instance"
    return response


class TokenInfoOut(Schema):
    """What an access token is for: ``anvil-client connect`` finds its project from the token alone."""

    project_id: uuid.UUID
    organisation: str
    project: str
    project_name: str
    channel: str
    label: str


@router.get("/access_token", auth=AccessTokenAuth(), response={200: TokenInfoOut, **errors()})
def access_token_info(request):
    """The project (id, organisation and project slugs), channel and label of the access token presented."""
    token = request.auth
    project = token.project
    return {"project_id": project.pk, "organisation": project.organisation.slug, "project": project.slug,
            "project_name": project.name, "channel": token.channel.name, "label": token.label}


@router.get("/forge/public_key", auth=None, response={200: PublicKeyOut})
def public_key(request):
    """The key this FORGE signs bundles with; LIVE clients pin it."""
    key = dist_queries.public_key()
    return {"public_key": key, "key_id": bundle_format.key_id(key)}


@router.get("/forge/keys", auth=None, response={200: KeyChainOut})
def key_chain(request):
    """Every signing key this FORGE has had (public keys only) and the endorsement of each new key by the one
    before it: a client pinned to an earlier key follows them to the current one, trusting nothing unsigned."""
    return dist_queries.key_chain()


# --- LIVE instances ---------------------------------------------------------------------------

class InstanceIn(Schema):
    instance_id: Text
    channel: Text = Field("", description="the channel the client expects (409 if its token is of another)")
    labels: dict[str, str] = Field({}, description="what the client declares of itself, for rollout targeting")
    last_error: str = Field("", description="the client's last sync error, shown on the rollout's progress")
    host: Text = ""
    mode: str
    receiver_url: Text = ""
    receiver_secret: Text = ""
    sequence: int | None = None
    versions: dict[str, str] = {}
    client_version: Text = ""
    bundle_formats: list[int] = []
    use_counts: dict[str, int] = {}


class InstanceOut(Resource):
    instance_id: str
    channel: str | None
    labels: dict[str, str]
    host: str
    mode: str
    receiver_url: str
    sequence: int | None
    versions: dict[str, str]
    client_version: str
    bundle_formats: list[int]
    use_counts: dict[str, int]
    last_seen_at: datetime.datetime
    stale: bool
    too_old: bool = Field(description="the client cannot read the format of the project's current bundle: it "
                                      "keeps serving what it holds until it is upgraded")

    last_error: str

    @staticmethod
    def resolve_channel(obj):
        return obj.channel.name if obj.channel else None

    @staticmethod
    def resolve_too_old(obj):
        return dist_queries.instance_too_old(obj)

    @staticmethod
    def resolve_stale(obj):
        return dist_queries.instance_is_stale(obj)


class RegisteredOut(InstanceOut):
    cohort: str = Field(description="all (no rollout in progress), rollout (in its cohort) or previous")
    release: int = Field(description="the sequence this instance should hold now (0: nothing published)")


@router.post("/projects/{id}/live_instances", auth=AccessTokenAuth(),
             response={200: RegisteredOut, **errors(400, 404, 409, 413, 422)})
def register_instance(request, id: uuid.UUID, payload: InstanceIn):
    """Register or heartbeat a LIVE client (access token). The answer says its channel, its cohort and the
    release it should hold. 409: the instance id belongs to another live token of the project, or the
    client expects another channel than its token's; 422: a field is out of bounds or unusable (named)."""
    token_project(request, id)
    instance = dist_services.register_instance(request.auth, payload.dict())
    release, cohort = dist_queries.instance_release(instance)
    setattr(instance, "release", release)  # noqa: B010 - the answer's, beside the stored fields
    setattr(instance, "cohort", cohort)  # noqa: B010
    return instance


@router.get("/projects/{id}/live_instances", response={200: Page[InstanceOut], **LIST})
def list_instances(request, id: uuid.UUID, page: PageQuery):
    """The project's LIVE clients, most recently seen first; `stale` ones missed their heartbeats."""
    user = actor(request)
    return paginate(dist_queries.live_instances(user, prompt_queries.get_project(user, id)), page,
                    order=("-last_seen_at", "-id"))


# --- publications and deliveries ------------------------------------------------------------------

class DeliveryOut(Resource):
    instance_id: str
    host: str
    receiver_url: str
    state: str
    attempts: int
    last_error: str
    delivered_at: datetime.datetime | None

    @staticmethod
    def resolve_instance_id(obj):
        return obj.instance.instance_id

    @staticmethod
    def resolve_host(obj):
        return obj.instance.host

    @staticmethod
    def resolve_receiver_url(obj):
        return obj.instance.receiver_url


class PublicationOut(Schema):
    id: uuid.UUID
    channel: str
    sequence: int
    kind: str
    prompt_set_id: uuid.UUID | None = Field(description="what a publish changed (none for promote, roll back)")
    version: str | None
    created_at: datetime.datetime
    deliveries: list[DeliveryOut]

    @staticmethod
    def resolve_channel(obj):
        return obj.channel.name

    @staticmethod
    def resolve_version(obj):
        return obj.version.label if obj.version else None

    @staticmethod
    def resolve_deliveries(obj):
        return list(obj.deliveries.all())  # fetched with the publications (queries.publications)


@router.get("/projects/{id}/publications", response={200: Page[PublicationOut], **LIST})
def list_publications(request, id: uuid.UUID, page: PageQuery):
    """Every publish of the project, newest first, with each delivery's state."""
    user = actor(request)
    return paginate(dist_queries.publications(user, prompt_queries.get_project(user, id)), page,
                    order=("-sequence", "-id"))


@router.post("/deliveries/{id}/retry", response={200: DeliveryOut, **WRITE})
def retry_delivery(request, id: uuid.UUID):
    """Try a failed delivery again (owners and admins)."""
    user = actor(request)
    return dist_services.retry_delivery(user, dist_queries.get_delivery(user, id))


# --- streaming -----------------------------------------------------------------------------------

def heartbeat_seconds() -> float:
    return settings.ANVIL_SSE_HEARTBEAT_SECONDS


async def _query_then_release(query, *args):
    """Run a database query for a stream, then close the request's connection. A stream stays open for
    hours and needs no database in between, and each open request holds its own connection (Django's
    ASGI handler gives every request its own thread): 500 streams would otherwise hold 500 connections,
    far more than PostgreSQL allows (100 by default)."""
    def run():
        try:
            return query(*args)
        finally:
            connection.close()

    return await sync_to_async(run)()


STREAM_HEADER = "X-Anvil-Stream"  # "bundles": the client takes whole bundles in the stream (anvil-client 0.4)


@router.get("/projects/{id}/events", auth=AccessTokenAuth(), response={200: str, **errors(404, 409)})
async def events(request, id: uuid.UUID):
    """Server-Sent Events (access token): `hello` with the sequence this instance (`X-Anvil-Instance`) is
    served now, then, whenever its channel's release for it changes (a release, a rollout reaching it, a
    roll back), `publish` `{"sequence": n, "channel": name}` — or, for a client that sends
    `X-Anvil-Stream: bundles`, `bundle` with the signed bundle itself (in the formats it names), so it need
    not pull. An instance outside a rollout's cohort hears nothing until it is reached. A comment line every
    15 s keeps the connection alive; the stream ends at the first heartbeat after its token is revoked."""
    project = token_project(request, id)
    token = request.auth
    token_id, heartbeat, channel = token.pk, heartbeat_seconds(), token.channel
    instance_id = request.headers.get("X-Anvil-Instance", "")[:64] or None
    whole = "bundles" in request.headers.get(STREAM_HEADER, "")
    formats = reader_formats(request)
    labels, sent = await _query_then_release(dist_queries.stream_placement, token, instance_id)

    async def stream():
        nonlocal sent, labels
        with dist_queries.publish_events(project) as queue:
            yield f"retry: 3000\nevent: hello\ndata: {json.dumps({'sequence': sent, 'channel': channel.name})}\n\n"
            while True:
                try:
                    message = await asyncio.wait_for(queue.get(), timeout=heartbeat)
                except TimeoutError:
                    if not await _query_then_release(dist_queries.access_token_valid, token_id):
                        return  # revoked: the client's reconnection is refused (401)
                    yield ": heartbeat\n\n"
                    continue
                if message.get("channel", "production") != channel.name:
                    continue  # another channel's release
                if labels is None:  # it registered after opening the stream: place it by its labels now
                    labels = await _query_then_release(dist_queries.instance_labels, token, instance_id)
                if "targets" in message:
                    release_id, sequence = dist_queries.stream_target(message, channel, instance_id, labels)
                else:
                    release_id, sequence = await _query_then_release(dist_queries.stream_target, message, channel,
                                                                     instance_id, labels)
                if sequence <= sent:
                    continue  # not reached by this release (outside the rollout), or already told
                sent = sequence
                if whole and release_id:
                    text = await _query_then_release(dist_queries.release_bundle_text, channel, release_id, formats)
                    yield f"event: bundle\ndata: {text}\n\n"
                else:
                    yield f"event: publish\ndata: {json.dumps({'sequence': sequence, 'channel': channel.name})}\n\n"

    response = StreamingHttpResponse(stream(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
