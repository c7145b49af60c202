"""Cursor pagination: walking long lists page by page, with no duplicates or gaps, and bad cursors."""

import base64
import json

import pytest

from anvil_forge.prompts import services as prompts
from anvil_forge.prompts.models import Project

from ..api_support import Api, as_role, assert_error, fresh_rate_limits  # noqa: F401


def walk(api, path, limit, params=None, between_pages=None):
    ids, pages, cursor = [], 0, None
    while True:
        query = {"limit": limit, **(params or {})}
        if cursor:
            query["cursor"] = cursor
        response = api.get(path, query)
        assert response.status_code == 200, response.json()
        body = response.json()
        pages += 1
        ids += [item["id"] for item in body["data"]]
        assert len(body["data"]) <= limit
        assert body["meta"]["has_more"] == (body["meta"]["next_cursor"] is not None)
        if not body["meta"]["has_more"]:
            return ids, pages
        if between_pages:
            between_pages(pages)
        cursor = body["meta"]["next_cursor"]


@pytest.fixture
def many_projects(world):
    for n in range(57):
        prompts.create_project(world.owner, world.org, f"Project {n:02d}")
    return world


def test_walking_57_projects_page_by_page(many_projects, as_role):
    api = as_role("member")
    ids, pages = walk(api, "/projects", 10, {"organisation": str(many_projects.org.pk)})
    expected = [str(pk) for pk in Project.objects.filter(organisation=many_projects.org)
                .order_by("created_at", "id").values_list("pk", flat=True)]
    assert len(ids) == len(set(ids)) == 58 and ids == expected
    assert pages == 6
    default = api.get("/projects").json()
    assert len(default["data"]) == 50 and default["meta"]["has_more"] is True  # the default page size
    assert len(api.get("/projects", {"limit": 200}).json()["data"]) == 58


def test_pages_stay_stable_while_the_list_changes(many_projects, as_role):
    api, w = as_role("admin"), many_projects
    first_ids = [str(pk) for pk in Project.objects.filter(organisation=w.org).order_by("created_at", "id")
                 .values_list("pk", flat=True)]
    added = []

    def change(page):
        # delete an item already seen and one not seen yet, add a new one (it comes last)
        Project.objects.filter(pk=first_ids[page]).delete()
        Project.objects.filter(pk=first_ids[-page]).delete()
        added.append(str(prompts.create_project(w.owner, w.org, f"New {page}").pk))

    ids, _ = walk(api, "/projects", 7, {"organisation": str(w.org.pk)}, between_pages=change)
    assert len(ids) == len(set(ids))  # no duplicates
    removed_unseen = {first_ids[-p] for p in range(1, 10)}
    assert set(first_ids) - removed_unseen <= set(ids)  # no gaps among the items that stayed
    assert set(added) <= set(ids)


def test_walking_the_audit_log_newest_first(many_projects, as_role):
    api = as_role("member")
    ids, pages = walk(api, f"/organisations/{many_projects.org.pk}/audit", 9)
    assert len(ids) == len(set(ids)) == 57 + 5 and pages == 7
    assert ids == sorted(ids, reverse=True)  # time-ordered ids: newest first


def test_walking_versions_newest_first(world, as_role):
    for minor in range(1, 56):
        prompts.create_version(world.owner, world.pset, f"1.{minor}.0")
    api = as_role("member")
    labels, cursor = [], None
    while True:
        body = api.get(f"/prompt_sets/{world.pset.pk}/versions", {"limit": 20, **({"cursor": cursor} if cursor else {})}
                       ).json()
        labels += [v["label"] for v in body["data"]]
        cursor = body["meta"]["next_cursor"]
        if not cursor:
            break
    assert labels == [f"1.{m}.0" for m in range(55, 0, -1)] + ["1.0.0"]


def b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    "!!!", "abc", b64("not json"), b64("{}"), b64(json.dumps(["created_at,id", "x"])),
    b64(json.dumps(["created_at,id", "2026-01-01T00:00:00+00:00", "not-a-uuid"])),
    b64(json.dumps(["created_at,id", "2026-01-01T00:00:00", "3f0b7a8e-7a7e-4b1e-8e8e-2a6d1d1f0c11"])),
    b64(json.dumps(["-sequence", 3])),
    b64(json.dumps(["created_at,id", True, None])),
])
def test_a_bad_cursor_is_refused(world, as_role, cursor):
    assert_error(as_role("member").get("/projects", {"cursor": cursor}), 400, "validation_error", "cursor")


def test_a_cursor_from_another_list_is_refused(world, as_role):
    api = as_role("member")
    for n in range(3):
        prompts.create_version(world.owner, world.pset, f"2.{n}.0")
    cursor = api.get(f"/prompt_sets/{world.pset.pk}/versions", {"limit": 1}).json()["meta"]["next_cursor"]
    assert_error(api.get("/projects", {"cursor": cursor}), 400, "validation_error", "cursor")


@pytest.mark.parametrize("limit", [0, -1, 201, "many"])
def test_the_page_size_is_bounded(world, as_role, limit):
    assert_error(as_role("member").get("/projects", {"limit": limit}), 422, "validation_error", "limit")
