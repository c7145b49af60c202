"""The files of a project: its prompt sets as folders of YAML files, as ``pull`` writes them and ``push`` reads them.

Layout (docs/prompts-as-code.md, "Files")::

    anvil.yaml                        format, FORGE URL, project id
    <set>/set.yaml                    a set: name, description, dependencies, config, metadata
    <set>/<prompt>.prompt.yaml        a prompt: name, description, kind, template | messages, parameters, ...
    .anvil/sync.json                  per set: the ETag at the last pull or push (the commands write it)

A set's *source document* is the JSON the FORGE's sources API exchanges. :func:`set_files` writes one as
file texts and :func:`parse_set_files` reads them back: for a normalised document both are exact inverses,
byte for byte. Every mistake in a file is a :class:`FileFormatError` naming ``file:line:column``. (How
values are written as YAML and read back with their positions is :mod:`anvil_client.yaml_text`'s.)
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import templates as tpl
from .bundle import canonical
from .cache import atomic_write
from .composition import Library, SetVersion
from .testcases import TestCaseError, parse_test_cases, to_json
from .yaml_text import FileFormatError as FileFormatError
from .yaml_text import Location as Location
from .yaml_text import Path_, Source, dump, kind_name
from .yaml_text import parse_path as parse_path

FORMAT = 1
SETTINGS_FILE = "anvil.yaml"
SET_FILE = "set.yaml"
PROMPT_SUFFIX = ".prompt.yaml"
SYNC_FILE = ".anvil/sync.json"
SLUG_RE = re.compile(r"[a-z0-9_-]{1,64}")
CONTENT_KEYS = ("slug", "name", "description", "dependencies", "config", "metadata", "prompts")
"""A source document's content (what :func:`etag` digests); the FORGE adds read-only keys beside them."""
LOCAL = "local"
"""The label :func:`local_library` gives every set: partials resolve to the working copies in the folder."""

_SET_KEYS = ("name", "description", "dependencies", "config", "metadata")
_PROMPT_KEYS = ("name", "description", "kind", "template", "messages", "parameters", "config", "metadata", "tests")
_PARAMETER_KEYS = ("name", "type", "description", "required", "default", "values", "items", "schema")
_PARAMETER_DEFAULTS = {"type": "string", "description": "", "required": True, "default": None}
_SETTINGS_KEYS = ("format", "forge", "project")

Document = dict[str, Any]


# --- writing ---------------------------------------------------------------------------------------


def _ordered(item: Mapping[str, Any], order: Sequence[str]) -> dict[str, Any]:
    """``item`` with its keys in the order the files use (any others after them)."""
    return {**{key: item[key] for key in order if key in item}, **item}


def _minimal_parameter(parameter: Mapping[str, Any]) -> dict[str, Any]:
    """A declaration without the keys equal to their defaults (parse_parameters puts them back)."""
    out = {}
    for key, value in _ordered(parameter, _PARAMETER_KEYS).items():
        if key in _PARAMETER_DEFAULTS and value == _PARAMETER_DEFAULTS[key] and type(value) is type(
                _PARAMETER_DEFAULTS[key]):
            continue
        if key == "items" and value == "string":
            continue
        out[key] = value
    return out


def _prompt_text(prompt: Mapping[str, Any]) -> str:
    out: dict[str, Any] = {"name": prompt.get("name", "")}
    if prompt.get("description"):
        out["description"] = prompt["description"]
    kind = prompt.get("kind") or "text"
    if kind == "chat":
        out["kind"] = kind
        out["messages"] = [_ordered(m, ("placeholder", "role", "content")) for m in prompt.get("messages") or []]
    else:
        out["template"] = prompt.get("template", "")
    if prompt.get("parameters"):
        out["parameters"] = [_minimal_parameter(p) for p in prompt["parameters"]]
    for key in ("config", "metadata"):
        if prompt.get(key):
            out[key] = prompt[key]
    if prompt.get("tests"):
        out["tests"] = []
        for case in prompt["tests"]:
            written: dict[str, Any] = {"name": case["name"]}
            if case.get("variables"):
                written["variables"] = case["variables"]
            written["assert"] = [_ordered(a, ("type", "value", "target", "name")) for a in case.get("assert", [])]
            if case.get("snapshot") is not None:
                written["snapshot"] = case["snapshot"]
            out["tests"].append(written)
    return dump(out)


def set_files(document: Mapping[str, Any]) -> dict[str, str]:
    """The files of a set's folder (file name → text) for its source document."""
    head: dict[str, Any] = {"name": document.get("name", "")}
    for key in ("description", "dependencies", "config", "metadata"):
        if document.get(key):
            head[key] = document[key]
    files = {SET_FILE: dump(head)}
    for prompt in document.get("prompts", []):
        name = _checked_slug(prompt.get("slug"), "prompt") + PROMPT_SUFFIX
        if name in files:
            raise ValueError(f"the document has two prompts with the slug {prompt['slug']!r}")
        files[name] = _prompt_text(prompt)
    return files


