"""The project archive: one portable JSON document per project (docs/export-format.md).

::

    {"format": "anvil-project-archive", "format_version": 3,
     "exported_at": "…", "source": {"forge", "url", "organisation", "project_id", "anvil_version"},
     "content": {"project": {"name", "slug", "description", "tests_gate"},
                 "prompt_sets": [{"slug", "name", "description", "metadata", "config", "dependencies",
                                  "status", "last_sequence",
                                  "prompts": [{"slug", "name", "description", "kind", "template", "messages",
                                               "parameters", "config", "metadata", "tests"}],
                                  "versions": [{"sequence", "label", "changelog", "snapshot", "test_results"}]}]},
     "checksum": "sha256:…"}

Format 2 (``archive-2.schema.json``) adds to format 1 (``archive.schema.json``) chat prompts, model
configuration, dependencies and the locks versions record; format 3 (``archive-3.schema.json``) adds prompt
test cases (working copies' ``tests``, and snapshots' when set), the ``test_results`` each version recorded and
the project's ``tests_gate``. An export is written in the lowest format that holds the project (without the
newer keys), so an earlier release that reads that format can import it; every format is read, an older
format's content taken with the newer keys at their defaults (:func:`upgraded`).

``content`` is everything an import uses and holds no ids, timestamps or
users, so export → import elsewhere → export gives the same ``content`` and
the same ``checksum`` (the SHA-256 of the canonical JSON of ``content``, the
canonical form LIVE bundles use: :func:`anvil_client.bundle.canonical`).
``exported_at`` and ``source`` are informative only.

:func:`build` makes an archive from a project; :func:`validate` checks one
(format, the JSON Schema of its version, checksum, then the rules the schema
cannot express: :mod:`.archive_rules`) and raises :class:`InvalidArchive`
naming the problem.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from functools import cache
from importlib import resources
from typing import Any

from anvil_client import composition
from anvil_client.bundle import canonical

from anvil_forge.core import jsonin
from anvil_forge.core.errors import ValidationError

from . import archive_rules

FORMAT = "anvil-project-archive"
FORMAT_VERSION = 3
FORMAT_VERSIONS = (1, 2, 3)
_V2_PROMPT_KEYS = ("kind", "messages", "config")
_V2_SET_KEYS = ("config", "dependencies")
_V2_SNAPSHOT_KEYS = ("config", "dependencies", "locks")
MAX_DETAILS = 10
SLUG_RE = archive_rules.SLUG_RE


class InvalidArchive(ValidationError):
    """The archive was refused before anything was imported; ``details`` name the places."""


_SCHEMA_FILES = {1: "archive.schema.json", 2: "archive-2.schema.json", 3: "archive-3.schema.json"}


@cache
def schema(version: int = FORMAT_VERSION) -> dict:
    """The JSON Schema of a format version (shipped beside this module)."""
    return json.loads(resources.files(__package__).joinpath(_SCHEMA_FILES[version]).read_text("utf-8"))


@cache
def _validator(version: int):
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(schema(version))
    return Draft202012Validator(schema(version))


def checksum(content: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical(content)).hexdigest()


def dumps(archive: dict, *, indent: int | None = 2) -> str:
    """The archive as text (sorted keys; indented for people by default)."""
    return json.dumps(archive, indent=indent, sort_keys=True, ensure_ascii=False) + ("\n" if indent else "")


# --- build ------------------------------------------------------------------------------------

def _prompt(prompt) -> dict:
    return {
        "slug": prompt.slug,
        "name": prompt.name,
        "description": prompt.description,
        "kind": prompt.kind,
        "template": prompt.template,
        "messages": [dict(m) for m in prompt.messages],
        "parameters": list(prompt.parameters),
        "config": dict(prompt.config),
        "metadata": dict(prompt.metadata),
        "tests": [dict(t) for t in prompt.tests],
    }


def _version(version) -> dict:
    return {"sequence": version.sequence, "label": version.label, "changelog": version.changelog,
            "snapshot": version.snapshot, "test_results": version.test_results}


def _prompt_set(prompt_set) -> dict:
    return {
        "slug": prompt_set.slug,
        "name": prompt_set.name,
        "description": prompt_set.description,
        "metadata": dict(prompt_set.metadata),
        "config": dict(prompt_set.config),
        "dependencies": dict(prompt_set.dependencies),
        "status": prompt_set.status,
        "last_sequence": prompt_set.last_sequence,
        "prompts": [_prompt(p) for p in sorted(prompt_set.prompts.all(), key=lambda p: p.slug)],
        "versions": [_version(v) for v in sorted(prompt_set.versions.all(), key=lambda v: v.sequence)],
    }


def build_content(project) -> dict:
    sets = project.prompt_sets.order_by("slug").prefetch_related("prompts", "versions")
    return {
        "project": {"name": project.name, "slug": project.slug, "description": project.description,
                    "tests_gate": project.tests_gate},
        "prompt_sets": [_prompt_set(s) for s in sets],
    }


def _needs_v3(content: dict) -> bool:
    """Does the content use anything format 2 cannot hold: tests, recorded results, the gate turned off?"""
    if not content["project"]["tests_gate"]:
        return True
    for prompt_set in content["prompt_sets"]:
        if any(p["tests"] for p in prompt_set["prompts"]):
            return True
        for version in prompt_set["versions"]:
            if version["test_results"] is not None or any("tests" in p for p in version["snapshot"]["prompts"].values()):
                return True
    return False


def _as_v2(content: dict) -> dict:
    """Content that uses nothing of format 3, without the format-3 keys (so format 2 can hold it)."""
    sets = []
    for prompt_set in content["prompt_sets"]:
        prompts = [{k: v for k, v in p.items() if k != "tests"} for p in prompt_set["prompts"]]
        versions = [{k: v for k, v in version.items() if k != "test_results"} for version in prompt_set["versions"]]
        sets.append({**prompt_set, "prompts": prompts, "versions": versions})
    project = {k: v for k, v in content["project"].items() if k != "tests_gate"}
    return {**content, "project": project, "prompt_sets": sets}


def _needs_v2(content: dict) -> bool:
    """Does the content use anything format 1 cannot hold?"""
    def prompt_v2(prompt: dict) -> bool:
        return ((prompt.get("kind") or "text") != "text" or bool(prompt.get("config")) or bool(prompt.get("messages"))
                or composition.RENDER_TAG.search(prompt.get("template", "")) is not None
                or any(q.get("type", "string") not in ("string", "number", "boolean") or set(q) - _V1_PARAMETER_KEYS
                       for q in prompt.get("parameters", [])))

    for prompt_set in content["prompt_sets"]:
        if any(prompt_set.get(key) for key in _V2_SET_KEYS) or any(prompt_v2(p) for p in prompt_set["prompts"]):
            return True
        for version in prompt_set["versions"]:
            snapshot = version["snapshot"]
            if any(snapshot.get(key) for key in _V2_SNAPSHOT_KEYS) or any(
                    prompt_v2(p) or any(key in p for key in _V2_PROMPT_KEYS) for p in snapshot["prompts"].values()):
                return True
    return False


_V1_PARAMETER_KEYS = frozenset(["name", "type", "description", "required", "default"])


def _as_v1(content: dict) -> dict:
    """Format-2 content that uses nothing new, without the format-2 keys (so format 1 can hold it)."""
    sets = []
    for prompt_set in content["prompt_sets"]:
        prompts = [{k: v for k, v in p.items() if k not in _V2_PROMPT_KEYS} for p in prompt_set["prompts"]]
        sets.append({**{k: v for k, v in prompt_set.items() if k not in _V2_SET_KEYS}, "prompts": prompts})
    return {**content, "prompt_sets": sets}


def upgraded(content: dict, version: int = 1) -> dict:
    """Content of an older format in the newest shape: the newer keys at their defaults (the gate on, no
    tests, no recorded results; snapshots are left as they are: a missing key already means its default
    there, so their content digests are unchanged)."""
    if version >= FORMAT_VERSION:
        return content
    sets = []
    for prompt_set in content["prompt_sets"]:
        prompts = [{"kind": "text", "messages": [], "config": {}, "tests": [], **p} for p in prompt_set["prompts"]]
        versions = [{"test_results": None, **v} for v in prompt_set["versions"]]
        sets.append({"config": {}, "dependencies": {}, **prompt_set, "prompts": prompts, "versions": versions})
    return {**content, "project": {"tests_gate": True, **content["project"]}, "prompt_sets": sets}


def build(project, source: dict) -> dict:
    """The archive of a project, in the lowest format that holds it. ``source``: ``{"forge", "url",
    "anvil_version"}`` of this FORGE."""
    content = build_content(project)
    version = 3 if _needs_v3(content) else 2 if _needs_v2(content) else 1
    if version < 3:
        content = _as_v2(content)
    if version == 1:
        content = _as_v1(content)
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    return {
        "format": FORMAT,
        "format_version": version,
        "exported_at": now.isoformat().replace("+00:00", "Z"),
        "source": {
            "forge": str(source.get("forge", "")),
            "url": str(source.get("url", "")),
            "anvil_version": str(source.get("anvil_version", "")),
            "organisation": project.organisation.slug,
            "project_id": str(project.pk),
        },
        "content": content,
        "checksum": checksum(content),
    }


# --- read and validate ----------------------------------------------------------------------------

def loads(data: bytes | str) -> dict:
    """Parse an archive file's bytes (JSON, UTF-8); refused with a clear message when it is not JSON."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidArchive.field("archive", "the archive is not UTF-8 text (is it an Anvil project archive?)") \
                from None
    try:
        return jsonin.loads(data, "archive")
    except jsonin.BadJSON as exc:
        raise InvalidArchive.field(exc.path, exc.message.replace("archive is", "the archive is", 1)) from None


