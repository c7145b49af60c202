"""The project archive: one portable JSON document per project (docs/export-format.md).

::

    {"format": "anvil-project-archive", "format_version": 2,
     "exported_at": "…", "source": {"forge", "url", "organisation", "project_id", "anvil_version"},
     "content": {"project": {"name", "slug", "description"},
                 "prompt_sets": [{"slug", "name", "description", "metadata", "config", "dependencies",
                                  "status", "last_sequence",
                                  "prompts": [{"slug", "name", "description", "kind", "template", "messages",
                                               "parameters", "config", "metadata"}],
                                  "versions": [{"sequence", "label", "changelog", "snapshot"}]}]},
     "checksum": "sha256:…"}

Format 2 (``archive-2.schema.json``) adds chat prompts, model configuration, dependencies and the locks
versions record. An export is written in format 1 (``archive.schema.json``, without those keys) when the
project uses none of them, so a FORGE of the previous release can still import it; both are read, and a
format-1 archive's content is taken with the new keys at their defaults.

``content`` is everything an import uses and holds no ids, timestamps or
users, so export → import elsewhere → export gives the same ``content`` and
the same ``checksum`` (the SHA-256 of the canonical JSON of ``content``, the
canonical form LIVE bundles use: :func:`anvil_client.bundle.canonical`).
``exported_at`` and ``source`` are informative only.

:func:`build` makes an archive from a project; :func:`validate` checks one
(format, JSON Schema ``archive.schema.json``, checksum, then the rules the
schema cannot express: unique slugs and names, valid and rising version labels,
parameter declarations, templates that compile) and raises
:class:`InvalidArchive` naming the problem.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from functools import cache
from importlib import resources
from typing import Any

from anvil_client import composition, model_config
from anvil_client import templates as tpl
from anvil_client import versions as semver_rules
from anvil_client.bundle import canonical

from anvil_forge.core import jsonin
from anvil_forge.core.errors import ValidationError

FORMAT = "anvil-project-archive"
FORMAT_VERSION = 2
FORMAT_VERSIONS = (1, 2)
_V2_PROMPT_KEYS = ("kind", "messages", "config")
_V2_SET_KEYS = ("config", "dependencies")
_V2_SNAPSHOT_KEYS = ("config", "dependencies", "locks")
MAX_DETAILS = 10
SLUG_RE = re.compile(r"[a-z0-9_-]{1,64}")


class InvalidArchive(ValidationError):
    """The archive was refused before anything was imported; ``details`` name the places."""


_SCHEMA_FILES = {1: "archive.schema.json", 2: "archive-2.schema.json"}


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
    }


def _version(version) -> dict:
    return {"sequence": version.sequence, "label": version.label, "changelog": version.changelog,
            "snapshot": version.snapshot}


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
        "project": {"name": project.name, "slug": project.slug, "description": project.description},
        "prompt_sets": [_prompt_set(s) for s in sets],
    }


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


def upgraded(content: dict) -> dict:
    """Format-1 content in the format-2 shape: the new keys at their defaults (snapshots are left as they
    are: a missing key already means its default there)."""
    sets = []
    for prompt_set in content["prompt_sets"]:
        prompts = [{"kind": "text", "messages": [], "config": {}, **p} for p in prompt_set["prompts"]]
        sets.append({"config": {}, "dependencies": {}, **prompt_set, "prompts": prompts})
    return {**content, "prompt_sets": sets}


def build(project, source: dict) -> dict:
    """The archive of a project, in the lowest format that holds it. ``source``: ``{"forge", "url",
    "anvil_version"}`` of this FORGE."""
    content = build_content(project)
    version = FORMAT_VERSION if _needs_v2(content) else 1
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
    """Return the archive if it is a sound archive (format 1 or 2) whose checksum matches; else raise
    InvalidArchive. A format-1 archive's ``content`` is returned in the format-2 shape (see :func:`upgraded`)."""
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
    if version == 1:
        archive = {**archive, "content": upgraded(archive["content"])}
    problems = _rule_problems(archive["content"])
    if problems:
        raise _refuse(problems, "the archive is not consistent")
    return archive


def _schema_message(error) -> str:
    message = error.message
    if len(message) > 300:
        message = message[:300] + "…"
    return message