def _checked_slug(slug: object, what: str) -> str:
    """A slug from a document, refused unless it is one (it becomes a file or folder name)."""
    if not isinstance(slug, str) or not SLUG_RE.fullmatch(slug):
        raise ValueError(f"invalid {what} slug {slug!r}: 1-64 characters a-z, 0-9, - and _")
    return slug


def etag(document: Mapping[str, Any]) -> str:
    """The ETag of a document's content, as the FORGE computes it: ``"<32 hex digits>"``, quotes included."""
    content = {key: document.get(key) for key in CONTENT_KEYS}  # (the FORGE digests these same keys)
    return '"' + hashlib.sha256(canonical(content)).hexdigest()[:32] + '"'


# --- reading documents -----------------------------------------------------------------------------


def _prompt(src: Source, slug: str) -> Document:
    data = src.top()
    src.check_keys(data, (), _PROMPT_KEYS)
    prompt: Document = {"slug": slug, "name": src.get(data, "name", str, ...),
                        "description": src.get(data, "description", str, "")}
    kind = prompt["kind"] = src.get(data, "kind", str, "text")
    if kind not in ("text", "chat"):
        raise src.error(f"kind must be 'text' or 'chat', not {kind[:40]!r}", ("kind",))
    other = "messages" if kind == "text" else "template"
    if other in data:
        hint = "add 'kind: chat' for a chat prompt" if kind == "text" else "a chat prompt has messages"
        raise src.error(f"a {kind} prompt has no '{other}' ({hint})", (other,), key=True)
    prompt["template"] = src.get(data, "template", str, "") if kind == "text" else ""
    prompt["messages"] = []
    if kind == "chat":
        try:
            items = tpl.parse_messages(src.get(data, "messages", list, list))
        except tpl.MessageDefinitionError as err:
            path: Path_ = ("messages",) if err.index is None else ("messages", err.index)
            raise src.error(err.message, path + ((err.field,) if err.field else ()),
                            key="unknown" in err.message) from None
        prompt["messages"] = [item.to_dict() for item in items]
    raw = src.get(data, "parameters", list, list)
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise src.error(f"a parameter must be a mapping with a 'name', not {kind_name(item)}", ("parameters", index))
        src.check_keys(item, ("parameters", index), _PARAMETER_KEYS)
    try:
        prompt["parameters"] = [p.to_dict() for p in tpl.parse_parameters(raw)]
    except tpl.ParameterDefinitionError as err:
        found = [i for i, item in enumerate(raw) if item.get("name") == err.parameter]
        where = ("parameters", found[-1 if "more than once" in err.message else 0]) if found else ("parameters",)
        raise src.error(err.message, where) from None
    prompt["config"] = src.get(data, "config", dict, dict)
    prompt["metadata"] = src.get(data, "metadata", dict, dict)
    try:
        prompt["tests"] = to_json(parse_test_cases(src.get(data, "tests", list, list), kind=kind))
    except TestCaseError as err:
        raise src.error(err.message, parse_path(err.path), key=err.message.startswith("unknown key")) from None
    return prompt


def _set_head(src: Source, slug: str) -> Document:
    data = src.top()
    src.check_keys(data, (), _SET_KEYS)
    head: Document = {"slug": slug, "name": src.get(data, "name", str, ...),
                      "description": src.get(data, "description", str, "")}
    dependencies = src.get(data, "dependencies", dict, dict)
    for name, spec in dependencies.items():
        if not isinstance(spec, str):
            raise src.error(f"the version specifier of '{name}' must be text, not {kind_name(spec)}: write it in "
                            f"quotes ('^1.2')", ("dependencies", name))
    head["dependencies"] = dependencies
    head["config"] = src.get(data, "config", dict, dict)
    head["metadata"] = src.get(data, "metadata", dict, dict)
    return head