def _path(parts) -> str:
    text = "archive"
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _refuse(problems: list[tuple[str, str]], lead: str) -> InvalidArchive:
    field, message = problems[0]
    details = [{"field": f, "message": m} for f, m in problems[:MAX_DETAILS]]
    more = f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
    return InvalidArchive(f"{lead}: {field}: {message}{more}", details)


def validate(archive: Any) -> dict:
    """Return the archive if it is a sound archive (of a format in FORMAT_VERSIONS) whose checksum matches;
    else raise InvalidArchive. An older format's ``content`` is returned in the newest shape (:func:`upgraded`)."""
    if not isinstance(archive, dict):
        raise InvalidArchive.field("archive", "the archive must be a JSON object (an Anvil project archive)")
    if archive.get("format") != FORMAT:
        raise InvalidArchive.field("archive.format", f"this is not an Anvil project archive (format must be "
                                                     f"{FORMAT!r}, not {str(archive.get('format'))[:60]!r})")
    version = archive.get("format_version")
    if version not in FORMAT_VERSIONS or isinstance(version, bool):
        raise InvalidArchive.field("archive.format_version",
                                   f"archive format version {str(version)[:20]} is not supported: this FORGE "
                                   f"reads versions {', '.join(map(str, FORMAT_VERSIONS))}")
    try:
        errors = sorted(_validator(version).iter_errors(archive),
                        key=lambda e: (list(map(str, e.absolute_path)), e.message))
    except RecursionError:
        raise InvalidArchive.field("archive", "the archive is nested too deeply") from None
    if errors:
        problems = [(_path(e.absolute_path), _schema_message(e)) for e in errors]
        raise _refuse(problems, "the archive does not follow the archive format")
    expected = checksum(archive["content"])
    if archive["checksum"] != expected:
        raise InvalidArchive(
            "the archive's checksum does not match its content: it was changed or damaged after export "
            f"(it says {archive['checksum']}, the content gives {expected})",
            [{"field": "archive.checksum", "message": "does not match the content"}])
    archive = {**archive, "content": upgraded(archive["content"], version)}
    try:
        problems = archive_rules.problems(archive["content"])
    except RecursionError:  # test cases' JSON Schemas are compiled here
        raise InvalidArchive.field("archive", "the archive is nested too deeply") from None
    if problems:
        raise _refuse(problems, "the archive is not consistent")
    return archive


def _schema_message(error) -> str:
    message = error.message
    shown = repr(error.instance)
    if len(shown) > 80 and message.startswith(shown):  # "[{...}, … 101 items] is too long": say what, not all of it
        instance = error.instance
        what = (f"a list of {len(instance)} items" if isinstance(instance, list) else
                f"an object of {len(instance)} members" if isinstance(instance, dict) else
                f"a string of {len(instance)} characters" if isinstance(instance, str) else shown[:60] + "…")
        message = what + message[len(shown):]
    if len(message) > 300:
        message = message[:300] + "…"
    return message


def summary(archive: dict) -> dict:
    """Counts for messages and previews: project slug/name, prompt sets, prompts, versions."""
    content = archive.get("content", {})
    sets = content.get("prompt_sets", [])
    return {
        "project": content.get("project", {}).get("slug", ""),
        "name": content.get("project", {}).get("name", ""),
        "prompt_sets": len(sets),
        "prompts": sum(len(s.get("prompts", [])) for s in sets),
        "versions": sum(len(s.get("versions", [])) for s in sets),
    }