def _rule_problems(content: dict) -> list[tuple[str, str]]:
    """What the JSON Schema cannot say: uniqueness, slugs, labels and their order, parameters, templates."""
    problems: list[tuple[str, str]] = []
    add = problems.append
    if not SLUG_RE.fullmatch(content["project"]["slug"]):
        add(("archive.content.project.slug", "not a valid slug"))
    set_slugs: set[str] = set()
    set_names: set[str] = set()
    all_slugs = {s["slug"] for s in content["prompt_sets"]}
    versions_in_archive = {(s["slug"], v["label"]) for s in content["prompt_sets"] for v in s["versions"]}
    for prompt_set in content["prompt_sets"]:
        for dep, spec in (prompt_set.get("dependencies") or {}).items():
            dwhere = f"archive.content.prompt_sets[{prompt_set['slug']}].dependencies.{dep}"
            if dep not in all_slugs or dep == prompt_set["slug"]:
                add((dwhere, f"depends on prompt set '{dep}', which is not another set of the archive"))
            else:
                try:
                    semver_rules.parse_specifier(spec)
                except semver_rules.VersionError as exc:
                    add((dwhere, str(exc)))
        cycle = composition.dependency_cycle(
            {s["slug"]: (s.get("dependencies") or {}) for s in content["prompt_sets"]}, prompt_set["slug"])
        if cycle:
            add((f"archive.content.prompt_sets[{prompt_set['slug']}].dependencies",
                 f"dependencies form a cycle: {' → '.join(cycle)}"))
        problem = _config_problem(prompt_set.get("config") or {}, removals=False)
        if problem:
            add((f"archive.content.prompt_sets[{prompt_set['slug']}].config", problem))
        slug = prompt_set["slug"]
        where = f"archive.content.prompt_sets[{slug}]"
        if not SLUG_RE.fullmatch(slug):
            add((f"{where}.slug", "not a valid slug"))
        if slug in set_slugs:
            add((f"{where}.slug", f"prompt set slug {slug!r} appears twice"))
        if prompt_set["name"] in set_names:
            add((f"{where}.name", f"prompt set name {prompt_set['name']!r} appears twice"))
        set_slugs.add(slug)
        set_names.add(prompt_set["name"])
        prompt_slugs: set[str] = set()
        prompt_names: set[str] = set()
        for prompt in prompt_set["prompts"]:
            pwhere = f"{where}.prompts[{prompt['slug']}]"
            if not SLUG_RE.fullmatch(prompt["slug"]):
                add((f"{pwhere}.slug", "not a valid slug"))
            if prompt["slug"] in prompt_slugs:
                add((f"{pwhere}.slug", f"prompt slug {prompt['slug']!r} appears twice"))
            if prompt["name"] in prompt_names:
                add((f"{pwhere}.name", f"prompt name {prompt['name']!r} appears twice"))
            prompt_slugs.add(prompt["slug"])
            prompt_names.add(prompt["name"])
            problem = _parameters_problem(prompt["parameters"])
            if problem:
                add((f"{pwhere}.parameters", problem))
            for key, problem in _content_problems(prompt):
                add((f"{pwhere}.{key}", problem))
        labels: list[str] = []
        previous = 0
        for version in prompt_set["versions"]:
            label, sequence = version["label"], version["sequence"]
            vwhere = f"{where}.versions[{label}]"
            if sequence <= previous:
                add((f"{vwhere}.sequence", "versions must be listed by rising sequence, each sequence once"))
            previous = max(previous, sequence)
            try:
                semver_rules.check_new_label(label, labels)
            except semver_rules.VersionError as exc:
                add((f"{vwhere}.label", str(exc)))
            if semver_rules.is_valid_label(label):
                labels.append(label)
            for pslug, snap in version["snapshot"]["prompts"].items():
                problem = _parameters_problem(snap["parameters"])
                if problem:
                    add((f"{vwhere}.snapshot.prompts[{pslug}].parameters", problem))
                for key, problem in _content_problems(snap):  # versions are what gets published
                    add((f"{vwhere}.snapshot.prompts[{pslug}].{key}", problem))
            for dep, lock in (version["snapshot"].get("locks") or {}).items():
                if (dep, lock) not in versions_in_archive:
                    add((f"{vwhere}.snapshot.locks.{dep}", f"locks {dep}@{lock}, which is not in the archive"))
        if prompt_set["last_sequence"] < previous:
            add((f"{where}.last_sequence", f"must be at least the highest version sequence ({previous})"))
    return problems


def _template_problem(source: str) -> str | None:
    try:
        tpl.compile_template(source)
    except tpl.TemplateError as exc:
        return f"does not compile: {exc}"
    return None


def _config_problem(config: dict, *, removals: bool) -> str | None:
    try:
        model_config.check_config({k: v for k, v in config.items() if not (removals and v is None)})
    except model_config.ConfigError as exc:
        return str(exc)
    return None


def _content_problems(prompt: dict) -> list[tuple[str, str]]:
    """A prompt's (or a snapshot prompt's) template or messages, and its model configuration."""
    found = []
    if (prompt.get("kind") or "text") == "chat":
        try:
            tpl.PreparedChat(prompt.get("messages", []), prompt.get("parameters", []))
        except tpl.TemplateError as exc:
            found.append(("messages", f"is not valid: {exc}"))
    else:
        problem = _template_problem(prompt["template"])
        if problem:
            found.append(("template", problem))
    problem = _config_problem(prompt.get("config") or {}, removals=True)
    if problem:
        found.append(("config", problem))
    return found


def _parameters_problem(parameters: list) -> str | None:
    try:
        tpl.parse_parameters(parameters)
    except tpl.ParameterDefinitionError as exc:
        return str(exc)
    except (TypeError, AttributeError, ValueError):
        return "each parameter must be an object with at least a name"
    return None


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