class SourceMap:
    """Where each part of the documents read from files is: for messages naming ``file:line:column``.
    An empty map still names the file (``<set>/<prompt>.prompt.yaml``), without a line."""

    def __init__(self) -> None:
        self._sources: dict[str, Source] = {}
        self._folders: dict[str, str] = {}

    def _add(self, set_slug: str, folder: str, sources: Iterable[Source]) -> None:
        self._folders[set_slug] = folder
        self._sources.update((src.file, src) for src in sources)

    def file(self, set_slug: str, prompt_slug: str | None = None) -> str:
        name = SET_FILE if prompt_slug is None else prompt_slug + PROMPT_SUFFIX
        return f"{self._folders.get(set_slug, set_slug)}/{name}"

    def locate(self, set_slug: str, prompt_slug: str | None, path: str | Path_ = (), *, key: bool = False
               ) -> Location:
        """Where ``path`` (``("tests", 1, "name")`` or ``"tests[1].name"``) is in the set's or prompt's file."""
        file = self.file(set_slug, prompt_slug)
        src = self._sources.get(file)
        parts = parse_path(path) if isinstance(path, str) else tuple(path)
        return Location(file, None, None) if src is None else src.locate(parts, key=key)

    def locate_template(self, set_slug: str, prompt_slug: str, message_index: int | None, line: int | None,
                        column: int | None) -> Location:
        """Where line/column of a prompt's template (of message ``message_index`` for a chat prompt) is."""
        file = self.file(set_slug, prompt_slug)
        src = self._sources.get(file)
        path: Path_ = ("template",) if message_index is None else ("messages", message_index, "content")
        if src is None:
            return Location(file, None, None)
        if line is None:
            return src.locate(path)
        return src.template_location(path, line, column or 1)


def _read_set(slug: str, files: Mapping[str, str], folder: str
              ) -> tuple[Document | None, list[FileFormatError], list[Source]]:
    errors: list[FileFormatError] = []
    sources: list[Source] = []
    if not SLUG_RE.fullmatch(slug):
        errors.append(FileFormatError("a prompt set's folder name is its slug: 1-64 characters a-z, 0-9, - and _",
                                      folder))
    if SET_FILE not in files:
        errors.append(FileFormatError(f"a prompt set's folder needs a {SET_FILE}", f"{folder}/{SET_FILE}"))
    head: Document | None = None
    prompts: list[Document] = []
    for name in sorted(files):
        file = f"{folder}/{name}"
        prompt_slug = name[: -len(PROMPT_SUFFIX)] if name.endswith(PROMPT_SUFFIX) else None
        try:
            if name != SET_FILE and prompt_slug is None:
                hint = f"; prompt files end in {PROMPT_SUFFIX}" if name.endswith((".yml", ".yaml")) else ""
                raise FileFormatError(f"not a file of a prompt set (set.yaml, <prompt>{PROMPT_SUFFIX}){hint}", file)
            if prompt_slug is not None and not SLUG_RE.fullmatch(prompt_slug):
                raise FileFormatError(f"the file name is the prompt's slug: {prompt_slug[:70]!r} is not 1-64 "
                                      f"characters a-z, 0-9, - and _", file)
            src = Source(file, files[name])
            sources.append(src)
            if prompt_slug is None:
                head = _set_head(src, slug)
            else:
                prompts.append(_prompt(src, prompt_slug))
        except FileFormatError as err:
            errors.append(err)
    if errors or head is None:
        return None, errors, sources
    return {**head, "prompts": sorted(prompts, key=lambda p: str(p["slug"]))}, [], sources


def parse_set_files(slug: str, files: Mapping[str, str], *, folder: str | None = None) -> Document:
    """A set's source document from its folder's files (file name → text); ``folder`` names the files in
    errors (default: the slug). Raises the first :class:`FileFormatError`."""
    document, errors, _ = _read_set(slug, files, folder or slug)
    if errors:
        raise errors[0]
    assert document is not None
    return document


# --- the project folder ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """anvil.yaml: which FORGE and project the folder belongs to."""

    forge: str
    project: str


@dataclass
class ProjectFiles:
    """A project folder read: ``documents`` by set slug (only sets whose every file is valid), ``errors``
    (every file's first mistake), ``unreadable`` (the slugs of sets with errors) and ``sources``."""

    root: Path
    settings: Settings | None = None
    documents: dict[str, Document] = field(default_factory=dict)
    errors: list[FileFormatError] = field(default_factory=list)
    unreadable: set[str] = field(default_factory=set)
    sources: SourceMap = field(default_factory=SourceMap)

    def checked_documents(self) -> dict[str, Document]:
        """``documents``, or the first error when a file is invalid (for commands that must not go on)."""
        if self.errors:
            raise self.errors[0]
        return self.documents


def _read_text(path: Path, file: str) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise FileFormatError(f"not UTF-8 text (byte {err.start})", file) from None


def _settings(text: str) -> Settings:
    src = Source(SETTINGS_FILE, text)
    data = src.top()
    src.check_keys(data, (), _SETTINGS_KEYS)
    version = data.get("format")
    if version != FORMAT:
        raise src.error(f"format {version!r} is not one this anvil-client reads (format {FORMAT}; a newer "
                        f"anvil-client may read it)", ("format",))
    return Settings(src.get(data, "forge", str, ...), src.get(data, "project", str, ...))


