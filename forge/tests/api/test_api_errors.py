"""The error envelope for every kind of error, the OpenAPI document and the docs page."""

import time

import pytest
from django.test import Client

from anvil_forge.accounts.services import normalise_email
from anvil_forge.core.errors import ValidationError
from anvil_forge.prompts import queries as prompt_queries
from anvil_forge.prompts import services as prompts

from ..api_support import Api, as_role, assert_error, fresh_rate_limits  # noqa: F401


def test_unknown_routes_are_404_in_the_envelope(world, as_role):
    api = as_role("member")
    for path in ("/nope", "/projects/x/y/z", "/", "/organisations/"):
        error = assert_error(api.get(path), 404, "not_found_error")
        assert "no such endpoint" in error["message"] or error["message"] == "not found"
    assert_error(Api().get("/nope"), 404, "not_found_error")


def test_a_method_a_path_does_not_have_is_405_with_allow(world, as_role):
    response = as_role("member").delete("/organisations")
    error = assert_error(response, 405, "not_found_error")
    assert set(response["Allow"].split(", ")) == {"GET", "POST"} and "not allowed" in error["message"]


def test_a_body_that_is_not_json_is_400(world, as_role):
    error = assert_error(as_role("member").post("/organisations", "{nope"), 400, "validation_error")
    assert "JSON" in error["message"]


def test_request_validation_names_the_fields(world, as_role):
    api = as_role("member")
    error = assert_error(api.post(f"/prompt_sets/{world.pset.pk}/prompts",
                                  {"name": 3, "parameters": [{"name": "x", "required": "maybe"}]}),
                         422, "validation_error")
    assert {d["field"] for d in error["details"]} == {"name", "parameters.0.required"}
    assert_error(api.post("/organisations", "\"text\""), 422, "validation_error")
    assert_error(api.get("/projects/12"), 404, "not_found_error")  # ids are UUIDs: anything else is no route
    assert_error(api.get("/projects", {"organisation": "x"}), 422, "validation_error", "organisation")
    assert_error(api.post("/organisations", {"name": "nul\x00"}), 422, "validation_error", "name")
    assert_error(api.patch(f"/prompt_sets/{world.pset.pk}", {"metadata": {"k": ["a\x00"]}}), 422,
                 "validation_error", "metadata")
    assert_error(api.post(f"/organisations/{world.org.pk}/members", {"email": "a" * 250 + "@x.io", "role": "member"}),
                 422, "validation_error", "email")


def test_the_service_layer_guards_what_the_database_cannot_store(world):
    with pytest.raises(ValidationError) as caught:
        prompts.create_version(world.owner, world.pset, "1.0.1-" + "a" * 130)
    assert caught.value.details[0]["field"] == "label"
    with pytest.raises(ValidationError):
        normalise_email("a" * 250 + "@example.com")


def test_an_unexpected_error_is_500_without_details(world, as_role, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals: password=hunter2")

    monkeypatch.setattr(prompt_queries, "get_prompt", broken)
    response = as_role("member").get(f"/prompts/{world.prompt.pk}")
    error = assert_error(response, 500, "server_error")
    assert "hunter2" not in response.content.decode() and "RuntimeError" not in response.content.decode()
    assert error["details"] == [] and "X-RateLimit-Limit" in response


def test_an_idle_session_gets_401_not_a_redirect(world, settings):
    from anvil_forge.web import middleware

    client = Client()
    client.force_login(world.member)
    session = client.session
    session[middleware.SESSION_KEY] = int(time.time()) - 10 * 24 * 3600
    session.save()
    assert_error(Api(client=client).get("/organisations"), 401, "authentication_error")


def test_the_openapi_document_describes_every_operation(db):
    from anvil_forge.api import api_keys, organisations, projects, prompt_sets, prompts, versions

    ours = {operation.view_func.__name__
            for module in (organisations, projects, prompt_sets, prompts, versions, api_keys)
            for path_view in module.router.path_operations.values() for operation in path_view.operations}
    schema = Client().get("/api/v1/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    assert {"ApiKeyAuth", "SessionAuth"} <= set(schema["components"]["securitySchemes"])
    seen = set()
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            responses = operation["responses"]
            assert "429" in responses and any(code.startswith("2") for code in responses), (method, path)
            for code, response in responses.items():
                assert "X-RateLimit-Remaining" in response["headers"]
            if operation["operationId"] not in ours:
                continue  # distribution and peering document their own
            seen.add(operation["operationId"])
            assert "401" in responses, (method, path)
            for code, response in responses.items():
                if code >= "400":
                    assert response["content"]["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/ErrorOut"}, (method, path, code)
            if method == "get" and "{" in path and not path.endswith(("members", "audit", "prompt_sets", "prompts",
                                                                         "versions", "diff", "sources")):
                assert "304" in responses and "If-None-Match" in [p["name"] for p in operation["parameters"]], path
            assert operation["security"] == [{"ApiKeyAuth": []}, {"SessionAuth": []}]
    assert seen == ours


def test_the_docs_page_uses_local_assets_served_with_debug_off(db, settings):
    assert settings.DEBUG is False
    client = Client()
    page = client.get("/api/v1/docs").content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in page and "cdn" not in page.lower()
    for asset in ("ninja/swagger-ui-bundle.js", "ninja/swagger-ui.css", "ninja/swagger-ui-init.js"):
        response = client.get(f"/static/{asset}")
        assert response.status_code == 200, asset
        response.close()
