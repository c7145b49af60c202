"""A project's prompt files and the FORGE: ``pull``, ``diff`` and ``push`` (docs/prompts-as-code.md).

The files are read and written by :mod:`anvil_client.project_files`; this module decides what to send and
when it is safe to. The state file ``.anvil/sync.json`` remembers, per set, the ETag of the FORGE's copy
at the last pull or push: the *base* a push compares the FORGE's current copy with. A push replaces a
set only if the FORGE still has the base, or what the last push wrote (its ``pushed_etag``: so a clean
checkout in CI, with no state, may push over its own previous push), and only with ``If-Match``, so an
edit made between the read and the write is refused by the FORGE itself.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import config, project_files
from .cache import atomic_write
from .errors import AnvilClientError, ConfigurationError
from .forge_api import ForgeAPI, ForgeError, Source

STATE_FILE = Path(".anvil") / "sync.json"
SET_FIELDS = ("name", "description", "dependencies", "config", "metadata")
PROMPT_FIELDS = ("name", "description", "kind", "template", "messages", "parameters", "config", "metadata",
                 "tests")
BLOCKED = ("review", "locked")

Progress = Callable[[str], None]


# --- settings ------------------------------------------------------------------------------------


@dataclass
class Settings:
    forge_url: str | None
    project: str | None
    api_key: str | None


def resolve_settings(root: Path, *, forge_url: str | None = None, project: str | None = None,
                     api_key: str | None = None) -> Settings:
    """Flags, then ``ANVIL_FORGE_URL`` / ``ANVIL_PROJECT`` / ``ANVIL_API_KEY``, then ``anvil.yaml``'s
    ``forge`` and ``project`` (the key never comes from a file)."""
    forge_url = forge_url or os.environ.get(config.ENV["forge_url"]) or None
    project = project or os.environ.get(config.ENV["project"]) or None
    if not (forge_url and project):
        manifest = project_files.read_settings(root)
        if manifest is not None:
            forge_url, project = forge_url or manifest.forge, project or manifest.project
    return Settings(forge_url=forge_url, project=project, api_key=api_key or os.environ.get("ANVIL_API_KEY") or None)


def need_project(settings: Settings) -> str:
    if not settings.project:
        raise ConfigurationError("the project id is needed: --project, ANVIL_PROJECT or anvil.yaml's project")
    return str(settings.project)


# --- the state file ------------------------------------------------------------------------------


class SyncState:
    """``.anvil/sync.json``: ``{"format": 1, "project": id, "sets": {slug: {"etag": …, "version": …}}}``.

    ``version`` is set when the files were pulled from a version rather than the working copy (see
    :meth:`Workspace.pull`). Bases recorded for another project are ignored.
    """

    def __init__(self, root: Path, project: str) -> None:
        self.path = root / STATE_FILE
        self.project = project
        self.sets: dict[str, dict[str, Any]] = {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            raise AnvilClientError(f"{self.path} cannot be read ({exc}): remove it and pull again") from None
        if isinstance(data, dict) and data.get("project") == project and isinstance(data.get("sets"), dict):
            self.sets = {str(k): v for k, v in data["sets"].items() if isinstance(v, dict)}

    def base(self, slug: str) -> str | None:
        value = self.sets.get(slug, {}).get("etag")
        return value if isinstance(value, str) else None

    def version(self, slug: str) -> str | None:
        value = self.sets.get(slug, {}).get("version")
        return value if isinstance(value, str) else None

    def record(self, slug: str, etag: str, *, version: str | None = None) -> None:
        self.sets[slug] = {"etag": etag, **({"version": version} if version else {})}

    def forget(self, slug: str) -> None:
        self.sets.pop(slug, None)

    def save(self) -> None:
        data = {"format": 1, "project": self.project, "sets": dict(sorted(self.sets.items()))}
        atomic_write(self.path, json.dumps(data, indent=2).encode() + b"\n")
        ignore = self.path.parent / ".gitignore"
        if not ignore.exists():  # the state is this checkout's, not the repository's
            ignore.write_text("*\n", encoding="utf-8")


class FilesError(AnvilClientError):
    """Files of the project are invalid: ``errors``, each ``file:line:column: message``."""

    def __init__(self, errors: Sequence[project_files.FileFormatError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = list(errors)


# --- results -------------------------------------------------------------------------------------


@dataclass
class PullResult:
    pulled: list[str] = field(default_factory=list)
    kept: dict[str, str] = field(default_factory=dict)
    """Sets not written because their files hold changes not pushed: slug → why."""
    gone: list[str] = field(default_factory=list)
    """Local sets the FORGE no longer has (removed when pruning)."""
    pruned: list[str] = field(default_factory=list)


@dataclass
class SetDiff:
    slug: str
    text: str
    """The unified diff, FORGE (``---``) to local files (``+++``); empty when equal."""
    note: str = ""


@dataclass
class PromptChange:
    slug: str
    action: str  # "created", "changed" or "deleted"
    fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.slug}: {self.action}" + (f" ({', '.join(self.fields)})" if self.fields else "")


@dataclass
class SetPlan:
    """What a push does to one set. ``action``: "create", "update", "unchanged", or a refusal: "blocked"
    (REVIEW/LOCKED on the FORGE), "conflict" (changed on the FORGE since the base), "version" (pulled from
    a version, see :meth:`Workspace.plan`)."""

    slug: str
    action: str
    document: dict[str, Any]
    etag: str | None = None  # the FORGE's current ETag: the PUT's If-Match
    status: str | None = None
    set_fields: tuple[str, ...] = ()
    prompts: tuple[PromptChange, ...] = ()
    diff: str = ""
    reason: str = ""

    @property
    def refused(self) -> bool:
        return self.action in ("blocked", "conflict", "version")

    def lines(self) -> list[str]:
        """The plan of this set for people, one line each (the first one names the set)."""
        slug = self.slug
        if self.action == "unchanged":
            return [f"{slug}: unchanged"]
        if self.action == "blocked":
            return [f"{slug} is {str(self.status).upper()}: not pushed (its files differ)"]
        if self.action in ("conflict", "version"):
            return [f"{slug}: not pushed: {self.reason}"]
        count = len(self.document.get("prompts") or [])
        head = f"{slug}: create set ({count} prompt{'s' if count != 1 else ''})" if self.action == "create" \
            else f"{slug}: update"
        lines = [head]
        if self.set_fields and self.action == "update":
            lines.append(f"  set: changed ({', '.join(self.set_fields)})")
        lines += [f"  prompt {change}" for change in self.prompts]
        return lines


@dataclass
class Plan:
    sets: list[SetPlan]

    @property
    def to_apply(self) -> list[SetPlan]:
        return [s for s in self.sets if s.action in ("create", "update")]

    @property
    def refused(self) -> list[SetPlan]:
        return [s for s in self.sets if s.refused]


@dataclass
class PushOutcome:
    slug: str
    applied: bool
    message: str
    diff: str = ""


# --- comparing -----------------------------------------------------------------------------------


def changes(current: Mapping[str, Any] | None, wanted: Mapping[str, Any]) -> tuple[tuple[str, ...],
                                                                                 tuple[PromptChange, ...]]:
    """(set fields changed, prompt changes by slug) from ``current`` (None: a new set) to ``wanted``."""
    before = {p["slug"]: p for p in (current or {}).get("prompts") or []}
    after = {p["slug"]: p for p in wanted.get("prompts") or []}
    set_fields = tuple(k for k in SET_FIELDS if current is None or current.get(k) != wanted.get(k))
    prompts: list[PromptChange] = []
    for slug in sorted(set(before) | set(after)):
        if slug not in before:
            prompts.append(PromptChange(slug, "created"))
        elif slug not in after:
            prompts.append(PromptChange(slug, "deleted"))
        elif fields := tuple(f for f in PROMPT_FIELDS if before[slug].get(f) != after[slug].get(f)):
            prompts.append(PromptChange(slug, "changed", fields))
    return set_fields, tuple(prompts)


def _ordered(names: Iterable[str]) -> list[str]:
    return sorted(names, key=lambda name: (name != project_files.SET_FILE, name))


def unified_diff(slug: str, forge: Mapping[str, Any] | None, local: Mapping[str, Any] | None) -> str:
    """The FORGE's document to the local one, as the files of the set folder (both rendered the same way,
    so formatting that does not change content is no difference)."""
    before = project_files.set_files(dict(forge)) if forge is not None else {}
    after = project_files.set_files(dict(local)) if local is not None else {}
    parts: list[str] = []
    for name in _ordered(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        parts.extend(difflib.unified_diff(
            (old or "").splitlines(keepends=True), (new or "").splitlines(keepends=True),
            fromfile=f"forge/{slug}/{name}" if old is not None else "/dev/null",
            tofile=f"local/{slug}/{name}" if new is not None else "/dev/null"))
    return "".join(parts)  # (set_files' texts always end with a line break)


# --- the workspace -------------------------------------------------------------------------------


class Workspace:
    """The project directory ``root`` (holding ``anvil.yaml`` and a folder per set) and its FORGE project."""

    def __init__(self, root: Path, api: ForgeAPI, project: str, *, progress: Progress | None = None) -> None:
        self.root = Path(root)
        self.api = api
        self.project = project
        self.progress: Progress = progress or (lambda line: None)
        self.state = SyncState(self.root, project)

    def local_sets(self) -> dict[str, dict[str, Any]]:
        """The documents of the set folders, by slug; :class:`FilesError` lists every file at fault."""
        files = project_files.read_project(self.root)
        errors = [e for e in files.errors if e.file != project_files.SETTINGS_FILE]
        if errors:
            raise FilesError(errors)
        return files.documents

    def _select(self, available: Iterable[str], wanted: Sequence[str]) -> list[str]:
        return list(dict.fromkeys(wanted)) if wanted else sorted(available)

    # --- pull ----------------------------------------------------------------------------------

    def pull(self, sets: Sequence[str] = (), *, version: str | None = None, prune: bool = False,
             force: bool = False) -> PullResult:
        """Write the FORGE's sets (all, or ``sets``) into their folders and record their ETags.

        A set whose files hold changes never pushed (their content is neither the base nor what the FORGE
        has or last had pushed) is kept, unless ``force``. With ``version``, the files are that version's
        content and the state records the working copy's ETag with the label: a push then refuses the
        set unless asked to restore it (see :meth:`plan`).
        """
        if version and not sets:
            raise ConfigurationError("pull --version needs the set(s) to pull: versions are labelled per set")
        self.root.mkdir(parents=True, exist_ok=True)
        if sets:
            sources = []
            for slug in dict.fromkeys(sets):
                source = self.api.get_source(self.project, slug, version=version)
                if source is None:
                    raise ForgeError(f"the project has no prompt set {slug!r}", status=404)
                sources.append(source)
        else:
            sources = sorted(self.api.list_sources(self.project), key=lambda s: s.slug)
        files = project_files.read_project(self.root)
        result = PullResult()
        project_files.write_settings(self.root, self.api.forge_url, self.project)
        for number, source in enumerate(sources, 1):
            slug = source.slug
            working = self.api.get_source(self.project, slug) if version else source
            mine = files.documents.get(slug)
            if not force and slug in files.unreadable:
                result.kept[slug] = ("its files cannot be read (anvil-client lint says why; pull --force "
                                     "overwrites them)")
            elif not force and mine is not None and self._unpushed(slug, mine, source, working):
                result.kept[slug] = "its files hold changes not pushed (pull --force overwrites them)"
            if slug in result.kept:
                self.progress(f"[{number}/{len(sources)}] {slug}: not written")
                continue
            project_files.write_set(self.root, source.document)
            self.state.record(slug, (working or source).etag, version=version)
            result.pulled.append(slug)
            count = len(source.document.get("prompts") or [])
            self.progress(f"[{number}/{len(sources)}] {slug}: {count} prompt{'s' if count != 1 else ''}"
                          + (f" (version {version})" if version else ""))
        if not sets:
            on_forge = {s.slug for s in sources}
            result.gone = sorted((set(files.documents) | files.unreadable) - on_forge)
            for slug in result.gone:
                if prune:
                    project_files.remove_set(self.root, slug)
                    self.state.forget(slug)
                    result.pruned.append(slug)
        self.state.save()
        return result

    def _unpushed(self, slug: str, mine: dict[str, Any], source: Source, working: Source | None) -> bool:
        tag = project_files.etag(mine)
        known = {self.state.base(slug), source.etag, source.pushed_etag}
        if working is not None:
            known |= {working.etag, working.pushed_etag}
        return tag not in known

    # --- diff ----------------------------------------------------------------------------------

    def diff(self, sets: Sequence[str] = ()) -> list[SetDiff]:
        """Per set (the local ones and the FORGE's, or ``sets``): the unified diff FORGE → files."""
        local = self.local_sets()
        if sets:
            remote = {slug: self.api.get_source(self.project, slug) for slug in dict.fromkeys(sets)}
            for slug, source in remote.items():
                if source is None and slug not in local:
                    raise AnvilClientError(f"no prompt set {slug!r}: neither on the FORGE nor in {self.root}")
        else:
            remote = {s.slug: s for s in self.api.list_sources(self.project)}
        diffs = []
        for slug in self._select(set(local) | set(remote), sets):
            source, mine = remote.get(slug), local.get(slug)
            note = ""
            if source is None:
                note = f"{slug}: only in the files (push creates it)"
            elif mine is None:
                note = f"{slug}: only on the FORGE (anvil-client pull {slug})"
            elif project_files.etag(mine) == source.etag:
                diffs.append(SetDiff(slug, ""))
                continue
            text = unified_diff(slug, source.document if source else None, mine) if mine is not None else ""
            diffs.append(SetDiff(slug, text, note))
        return diffs

    # --- push ----------------------------------------------------------------------------------

    def plan(self, sets: Sequence[str] = (), *, restore: bool = False) -> Plan:
        """What pushing the local sets (all, or ``sets``) would do; nothing is written.

        A set pulled from a version (``pull --version``) is refused unless ``restore``: pushing it makes
        that version's content the working copy again, which should be a choice, not an accident.
        """
        local = self.local_sets()
        missing = [slug for slug in sets if slug not in local]
        if missing:
            raise AnvilClientError(f"no folder for prompt set {', '.join(map(repr, missing))} in {self.root}")
        plans = []
        for slug in self._select(local, sets):
            plans.append(self._plan_set(slug, local[slug], restore))
        return Plan(plans)

    def _plan_set(self, slug: str, mine: dict[str, Any], restore: bool) -> SetPlan:
        source = self.api.get_source(self.project, slug)
        if source is None:
            set_fields, prompts = changes(None, mine)
            return SetPlan(slug, "create", mine, set_fields=set_fields, prompts=prompts)
        plan = SetPlan(slug, "update", mine, etag=source.etag, status=source.status)
        if project_files.etag(mine) == source.etag:
            plan.action = "unchanged"
            return plan
        plan.set_fields, plan.prompts = changes(source.document, mine)
        plan.diff = unified_diff(slug, source.document, mine)
        if source.status in BLOCKED:
            plan.action = "blocked"
        elif source.etag not in {self.state.base(slug), source.pushed_etag}:
            plan.action = "conflict"
            plan.reason = f"changed on the FORGE since your last pull or push: {_resolve(slug)}"
        elif self.state.version(slug) and not restore:
            plan.action = "version"
            plan.reason = (f"its files were pulled from version {self.state.version(slug)}: push --restore "
                           f"makes them the working copy, or anvil-client pull {slug} for the working copy")
        return plan

    def apply(self, plan: Plan) -> list[PushOutcome]:
        """PUT every set of the plan to create or update (``If-None-Match: *`` / ``If-Match``), recording
        each new ETag; a set the FORGE refuses is reported, the others still pushed. The state also takes
        the FORGE's tag of unchanged sets (the files are that content)."""
        outcomes = []
        for number, item in enumerate(plan.to_apply, 1):
            try:
                if item.action == "create":
                    done = self.api.put_source(self.project, item.document, create=True)
                else:
                    done = self.api.put_source(self.project, item.document, if_match=item.etag)
            except ForgeError as exc:
                outcomes.append(self._refusal(item, exc))
                self.progress(f"[{number}/{len(plan.to_apply)}] {item.slug}: not pushed")
                continue
            self.state.record(item.slug, done.etag)
            outcomes.append(PushOutcome(item.slug, True, f"{item.slug}: {_done(item)}"))
            self.progress(f"[{number}/{len(plan.to_apply)}] {item.slug}: pushed")
        for item in plan.sets:  # the files hold the FORGE's content: a base, whatever was pulled before
            if item.action == "unchanged" and item.etag:
                self.state.record(item.slug, item.etag)
        self.state.save()
        return outcomes

    def _refusal(self, item: SetPlan, exc: ForgeError) -> PushOutcome:
        if exc.status != 412:  # 409 (REVIEW/LOCKED meanwhile), 422 (content), 403 (scope), ...
            return PushOutcome(item.slug, False, f"{item.slug}: not pushed: {exc.message}")
        try:
            current = self.api.get_source(self.project, item.slug)
        except ForgeError:
            current = None
        diff = unified_diff(item.slug, current.document, item.document) if current else ""
        what = "created on the FORGE meanwhile" if item.action == "create" else "changed on the FORGE while pushing"
        return PushOutcome(item.slug, False, f"{item.slug}: conflict: {what}: {_resolve(item.slug)}", diff)


def _done(item: SetPlan) -> str:
    count = len(item.prompts) if item.action == "update" else len(item.document.get("prompts") or [])
    if item.action == "create":
        return f"created ({count} prompt{'s' if count != 1 else ''})"
    return f"pushed ({count} prompt change{'s' if count != 1 else ''})" if count else "pushed (the set's fields)"


def _resolve(slug: str) -> str:
    """What to do about a conflict (a plain pull would keep the files: they hold changes not pushed)."""
    return f"keep your edits (commit them), anvil-client pull --force {slug}, make them again, push"
