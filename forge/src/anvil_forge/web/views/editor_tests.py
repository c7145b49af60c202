"""The editor's test-case actions, on the draft in the form (like the rest of the editor, nothing is stored
until *Save*: each action rewrites the tests box, and the live check then runs the cases):

* ``editor/tests`` with ``op``:
  - ``add``: *Save as test case*: a case named ``new_case_name`` with the preview's values as its variables,
    checking what ``new_case_check`` says (a snapshot of the output as it renders now, by default);
  - ``snapshots``: *Update snapshots*: re-record the snapshots of the cases named ``case`` (all if none) from
    the draft as it renders now;
  answers the tests box (``#tests-field``) and, out of band, a line saying what was done.
* ``editor/use-case``: fill the preview's boxes with the variables of the case named ``case`` (``""``: leave
  them as typed) → the preview's boxes and, out of band, the preview and the case picker.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from anvil_forge.core.errors import AnvilError

from .. import draft_tests, drafts
from . import base
from .base import AuthenticatedHttpRequest, web_view
from .editor import check, draft_slug, preview, sample_fields, sample_values, signature


def _tests_box(request, prompt_set, draft: drafts.Draft, *, status: str, bad: bool = False,
               add: bool = False) -> HttpResponse:
    """The new tests box, and the line saying what was done: under *Save as test case* for ``add``, under
    the checks panel otherwise."""
    response = render(request, "web/prompts/_tests_result.html", {
        "prompt_set": prompt_set, "draft": draft, "editable": True, "tests_errors": draft.errors.get("tests", []),
        "tests_status": status, "tests_bad": bad, "tests_changed": not bad,
        "status_id": "save-case-status" if add else "tests-action-status",
        "test_count": len(draft.tests) if isinstance(draft.tests, list) else 0,
    })
    if bad:
        response["HX-Reswap"] = "none"  # the box stays as typed; only the status line says why
    return response


@require_POST
@web_view
def tests_view(request: AuthenticatedHttpRequest, org, project, pset) -> HttpResponse:
    prompt_set = base.prompt_set(request, org, project, pset)
    draft = drafts.from_post(request.POST)
    slug = draft_slug(request.POST, None)
    op = request.POST.get("op", "")
    if draft.tests_text is None or op not in ("add", "snapshots"):
        return HttpResponse("unknown tests action", status=400)
    try:
        if op == "add":
            found = check(prompt_set, draft, slug)
            fields = sample_fields(draft, found, request.POST)
            values, problems = sample_values(fields)
            if problems:
                return _tests_box(request, prompt_set, draft, status="✗ " + "; ".join(problems), bad=True, add=True)
            tests, name = draft_tests.add_case(prompt_set, slug, draft, request.POST.get("new_case_name", ""),
                                               request.POST.get("new_case_check", "snapshot"),
                                               draft_tests.typed(fields, values))
            status = f"✓ Test case “{name}” added with the preview's values. Save the prompt to keep it."
        else:
            names = [n for n in request.POST.getlist("case") if n] or None
            tests, changed = draft_tests.update_snapshots(prompt_set, slug, draft, names)
            status = (f"✓ Snapshot{'s' if len(changed) > 1 else ''} of {', '.join(f'“{n}”' for n in changed)} "
                      f"updated. Save the prompt to keep {'them' if len(changed) > 1 else 'it'}."
                      if changed else "Every snapshot already matches the output.")
    except AnvilError as exc:
        return _tests_box(request, prompt_set, draft, status=f"✗ {draft_tests.problem(exc)}", bad=True,
                          add=op == "add")
    draft.tests_text, draft.tests = drafts.format_tests(tests), tests
    return _tests_box(request, prompt_set, draft, status=status, add=op == "add")


@require_POST
@web_view
def use_case(request: AuthenticatedHttpRequest, org, project, pset) -> HttpResponse:
    prompt_set = base.prompt_set(request, org, project, pset)
    draft = drafts.from_post(request.POST)
    slug = draft_slug(request.POST, None)
    found = check(prompt_set, draft, slug)
    fields = sample_fields(draft, found, request.POST)
    name = request.POST.get("case") or request.POST.get("preview_case", "")
    case = draft_tests.find_case(draft, name) if name else None
    note = ""
    if case is not None:
        given = case.get("variables")
        variables: dict = given if isinstance(given, dict) else {}
        data = request.POST.copy()
        for key, value in draft_tests.box_values(fields, variables).items():
            data[key] = value
        data["preview_case"] = name
        fields = sample_fields(draft, found, data)
        unshown = sorted(set(variables) - {f["name"] for f in fields})
        if unshown:
            note = f"The case also gives {', '.join(unshown)}, which the prompt does not read."
    values, problems = sample_values(fields)
    result = preview(prompt_set, slug, draft, values, problems) if found["syntax"] is None else None
    canonical, _ = draft_tests.checked(draft)
    return render(request, "web/prompts/_case_preview.html", {
        "prompt_set": prompt_set, "kind": draft.kind, "sample_fields": fields,
        "sample_signature": signature(fields), "preview": result, "check": found,
        "preview_case": name if case is not None else "", "case_note": note,
        "tests": {"names": [c["name"] for c in canonical or []]},
    })
