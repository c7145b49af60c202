"""The REST API v1 at ``/api/v1`` (contract: docs/api.md).

Handlers are thin: parse (ninja + :mod:`.schemas`, :mod:`.prompt_schemas`,
:mod:`.version_schemas`), call a service or query function, present. Around them:

* :mod:`.auth` — API keys (``Authorization: Bearer ank_…``, scopes) or a
  browser session with CSRF;
* :mod:`.errors` — the error envelope, for every error;
* :mod:`.pagination` — keyset cursors;
* :mod:`.middleware` — rate limiting (:mod:`.ratelimit`), ETags
  (:mod:`.etag`) and the envelope for what happens outside ninja.
"""

import copy

from ninja import NinjaAPI

from . import api_keys, errors, organisations, projects, prompt_sets, prompts, sources, versions
from . import channels, distribution, peering
from .auth import AUTH
from .parser import JsonParser

RATE_LIMIT_HEADERS = {
    "X-RateLimit-Limit": {"description": "requests allowed per window", "schema": {"type": "integer"}},
    "X-RateLimit-Remaining": {"description": "requests left in this window", "schema": {"type": "integer"}},
    "X-RateLimit-Reset": {"description": "when the window ends (Unix time, seconds)", "schema": {"type": "integer"}},
}


class AnvilAPI(NinjaAPI):
    def get_openapi_operation_id(self, operation) -> str:
        return operation.view_func.__name__  # unique across the API: list_projects, get_prompt, …

    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        """Ninja's document plus what the API middleware adds to every operation (429, the rate-limit
        headers); built once per process
        (it takes most of a second and never changes while the process runs)."""
        if path_prefix is None:
            path_prefix = self.get_root_path(path_params or {})
        cache = self.__dict__.setdefault("_openapi_cache", {})
        if path_prefix not in cache:
            schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
            for methods in schema["paths"].values():
                for operation in methods.values():
                    responses = operation["responses"]
                    if 429 not in responses and "429" not in responses:  # the middleware limits every operation
                        responses[429] = {"description": "Too Many Requests", "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}}
                    for response in responses.values():
                        response.setdefault("headers", {}).update(RATE_LIMIT_HEADERS)
            cache[path_prefix] = schema
        return copy.deepcopy(cache[path_prefix])


api = AnvilAPI(
    title="Anvil FORGE API",
    version="1",
    description=(
        "Prompt versioning: organisations, projects, prompt sets, prompts, versions, rendering. "
        "Authenticate with `Authorization: Bearer ank_…` (an API key; GETs and renders need the `read` "
        "scope, other writes `write`) or a browser session (with the `X-CSRFToken` header on writes). "
        "Lists are cursor-paginated; errors have one envelope; see docs/api.md."
    ),
    urls_namespace="api-v1",
    auth=AUTH,
    parser=JsonParser(),
)
errors.install(api)

# peering first: its POST /projects/import must be matched before /projects/{id}
api.add_router("", peering.router)  # /forge/… browsing for peers, /projects/{id}/export, /projects/import
for module in (organisations, projects, prompt_sets, prompts, versions, sources, api_keys):
    api.add_router("", module.router)
api.add_router("", distribution.router)  # access tokens, publish, bundles, LIVE instances, events
api.add_router("", channels.router)  # channels, promote, rollouts, publish requests

__all__ = ["api"]
