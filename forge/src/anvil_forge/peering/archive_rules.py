"""What an archive's JSON Schema cannot say (step 4 of docs/export-format.md, "Validation"): unique slugs and
names, rising version labels, parameters, templates and messages that compile, dependencies and locks, test
cases and the test results versions recorded. Each problem is ``(archive path, message)``; :mod:`.archive`
reports them. ``content`` is in the newest shape (older formats' content is upgraded first).
"""

from __future__ import annotations

import re

from anvil_client import composition, model_config, testcases
from anvil_client import templates as tpl
from anvil_client import versions as semver_rules

SLUG_RE = re.compile(r"[a-z0-9_-]{1,64}")

Problems = list[tuple[str, str]]


def problems(content: dict) -> Problems:
    """What the JSON Schema cannot say: uniqueness, slugs, labels and their order, parameters, templates, tests."""
    found: Problems = []
    add = found.append
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
            for key, problem in _results_problems(version["snapshot"], version.get("test_results")):
                add((f"{vwhere}.{key}", problem))
            for dep, lock in (version["snapshot"].get("locks") or {}).items():
                if (dep, lock) not in versions_in_archive:
                    add((f"{vwhere}.snapshot.locks.{dep}", f"locks {dep}@{lock}, which is not in the archive"))
        if prompt_set["last_sequence"] < previous:
            add((f"{where}.last_sequence", f"must be at least the highest version sequence ({previous})"))
    return found


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
    if "tests" in prompt:  # a snapshot's prompt has the key only when it has tests
        try:
            testcases.parse_test_cases(prompt["tests"], kind=prompt.get("kind") or "text")
        except testcases.TestCaseError as exc:
            found.append((exc.path, exc.message))  # exc.path: tests[1].assert[0].value
    return found


def _results_problems(snapshot: dict, results: dict | None) -> Problems:
    """A version's recorded ``test_results`` must be results of its snapshot's tests: one row per test, in
    order, and counts that add up (the values themselves are the source FORGE's record, kept as they are)."""
    tested = {slug: [case["name"] for case in p["tests"]] for slug, p in snapshot["prompts"].items() if p.get("tests")}
    if results is None:  # absent: the import computes them (docs/export-format.md, format 3)
        return []
    if not tested:
        return [("test_results", "the snapshot has no tests, so the version records no test results: null")]
    recorded = results["prompts"]
    if set(recorded) != set(tested):
        return [("test_results.prompts", f"must hold the results of exactly the snapshot's prompts with tests "
                                         f"({', '.join(sorted(tested))}), not of {', '.join(sorted(recorded)) or 'none'}")]
    found: Problems = []
    for slug, rows in sorted(recorded.items()):
        if [row["name"] for row in rows] != tested[slug]:
            found.append((f"test_results.prompts.{slug}", f"must have one result per test of the snapshot's prompt "
                                                          f"'{slug}', in its order ({', '.join(tested[slug])[:200]})"))
        for index, row in enumerate(rows):
            if row["passed"] == ("failures" in row):
                found.append((f"test_results.prompts.{slug}[{index}]",
                              "a failed test's result lists its failures, and a passed test's has none"))
    rows = [row for slug_rows in recorded.values() for row in slug_rows]
    passed = sum(1 for row in rows if row["passed"])
    if (results["total"], results["passed"], results["failed"]) != (len(rows), passed, len(rows) - passed):
        found.append(("test_results.total", f"the counts must be the results': total {len(rows)}, passed {passed}, "
                                            f"failed {len(rows) - passed}"))
    return found


def _parameters_problem(parameters: list) -> str | None:
    try:
        tpl.parse_parameters(parameters)
    except tpl.ParameterDefinitionError as exc:
        return str(exc)
    except (TypeError, AttributeError, ValueError):
        return "each parameter must be an object with at least a name"
    return None


