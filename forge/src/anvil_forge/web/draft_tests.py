"""The editor's test cases, on the draft in the form (docs/prompt-tests.md): the checks panel's *Tests* block,
and the rewrites of the tests box that *Save as test case* and *Update snapshots* make.

The FORGE checks and runs the cases (``prompts.queries``); this module only reads the box, presents the
results and moves values between the preview's boxes (text) and a case's ``variables`` (JSON).
"""

from __future__ import annotations

import json
from typing import Any

from anvil_client import testcases

from anvil_forge.core.errors import AnvilError, ValidationError
from anvil_forge.prompts import queries as prompt_queries

from . import drafts

# What "Save as test case" checks: the author picks one; more are written in the tests box.
CHECKS = {
    "snapshot": "the output stays as now (snapshot)",
    "renders": "it renders, with no error",
    "error": "it fails to render (error)",
}
_ASSERTIONS = {"snapshot": [{"type": "snapshot"}], "renders": [], "error": [{"type": "error"}]}


def problem(exc: AnvilError) -> str:
    """A refusal as one line naming where: ``tests[1].assert[0].value: …``."""
    for detail in exc.details:
        field, message = str(detail.get("field") or ""), str(detail.get("message") or exc.message)
        if field and field != "tests" and not message.startswith(field):
            return f"{field}: {message}"
        return message
    return exc.message


def checked(draft: drafts.Draft, tests: Any = None) -> tuple[list[dict] | None, str | None]:
    """The draft's tests (or ``tests``) in canonical form, or what is wrong with them."""
    tests = draft.tests if tests is None else tests
    if tests is None:
        errors = draft.errors.get("tests")
        return None, errors[0] if errors else None
    if draft.kind not in ("text", "chat"):  # the service refuses the kind itself
        return [], None
    try:
        return prompt_queries.check_tests(tests, draft.kind), None
    except AnvilError as exc:
        return None, problem(exc)


def _output_text(output: Any) -> str | None:
    if output is None:
        return None
    return output if isinstance(output, str) else testcases.conversation_text(output)


def panel(prompt_set, slug: str, draft: drafts.Draft, compiles: bool) -> dict:
    """The checks panel's Tests block: ``{"error", "cases": [{name, passed, failures, snapshot, output}],
    "total", "passed", "failed", "snapshots", "compiles"}``; an error also goes under the tests box."""
    info: dict[str, Any] = {"error": None, "cases": [], "total": 0, "passed": 0, "failed": 0, "snapshots": 0,
                            "compiles": compiles, "names": []}
    canonical, error = checked(draft)
    if error:
        draft.add("tests", error)
        info["error"] = error
        return info
    if not canonical:
        return info
    info["names"] = [case["name"] for case in canonical]
    info["total"] = len(canonical)
    info["snapshots"] = sum(1 for case in canonical if any(a["type"] == "snapshot" for a in case["assert"]))
    if not compiles:  # every case would fail with the syntax error the panel already shows
        return info
    results = prompt_queries.draft_test_results(prompt_set, slug, dict(draft.content(), tests=canonical))
    for case, result in zip(canonical, results):
        info["cases"].append({
            "name": result.name, "passed": result.passed, "failures": result.failures,
            "snapshot": any(a["type"] == "snapshot" for a in case["assert"]),
            "output": _output_text(result.output), "error": result.error,
        })
    info["passed"] = sum(1 for case in info["cases"] if case["passed"])
    info["failed"] = info["total"] - info["passed"]
    return info


# --- between the preview's boxes and a case's variables --------------------------------------------

def typed(fields: list[dict], values: dict) -> dict:
    """The preview's values as a case keeps them: a number box's ``3`` as 3, a boolean's ``true`` as true
    (the render converts them the same way; what does not read as its type stays text, failing alike)."""
    kinds = {f["name"]: f["type"] for f in fields}
    out = {}
    for name, value in values.items():
        kind = kinds.get(name)
        if isinstance(value, str) and kind == "boolean" and value in ("true", "false"):
            value = value == "true"
        elif isinstance(value, str) and kind in ("number", "integer"):
            try:
                number = json.loads(value)
            except ValueError:
                number = None
            if isinstance(number, (int, float)) and not isinstance(number, bool):
                value = number
        out[name] = value
    return out


def box_values(fields: list[dict], variables: dict) -> dict[str, str]:
    """A case's variables as the preview's boxes show them (a box the case does not fill is empty: not
    given, as in the case)."""
    boxes = {}
    for f in fields:
        value = variables.get(f["name"])
        if value is None and f["name"] not in variables:
            text = ""
        elif isinstance(value, str) and not f["json"]:
            text = value
        elif isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = json.dumps(value, ensure_ascii=False)
        boxes[f"sample-{f['name']}"] = text
    return boxes


def find_case(draft: drafts.Draft, name: str) -> dict | None:
    tests = draft.tests if isinstance(draft.tests, list) else []
    return next((c for c in tests if isinstance(c, dict) and c.get("name") == name), None)


# --- rewriting the tests box -----------------------------------------------------------------------

def _unique_name(tests: list, wanted: str) -> str:
    names = {c.get("name") for c in tests if isinstance(c, dict)}
    if wanted:
        return wanted
    number = len(tests) + 1
    while f"case {number}" in names:
        number += 1
    return f"case {number}"


def add_case(prompt_set, slug: str, draft: drafts.Draft, name: str, check: str, variables: dict) -> tuple[list, str]:
    """The tests with a new case of the preview's values: (canonical tests, its name). Raises AnvilError
    when the box cannot take it (unreadable, a name taken)."""
    current, error = checked(draft)
    if error or current is None:
        raise ValidationError.field("tests", f"fix the tests first: {error}")
    name = _unique_name(current, name.strip())
    if any(c["name"] == name for c in current):
        raise ValidationError.field("tests", f"a test named {name!r} exists already: choose another name")
    case = {"name": name, "variables": variables, "assert": list(_ASSERTIONS.get(check, _ASSERTIONS["snapshot"]))}
    tests, error = checked(draft, [*current, case])
    if error or tests is None:
        raise ValidationError.field("tests", error or "the case cannot be added")
    if check == "snapshot":
        tests = prompt_queries.draft_test_snapshots(prompt_set, slug, dict(draft.content(), tests=tests), [name])
    return tests, name


def update_snapshots(prompt_set, slug: str, draft: drafts.Draft, names: list[str] | None) -> tuple[list, list[str]]:
    """The tests with the snapshots of ``names`` (None: every snapshot test) re-recorded from the draft:
    (canonical tests, names whose snapshot changed)."""
    current, error = checked(draft)
    if error or current is None:
        raise ValidationError.field("tests", f"fix the tests first: {error}")
    tests = prompt_queries.draft_test_snapshots(prompt_set, slug, dict(draft.content(), tests=current), names)
    changed = [new["name"] for old, new in zip(current, tests) if old.get("snapshot") != new.get("snapshot")]
    return tests, changed
