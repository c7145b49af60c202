"""Lint: what a push would refuse or a render would fail on, found offline in a project's source documents.

:func:`lint_project` checks every set and prompt (docs/prompts-as-code.md, "Lint"): template syntax,
variables used but not declared as parameters, parameters declared but never used, partials that cannot
be rendered (resolved against the sets in the folder), dependency specifiers, model configuration and
test definitions. Each :class:`LintProblem` is an ``"error"`` or a ``"warning"``; :func:`fails` says whether
a list of them should fail a run (errors do; warnings only when strict).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import templates as tpl
from .composition import dependency_cycle
from .model_config import check_config_all
from .project_files import Location, ProjectFiles, SourceMap, local_library, parse_path
from .testcases import TestCaseError, parse_test_cases
from .versions import VersionError, parse_specifier

SEVERITIES = ("error", "warning")
MAX_TESTS = 100  # per prompt, as the FORGE allows (anvil_forge.prompts.validation.MAX_TESTS)
MAX_NAME = 100  # characters of a set's or prompt's name, as the FORGE allows
_AT_LINE = re.compile(r" \(line \d+(, column \d+)?\)$")  # the position a template error's message ends with
_MARKUP = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)


@dataclass(frozen=True)
class LintProblem:
    """One problem: the file (``support/reply.prompt.yaml``), the 1-based line and column when known,
    what is wrong, and ``severity``: ``"error"`` or ``"warning"``. ``str()`` is
    ``"file:line:column: severity: message"``."""

    file: str
    line: int | None
    column: int | None
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        where = ":".join(str(part) for part in (self.file, self.line, self.column) if part is not None)
        return f"{where}: {self.severity}: {self.message}"


def fails(problems: Iterable[LintProblem], *, strict: bool = False) -> bool:
    """Whether ``problems`` fail a lint run: any error does; with ``strict`` (``--strict``), any warning too."""
    return any(p.severity == "error" or strict for p in problems)


def _hint(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _first_use(source: str, name: str) -> tuple[int, int] | None:
    """Line and column of the first markup (``{{ }}``, ``{% %}``) reading ``name``, if found."""
    word = re.compile(rf"(?<![\w.'\"]){re.escape(name)}(?![\w'\"])")
    for markup in _MARKUP.finditer(source):
        found = word.search(markup.group())
        if found:
            index = markup.start() + found.start()
            return source.count("\n", 0, index) + 1, index - (source.rfind("\n", 0, index) + 1) + 1
    return None


class _Linter:
    def __init__(self, documents: Mapping[str, Mapping[str, Any]], sources: SourceMap,
                 unreadable: Collection[str]) -> None:
        self.documents = documents
        self.sources = sources
        self.unreadable = unreadable
        self.library, self.sets = local_library(documents, unreadable=unreadable)
        self.problems: list[LintProblem] = []

    def add(self, location: Location, message: str, severity: str = "error") -> None:
        self.problems.append(LintProblem(location.file, location.line, location.column, message, severity))

    def name(self, document: Mapping[str, Any], where: Callable[..., Location], what: str) -> None:
        name = document.get("name")
        if not isinstance(name, str) or not 0 < len(name.strip()) <= MAX_NAME:
            self.add(where(("name",)), f"a {what}'s name must be 1-{MAX_NAME} characters")

    def config(self, where: Callable[..., Location], config: object, *, removals: bool) -> None:
        """Model configuration, as the FORGE checks it (a prompt's null values remove the set's defaults)."""
        if config is None:
            return
        if not isinstance(config, Mapping):
            self.add(where(("config",)), "config must be a mapping")
            return
        checked = {key: value for key, value in config.items() if not (removals and value is None)}
        for err in check_config_all(checked):
            self.add(where(("config", *parse_path(err.key))), f"model config: {err.message}")

    # --- sets ---

    def set(self, slug: str, document: Mapping[str, Any]) -> None:
        def where(path: Sequence[Any], key: bool = False) -> Location:
            return self.sources.locate(slug, None, tuple(path), key=key)

        self.name(document, where, "prompt set")
        dependencies = document.get("dependencies") or {}
        if not isinstance(dependencies, Mapping):
            self.add(where(("dependencies",)), "dependencies must be a mapping: prompt-set slug → version specifier")
            dependencies = {}
        for name, spec in dependencies.items():
            if name == slug:
                self.add(where(("dependencies", name), True), "a prompt set cannot depend on itself")
            elif name not in self.documents and name not in self.unreadable:
                self.add(where(("dependencies", name), True), f"dependency '{name}': there is no prompt set "
                         f"'{name}' in this project folder{_hint(name, self.documents)}")
            try:
                parse_specifier(spec)
            except VersionError as err:
                self.add(where(("dependencies", name)), f"dependency '{name}': {err}")
        graph = {s: list(d.get("dependencies") or {}) for s, d in self.documents.items()
                 if isinstance(d.get("dependencies") or {}, Mapping)}
        cycle = dependency_cycle(graph, slug) if slug not in dependencies else None
        if cycle:
            self.add(where(("dependencies",), True), f"dependencies form a cycle: {' → '.join(cycle)}")
        self.config(where, document.get("config"), removals=False)

    # --- prompts ---

    def compile(self, set_slug: str, slug: str, index: int | None, source: object,
                out: list[tuple[int | None, tpl.CompiledTemplate]]) -> bool:
        label = "" if index is None else f"messages[{index}]: "
        try:
            out.append((index, tpl.compile_template(source if isinstance(source, str) else "")))
            return True
        except tpl.TemplateSyntaxError as err:
            location = self.sources.locate_template(set_slug, slug, index, err.line, err.column)
            message = _AT_LINE.sub("", err.message) if location.line is not None and err.line else err.message
            self.add(location, f"{label}template syntax error: {message}")
        except tpl.TemplateError as err:
            self.add(self.sources.locate_template(set_slug, slug, index, None, None), f"{label}{err.message}")
        return False

    def prompt(self, set_slug: str, prompt: Mapping[str, Any]) -> None:
        slug = str(prompt.get("slug"))

        def where(path: Sequence[Any], key: bool = False) -> Location:
            return self.sources.locate(set_slug, slug, tuple(path), key=key)

        self.name(prompt, where, "prompt")
        kind = prompt.get("kind") or "text"
        if kind not in ("text", "chat"):
            self.add(where(("kind",)), f"kind must be 'text' or 'chat', not {str(kind)[:40]!r}")
            return
        parameters: list[tpl.Parameter] | None = None
        try:
            parameters = tpl.parse_parameters(prompt.get("parameters") or [])
        except tpl.ParameterDefinitionError as err:
            self.add(where(("parameters",)), err.message)
        compiled: list[tuple[int | None, tpl.CompiledTemplate]] = []
        placeholders: dict[str, int] = {}
        ok = True
        if kind == "chat":
            try:
                items = tpl.parse_messages(prompt.get("messages") or [])
            except tpl.MessageDefinitionError as err:
                self.add(where(("messages",) if err.index is None else ("messages", err.index)), err.message)
                items, ok = [], False
            for index, item in enumerate(items):
                if isinstance(item, tpl.Placeholder):
                    placeholders[item.name] = index
                else:
                    ok = self.compile(set_slug, slug, index, item.content, compiled) and ok
        else:
            ok = self.compile(set_slug, slug, None, prompt.get("template", ""), compiled)
        declared = [p.name for p in parameters or ()]
        for name, index in placeholders.items():
            if name in declared:
                self.add(where(("messages", index, "placeholder")),
                         f"placeholder '{name}' has the name of a declared parameter: rename one of them")
                ok = False
        if ok and parameters is not None:
            self.variables(set_slug, slug, compiled, declared, placeholders, where)
            for problem in self.library.problems(self.sets[set_slug], slug):
                location = self.sources.locate_template(set_slug, slug, problem.message_index, problem.line,
                                                        problem.column)
                self.add(location, problem.message)
        self.config(where, prompt.get("config"), removals=True)
        if not isinstance(prompt.get("metadata") or {}, Mapping):
            self.add(where(("metadata",)), "metadata must be a mapping")
        self.tests(prompt, str(kind), None if parameters is None else declared, placeholders, where)

    def variables(self, set_slug: str, slug: str, compiled: Sequence[tuple[int | None, tpl.CompiledTemplate]],
                  declared: Sequence[str], placeholders: Mapping[str, int], where: Callable[..., Location]) -> None:
        used: dict[str, tuple[int | None, tpl.CompiledTemplate]] = {}
        for index, template in compiled:
            for name in template.variables:
                used.setdefault(name, (index, template))
        for name, (index, template) in sorted(used.items()):
            if name in declared or name in placeholders:
                continue
            line, column = _first_use(template.source, name) or (None, None)
            self.add(self.sources.locate_template(set_slug, slug, index, line, column),
                     f"'{name}' is used but not declared as a parameter{_hint(name, declared)}")
        for position, name in enumerate(declared):
            if name not in used:
                self.add(where(("parameters", position)), f"parameter '{name}' is declared but never used", "warning")

    def tests(self, prompt: Mapping[str, Any], kind: str, declared: Sequence[str] | None,
              placeholders: Mapping[str, int], where: Callable[..., Location]) -> None:
        raw = prompt.get("tests") or []
        if isinstance(raw, list) and len(raw) > MAX_TESTS:
            self.add(where(("tests",)), f"a prompt has at most {MAX_TESTS} test cases (this one has {len(raw)})")
        try:
            cases = parse_test_cases(raw, kind=kind)
        except TestCaseError as err:
            self.add(where(parse_path(err.path), err.message.startswith("unknown key")), err.message)
            return
        for number, case in enumerate(cases):
            for position, assertion in enumerate(case.assertions):
                if assertion.type == "snapshot" and case.snapshot is None:
                    self.add(where(("tests", number, "assert", position)), f"test '{case.name}': no snapshot is "
                             f"stored yet (run the tests updating snapshots to record one)", "warning")
            if declared is None:
                continue
            for name in case.variables:
                if name not in declared and name not in placeholders:
                    known = [*declared, *placeholders]
                    self.add(where(("tests", number, "variables", name), True), f"test '{case.name}' sets "
                             f"'{name}', which is not a parameter{_hint(name, known)}", "warning")


def lint_project(documents: Mapping[str, Mapping[str, Any]], *, sources: SourceMap | None = None,
                 unreadable: Collection[str] = ()) -> list[LintProblem]:
    """Every problem of the sets' source documents (by slug), sorted by file and position. ``sources``
    (:attr:`ProjectFiles.sources`) gives problems their lines and columns; ``unreadable``: sets whose files
    could not be read (their errors are reported apart), which dependencies may name."""
    linter = _Linter(documents, sources or SourceMap(), unreadable)
    for slug in sorted(documents):
        document = documents[slug]
        linter.set(slug, document)
        for prompt in document.get("prompts") or []:
            linter.prompt(slug, prompt)
    return sorted(linter.problems, key=lambda p: (p.file, p.line or 0, p.column or 0))


def lint_files(project: ProjectFiles) -> list[LintProblem]:
    """:func:`lint_project` for a project folder read by :func:`~anvil_client.project_files.read_project`,
    its files' own errors included."""
    found = [LintProblem(err.file, err.line, err.column, err.message) for err in project.errors]
    found += lint_project(project.documents, sources=project.sources, unreadable=project.unreadable)
    return sorted(found, key=lambda p: (p.file, p.line or 0, p.column or 0))
