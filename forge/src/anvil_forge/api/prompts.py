"""One prompt, and rendering (a prompt's working copy, or any address)."""

import uuid

from ninja import Router, Status

from anvil_forge.prompts import queries as prompt_queries
from anvil_forge.prompts import services as prompt_services

from .auth import READ_ONLY_AUTH, actor
from .etag import etag
from .responses import DELETE, READ, WRITE
from .prompt_schemas import AddressRenderIn, AddressRenderOut, PromptOut, PromptUpdate, RenderIn, RenderOut
from .test_schemas import SnapshotUpdateIn, SnapshotUpdateOut, TestRunOut, run_out

router = Router(tags=["prompts"])


@router.get("/prompts/{uuid:id}", response={200: PromptOut, **READ})
@etag
def get_prompt(request, id: uuid.UUID):
    """The prompt, with the analysis of its template against its parameters."""
    return prompt_queries.get_prompt(actor(request), id)


@router.patch("/prompts/{uuid:id}", response={200: PromptOut, **WRITE})
def update_prompt(request, id: uuid.UUID, payload: PromptUpdate):
    """Edit the prompt (only while its set is LIVE). `parameters`, `messages` and `config` replace the whole
    list or object; changing `kind` clears the other kind's content unless it is sent too."""
    user = actor(request)
    changes = payload.dict(exclude_unset=True)
    if changes.get("parameters") is not None and payload.parameters is not None:  # the same test, for mypy
        changes["parameters"] = [p.declaration() for p in payload.parameters]
    return prompt_services.update_prompt(user, prompt_queries.get_prompt(user, id), **changes)


@router.delete("/prompts/{uuid:id}", response={204: None, **DELETE})
def delete_prompt(request, id: uuid.UUID):
    user = actor(request)
    prompt_services.delete_prompt(user, prompt_queries.get_prompt(user, id))
    return Status(204, None)


@router.post("/prompts/{uuid:id}/render", response={200: RenderOut, **WRITE}, auth=READ_ONLY_AUTH)
def render_prompt(request, id: uuid.UUID, payload: RenderIn):
    """Render the prompt's working copy (its partials against each dependency's newest matching version):
    `rendered` for a text prompt, `messages` for a chat prompt, and the merged model `config`. Needs only
    the `read` scope."""
    prompt = prompt_queries.get_prompt(actor(request), id)
    return _presented(prompt_queries.render_prompt(prompt, payload.variables))


@router.post("/render", response={200: AddressRenderOut, **WRITE}, auth=READ_ONLY_AUTH, tags=["rendering"])
def render_address(request, payload: AddressRenderIn):
    """Render by address, `[org/]project/prompt_set[@version]/prompt`, with any version specifier
    (`1.2.0`, `latest`, `stable`, `^1.2`, `~1.2.3`, `>=1.0.0 <2.0.0`; none = the working copy).
    A wrong part of the address is named in `details`. A version renders its partials from the versions it
    locks. Answers `rendered` (text prompt) or `messages` (chat prompt) and the merged model `config`.
    Needs only the `read` scope."""
    result, resolved = prompt_queries.render_address(actor(request), payload.address, payload.variables)
    return {**_presented(result), "address": resolved.address, "prompt_set_id": resolved.prompt_set.pk,
            "prompt": resolved.prompt_slug, "version": resolved.version_label}


@router.post("/prompts/{uuid:id}/run_tests", response={200: TestRunOut, **WRITE}, auth=READ_ONLY_AUTH,
             tags=["tests"])
def run_tests(request, id: uuid.UUID):
    """Run the working copy's test cases (nothing calls a model: the rendered prompt is checked) and answer
    each case's result with the reasons of its failures. Stores nothing; needs only the `read` scope."""
    return run_out(prompt_queries.prompt_test_results(prompt_queries.get_prompt(actor(request), id)))


@router.post("/prompts/{uuid:id}/test_snapshots", response={200: SnapshotUpdateOut, **WRITE}, tags=["tests"])
def update_test_snapshots(request, id: uuid.UUID, payload: SnapshotUpdateIn):
    """Store what the prompt renders now as the snapshot of its `snapshot` tests (those named, or all)."""
    user = actor(request)
    return {"updated": prompt_services.update_test_snapshots(user, prompt_queries.get_prompt(user, id),
                                                             payload.names)}


def _presented(result: dict) -> dict:
    return {"kind": result["kind"], "rendered": result["rendered"], "messages": result["messages"],
            "config": result["config"]}
