"""Run every prompt's test cases of a project, offline, from its files (docs/prompts-as-code.md, "Tests offline").

Partials resolve against the working copies in the folder (:func:`~anvil_client.project_files.local_library`):
``{% render 'tone' %}`` is the prompt ``tone`` of the same set's folder, ``{% render 'common.tone' %}`` the
prompt ``tone`` of the folder ``common``, whatever version the dependency's specifier names. Nothing is
fetched; a partial from a set not in the folder fails the render that needs it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import templates as tpl
from .project_files import Document, local_library
from .testcases import CaseResult, TestCaseError, parse_test_cases, run_test_cases, summary, to_json, with_snapshots

Progress = Callable[[str, list[CaseResult]], None]


@dataclass
class ProjectTestRun:
    """The results by prompt id (``set.prompt``, for :func:`~anvil_client.junit.junit_xml`), in set and
    prompt order; ``updated``: when snapshots were updated, the documents of the sets whose tests changed
    (by slug), to write with :func:`~anvil_client.project_files.write_set`."""

    results: dict[str, list[CaseResult]] = field(default_factory=dict)
    updated: dict[str, Document] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(r.passed for results in self.results.values() for r in results)

    def summary(self) -> dict[str, Any]:
        """:func:`~anvil_client.testcases.summary` over every prompt, failing tests named ``set.prompt: test``."""
        every = [r for results in self.results.values() for r in results]
        totals = summary(every)
        totals["failing"] = [f"{prompt_id}: {r.name}" for prompt_id, results in self.results.items()
                             for r in results if not r.passed]
        totals["prompts"] = len(self.results)
        return totals


def _failed(name: str, error: str) -> CaseResult:
    return CaseResult(name, False, None, error, [], None, 0.0)


def _selected(only: Collection[str] | None, set_slug: str, prompt_id: str) -> bool:
    return only is None or set_slug in only or prompt_id in only


def run_project_tests(documents: Mapping[str, Mapping[str, Any]], *, update_snapshots: bool = False,
                      only: Collection[str] | None = None, progress: Progress | None = None,
                      unreadable: Collection[str] = ()) -> ProjectTestRun:
    """Run the test cases of every prompt of the sets' documents (by slug) that has some.

    ``only``: set slugs and prompt ids (``support``, ``support.reply``) to run, None for all; ``progress``:
    called with each prompt id and its results as they come; ``update_snapshots``: ``snapshot`` assertions
    record the output (see :attr:`ProjectTestRun.updated`). A prompt that does not compile fails each of
    its cases with that error; invalid test definitions are one failing case named ``tests``. Never raises
    for a prompt's content. ``unreadable``: sets whose files could not be read (named in render errors).
    """
    library, sets = local_library(documents, unreadable=unreadable)
    run = ProjectTestRun()
    for set_slug in sorted(documents):
        document = documents[set_slug]
        new_tests: dict[str, list[dict[str, Any]]] = {}
        for prompt in document.get("prompts") or []:
            slug = str(prompt["slug"])
            prompt_id = f"{set_slug}.{slug}"
            if not prompt.get("tests") or not _selected(only, set_slug, prompt_id):
                continue
            kind = str(prompt.get("kind") or "text")
            try:
                cases = parse_test_cases(prompt["tests"], kind=kind)
            except (TestCaseError, ValueError) as err:
                results = [_failed("tests", f"the test definitions are invalid: {err}")]
            else:
                try:
                    prepared = library.prepared(sets[set_slug], slug)
                except tpl.TemplateError as err:
                    results = [_failed(case.name, f"the prompt does not compile: {err}") for case in cases]
                else:
                    results = run_test_cases(prepared, cases, update_snapshots=update_snapshots)
                    if update_snapshots:
                        tests = to_json(with_snapshots(cases, results))
                        if tests != prompt["tests"]:
                            new_tests[slug] = tests
            run.results[prompt_id] = results
            if progress is not None:
                progress(prompt_id, results)
        if new_tests:
            run.updated[set_slug] = {**document, "prompts": [
                {**p, "tests": new_tests[p["slug"]]} if p["slug"] in new_tests else p
                for p in document.get("prompts") or []]}
    return run