def read_settings(root: str | os.PathLike[str]) -> Settings | None:
    """anvil.yaml of a project folder (None: there is none); raises FileFormatError."""
    path = Path(root) / SETTINGS_FILE
    return _settings(_read_text(path, SETTINGS_FILE)) if path.is_file() else None


def find_root(start: str | os.PathLike[str] = ".") -> Path | None:
    """The nearest folder, ``start`` or above it, holding an anvil.yaml (None: none)."""
    here = Path(start).resolve()
    for folder in (here, *here.parents):
        if (folder / SETTINGS_FILE).is_file():
            return folder
    return None


def read_project(root: str | os.PathLike[str]) -> ProjectFiles:
    """Read a project folder: anvil.yaml (if any) and every folder holding a set.yaml (dot-folders aside)."""
    project = ProjectFiles(Path(root))
    try:
        project.settings = read_settings(project.root)
    except FileFormatError as err:
        project.errors.append(err)
    for folder in sorted(project.root.iterdir()):
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        if not (folder / SET_FILE).is_file():
            if (folder / "set.yml").is_file():
                project.errors.append(FileFormatError(f"name it {SET_FILE}", f"{folder.name}/set.yml"))
            continue
        files: dict[str, str] = {}
        errors: list[FileFormatError] = []
        for path in sorted(folder.iterdir()):
            if path.is_file() and (path.name == SET_FILE or path.name.endswith((PROMPT_SUFFIX, ".prompt.yml"))):
                try:
                    files[path.name] = _read_text(path, f"{folder.name}/{path.name}")
                except FileFormatError as err:
                    errors.append(err)
        document, found, sources = _read_set(folder.name, files, folder.name)
        project.sources._add(folder.name, folder.name, sources)
        errors += found
        if errors or document is None:
            project.errors += errors
            project.unreadable.add(folder.name)
        else:
            project.documents[folder.name] = document
    return project


def _write(path: Path, data: bytes) -> None:
    """Replace ``path`` at once, keeping its permissions (a new file: 0644, as an editor would make it)."""
    atomic_write(path, data, path.stat().st_mode & 0o777 if path.exists() else 0o644)


def write_set(root: str | os.PathLike[str], document: Mapping[str, Any]) -> list[str]:
    """Write a set's folder from its document: only the files whose bytes differ, removing the prompt files
    of prompts not in it. Returns the changed files' paths (``support/reply.prompt.yaml``), sorted."""
    slug = _checked_slug(document.get("slug"), "prompt set")
    folder = Path(root) / slug
    changed = []
    files = set_files(document)
    for name, text in files.items():
        path, data = folder / name, text.encode("utf-8")
        if not path.is_file() or path.read_bytes() != data:
            _write(path, data)
            changed.append(f"{slug}/{name}")
    for path in folder.glob("*" + PROMPT_SUFFIX):
        if path.name not in files:
            path.unlink()
            changed.append(f"{slug}/{path.name}")
    return sorted(changed)


def remove_set(root: str | os.PathLike[str], slug: str) -> list[str]:
    """Remove a set's files (and its folder, if nothing else is left in it); returns the removed files."""
    folder = Path(root) / _checked_slug(slug, "prompt set")
    removed = []
    for path in sorted([folder / SET_FILE, *folder.glob("*" + PROMPT_SUFFIX)]):
        if path.is_file():
            path.unlink()
            removed.append(f"{slug}/{path.name}")
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
    return removed


def write_settings(root: str | os.PathLike[str], forge: str, project: str) -> bool:
    """Write anvil.yaml; returns whether it changed."""
    path = Path(root) / SETTINGS_FILE
    data = dump({"format": FORMAT, "forge": forge, "project": project}).encode("utf-8")
    if path.is_file() and path.read_bytes() == data:
        return False
    _write(path, data)
    return True


# --- offline composition ---------------------------------------------------------------------------


def local_library(documents: Mapping[str, Mapping[str, Any]], *, unreadable: Collection[str] = ()
                  ) -> tuple[Library, dict[str, SetVersion]]:
    """The project's sets as composition set versions (label :data:`LOCAL`), each dependency locked to the
    working copy in the folder, so partials render offline exactly from the files. A dependency not in the
    folder is unresolved: a partial from it is a problem, never a network call."""
    sets: dict[str, SetVersion] = {}
    for slug, document in documents.items():
        dependencies = document.get("dependencies") or {}
        locks = {name: LOCAL for name in dependencies if name in documents and name != slug}
        unresolved = {name: (f"the files of prompt set '{name}' could not be read" if name in unreadable else
                             f"prompt set '{name}' is not in this project folder")
                      for name in dependencies if name not in documents}
        prompts = {str(p["slug"]): p for p in document.get("prompts", [])}
        sets[slug] = SetVersion(slug, LOCAL, prompts, locks, unresolved)
    return Library(sets.values()), sets
