"""Running a prompt set's test cases on the FORGE: for a version (recorded as its ``test_results``), for the
locking gate, for the set page's status and the editor's checks panel (docs/prompt-tests.md).

Cases are run by :mod:`anvil_client.testcases`, prompts rendered by the library the set's snapshot reaches
(partials from the versions it locks), exactly as a LIVE client would render them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from anvil_client import composition as shared
from anvil_client import templates as tpl
from anvil_client import testcases

from . import composition
from .models import PromptSet


def _case_row(result: testcases.CaseResult) -> dict[str, Any]:
    row: dict[str, Any] = {"name": result.name, "passed": result.passed}
    if not result.passed:
        row["failures"] = result.failures
    return row


def run_prompt(library: shared.Library, origin: shared.SetVersion, slug: str, *,
               update_snapshots: bool = False) -> list[testcases.CaseResult]:
    """The results of one prompt's tests (a prompt that does not compile fails every case with the error)."""
    prompt = origin.prompts[slug]
    kind = shared.kind_of(prompt)
    cases = testcases.parse_test_cases(prompt.get("tests") or [], kind=kind)
    try:
        prepared = library.prepared(origin, slug)
    except tpl.TemplateError as err:
        return [testcases.CaseResult(c.name, False, None, str(err), [], None, 0.0) for c in cases]
    return testcases.run_test_cases(prepared, cases, update_snapshots=update_snapshots)


def results_of(library: shared.Library, origin: shared.SetVersion) -> dict[str, Any]:
    """``{"total", "passed", "failed", "prompts": {slug: [{"name", "passed", "failures"?}]}}`` of every test of
    the set version's prompts (prompts without tests are left out)."""
    prompts: dict[str, list[dict[str, Any]]] = {}
    for slug in sorted(origin.prompts):
        if origin.prompts[slug].get("tests"):
            prompts[slug] = [_case_row(r) for r in run_prompt(library, origin, slug)]
    rows = [row for results in prompts.values() for row in results]
    passed = sum(1 for row in rows if row["passed"])
    return {"total": len(rows), "passed": passed, "failed": len(rows) - passed, "prompts": prompts}


def for_snapshot(prompt_set: PromptSet, snapshot: dict) -> dict[str, Any] | None:
    """The results a version with ``snapshot`` records: None when its prompts have no tests (so versions of
    sets without tests look as they always did)."""
    if not any(p.get("tests") for p in (snapshot.get("prompts") or {}).values()):
        return None
    library, origin = composition.library_for(prompt_set, snapshot, label="(new version)")
    return results_of(library, origin)


def for_working_copy(prompt_set: PromptSet) -> dict[str, Any]:
    """The results of the working copy's tests, its partials from each dependency's newest matching version."""
    library, origin = composition.library_for(prompt_set)
    return results_of(library, origin)


def failing(results: dict[str, Any] | None) -> list[str]:
    """``set-relative`` names of the failing tests: ``reply: greets by name``."""
    if not results:
        return []
    return [f"{slug}: {row['name']}" for slug, rows in results.get("prompts", {}).items()
            for row in rows if not row["passed"]]


def summary(results: dict[str, Any] | None) -> dict[str, int] | None:
    """The counts a bundle carries for a set version: ``{"total", "passed", "failed"}`` (None: no tests)."""
    if not results:
        return None
    return {key: int(results[key]) for key in ("total", "passed", "failed")}


def for_prompt(prompt, *, update_snapshots: bool = False) -> list[testcases.CaseResult]:
    """One working-copy prompt's results (each with its output, for the editor and the API)."""
    library, origin = composition.library_for(prompt.prompt_set)
    return run_prompt(library, origin, prompt.slug, update_snapshots=update_snapshots)


def for_draft(prompt_set: PromptSet, slug: str, draft: dict[str, Any], *,
              update_snapshots: bool = False) -> list[testcases.CaseResult]:
    """Unsaved content's results (the editor's checks panel): ``draft`` as render_draft takes it, with its
    ``tests`` (already checked); partials resolve as they will once saved."""
    library, draft_origin = composition.draft_library_for(prompt_set, slug, draft)
    return run_prompt(library, draft_origin, slug, update_snapshots=update_snapshots)


def with_new_snapshots(tests: list[dict], kind: str, results: list[testcases.CaseResult],
                       names: list[str] | None = None) -> list[dict]:
    """``tests`` (canonical) with the snapshots a run with ``update_snapshots`` recorded, for the tests named
    (or all); a test whose render failed keeps its own."""
    cases = testcases.parse_test_cases(tests, kind=kind)
    wanted = [r if names is None or r.name in names else replace(r, snapshot=None) for r in results]
    return testcases.to_json(testcases.with_snapshots(cases, wanted))


def draft_snapshots(prompt_set: PromptSet, slug: str, draft: dict[str, Any],
                    names: list[str] | None = None) -> list[dict]:
    """The editor's *Update snapshots*: the draft's ``tests`` (checked) with each ``snapshot`` test's snapshot
    set to what the draft renders now (the tests named, or all)."""
    results = for_draft(prompt_set, slug, draft, update_snapshots=True)
    return with_new_snapshots(draft.get("tests") or [], draft.get("kind") or "text", results, names)


def status_by_prompt(prompt_set: PromptSet) -> dict[str, dict[str, Any]]:
    """For the set page: each prompt slug → ``{"total", "passed", "failed", "failing": [names]}`` (prompts
    without tests: total 0)."""
    results = for_working_copy(prompt_set)
    status: dict[str, dict[str, Any]] = {}
    for prompt in prompt_set.prompts.all():
        rows = results["prompts"].get(prompt.slug, [])
        failing_ = [row["name"] for row in rows if not row["passed"]]
        status[prompt.slug] = {"total": len(rows), "passed": len(rows) - len(failing_), "failed": len(failing_),
                               "failing": failing_}
    return status
