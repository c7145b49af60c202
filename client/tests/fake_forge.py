"""An in-memory FORGE behind ``httpx.MockTransport`` with the sources API's semantics (docs/api.md):
content ETags, ``If-Match`` / ``If-None-Match: *`` (412), REVIEW and LOCKED sets (409), bad keys (401),
read-only keys (403), ``pushed_etag``, versions (``?version=``) and invalid content (422)."""

from __future__ import annotations

import copy
import json

import httpx

from anvil_client.project_files import etag

PROJECT = "6f1c2b8e-3d4a-4b5c-9d6e-7f8091a2b3c4"
KEY = "ank_write_secret"
READ_KEY = "ank_read_secret"


def prompt(slug, template="Hello {{ name }}!", **extra):
    parameters = [{"name": "name", "type": "string", "description": "", "required": True, "default": None}] \
        if "{{ name }}" in template else []
    return {"slug": slug, "name": slug.title(), "description": "", "kind": "text", "template": template,
            "messages": [], "parameters": parameters, "config": {}, "metadata": {}, "tests": [], **extra}


def document(slug, *prompts, **extra):
    return {"slug": slug, "name": slug.title(), "description": "", "dependencies": {}, "config": {},
            "metadata": {}, "prompts": sorted(prompts, key=lambda p: p["slug"]), **extra}


def error(status, message, **extra):
    return httpx.Response(status, json={"error": {"type": "x", "message": message, "details": [], **extra}})


class FakeForge:
    def __init__(self):
        self.sets = {}  # slug -> {"doc", "status", "pushed_etag", "versions": {label: doc}}
        self.requests = []  # (method, path, headers)
        self.before_put = None  # called with the slug before a PUT is applied (a concurrent edit)

    def add(self, doc, status="live", versions=None):
        self.sets[doc["slug"]] = {"doc": copy.deepcopy(doc), "status": status, "pushed_etag": None,
                                  "versions": versions or {}}

    def edit(self, slug, prompt_slug, **fields):
        """An edit made in the web editor: a prompt's fields change."""
        (found,) = [p for p in self.sets[slug]["doc"]["prompts"] if p["slug"] == prompt_slug]
        found.update(fields)

    def doc(self, slug):
        return self.sets[slug]["doc"]

    def puts(self):
        return [r for r in self.requests if r[0] == "PUT"]

    def transport(self):
        return httpx.MockTransport(self.handle)

    def _out(self, slug, version=None):
        entry = self.sets[slug]
        doc = entry["versions"][version] if version else entry["doc"]
        tag = etag(doc)
        return {**copy.deepcopy(doc), "status": entry["status"], "version": version, "etag": tag,
                "pushed_etag": entry["pushed_etag"]}, tag

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path, dict(request.headers)))
        key = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if key not in (KEY, READ_KEY):
            return error(401, "the API key is not valid (unknown, revoked, expired, or its user is inactive)")
        if request.method != "GET" and key != KEY:
            return error(403, "this API key does not have the 'write' scope")
        parts = request.url.path.strip("/").split("/")
        if parts[:3] != ["api", "v1", "projects"] or len(parts) < 4 or parts[3] != PROJECT:
            return error(404, "project not found")
        if len(parts) == 4:
            return httpx.Response(200, json={"id": PROJECT, "name": "Support", "slug": "support"})
        if len(parts) == 5 and parts[4] == "sources":
            return httpx.Response(200, json={"items": [self._out(s)[0] for s in sorted(self.sets)]})
        if len(parts) != 6 or parts[4] != "sources":
            return error(404, "no such endpoint")
        slug = parts[5]
        if request.method == "GET":
            version = request.url.params.get("version")
            if slug not in self.sets or (version and version not in self.sets[slug]["versions"]):
                return error(404, "prompt set not found" if slug not in self.sets else "version not found")
            body, tag = self._out(slug, version)
            return httpx.Response(200, json=body, headers={"ETag": tag})
        return self._put(request, slug)

    def _put(self, request, slug):
        if self.before_put:
            self.before_put(slug)
        body = json.loads(request.content)
        if any(k in body for k in ("status", "version", "etag", "pushed_etag")):
            return error(422, "read-only fields were sent")
        if body.get("slug") != slug:
            return error(422, "the document's slug is not the address's")
        if not body.get("name"):
            return error(422, "a name is required", details=[{"field": "name", "message": "required"}])
        create = request.headers.get("If-None-Match") == "*"
        if create:
            if slug in self.sets:
                return error(412, "the prompt set exists already", etag=etag(self.doc(slug)))
            self.add(body)
        else:
            if slug not in self.sets:
                return error(404, "prompt set not found")
            current = etag(self.doc(slug))
            if request.headers.get("If-Match") != current:
                return error(412, "the working copy changed since it was read", etag=current)
            if self.sets[slug]["status"] != "live":
                return error(409, f"the prompt set is {self.sets[slug]['status'].upper()}: edits are refused")
            self.sets[slug]["doc"] = body
        self.sets[slug]["pushed_etag"] = etag(body)
        out, tag = self._out(slug)
        return httpx.Response(201 if create else 200, json={**out, "changes": {}}, headers={"ETag": tag})
