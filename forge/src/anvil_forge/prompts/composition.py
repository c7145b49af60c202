"""Dependencies between prompt sets and partials, on the FORGE (docs/templates.md, "Partials").

A set declares dependencies on other sets of its project with version specifiers (``{"common": "^1.2"}``).
Its working copy renders against the newest version of each that matches; creating a version records that
resolution as the version's ``locks`` (``{"common": "1.2.3"}``), so a version renders the same text forever.
Name resolution and the checks themselves are :mod:`anvil_client.composition`'s, shared with the client.
"""

from __future__ import annotations

from typing import Any

from anvil_client import composition as shared
from anvil_client import versions as semver_rules

from anvil_forge.core.errors import ValidationError

from .models import PromptSet, Version
from .snapshots import build_snapshot, prompt_snapshot

MAX_DEPENDENCIES = 20


def check_dependencies(prompt_set: PromptSet, dependencies: Any) -> dict[str, str]:
    """Validate a set's declared dependencies: other sets of its project, valid specifiers, no cycle."""
    if dependencies is None:
        return {}
    if not isinstance(dependencies, dict):
        raise ValidationError.field("dependencies", "dependencies must be an object: prompt-set slug → "
                                                    "version specifier, e.g. {\"common\": \"^1.2\"}")
    if len(dependencies) > MAX_DEPENDENCIES:
        raise ValidationError.field("dependencies", f"a prompt set has at most {MAX_DEPENDENCIES} dependencies")
    sets = {s.slug: s for s in PromptSet.objects.filter(project_id=prompt_set.project_id)}
    result: dict[str, str] = {}
    for slug, spec in sorted(dependencies.items()):
        field = f"dependencies.{slug}"
        if slug == prompt_set.slug:
            raise ValidationError.field(field, "a prompt set cannot depend on itself (render its own prompts "
                                               "by their name alone)")
        if slug not in sets:
            raise ValidationError.field(field, f"project has no prompt set '{str(slug)[:64]}'")
        if not isinstance(spec, str):
            raise ValidationError.field(field, "a dependency's version must be a specifier string such as ^1.2")
        try:
            semver_rules.parse_specifier(spec)
        except semver_rules.VersionError as exc:
            raise ValidationError.field(field, str(exc)) from None
        result[slug] = spec.strip()
    graph = {s.slug: set((s.dependencies or {}).keys()) for s in sets.values()}
    graph[prompt_set.slug] = set(result)
    cycle = shared.dependency_cycle(graph, prompt_set.slug)
    if cycle:
        raise ValidationError.field("dependencies", f"dependencies would form a cycle: {' → '.join(cycle)}")
    return result


def _dependency_set(prompt_set: PromptSet, slug: str) -> PromptSet | None:
    return PromptSet.objects.filter(project_id=prompt_set.project_id, slug=slug).first()


def resolve_locks(prompt_set: PromptSet, *, strict: bool = True) -> dict[str, str]:
    """Each declared dependency's newest matching version: the working copy's locks. ``strict``: a
    dependency with no matching version is a ValidationError naming it; otherwise it is left out."""
    locks: dict[str, str] = {}
    for slug, spec in sorted((prompt_set.dependencies or {}).items()):
        target = _dependency_set(prompt_set, slug)
        labels = list(target.versions.values_list("label", flat=True)) if target else []
        label = semver_rules.parse_specifier(spec).select(labels) if labels else None
        if label is None:
            if strict:
                raise ValidationError.field(
                    f"dependencies.{slug}",
                    f"no version of '{slug}' matches {spec}" + (" (it has no versions yet: create one)"
                                                               if not labels else ""))
            continue
        locks[slug] = label
    return locks


def library_for(prompt_set: PromptSet, snapshot: dict | None = None,
                label: str | None = None) -> tuple[shared.Library, shared.SetVersion]:
    """A library holding the set (its working copy, or the version whose ``snapshot`` is given) and every
    set version it reaches through its locks, transitively."""
    unresolved: dict[str, str] = {}
    if snapshot is None:
        locks = resolve_locks(prompt_set, strict=False)
        prompts = {p.slug: prompt_snapshot(p) for p in prompt_set.prompts.all()}
        unresolved = {slug: f"no version of '{slug}' matches {spec}" for slug, spec in
                      (prompt_set.dependencies or {}).items() if slug not in locks}
    else:
        locks = dict(snapshot.get("locks") or {})
        prompts = dict(snapshot.get("prompts") or {})
    origin = shared.SetVersion(prompt_set.slug, label, prompts, locks, unresolved)
    library = shared.Library([origin])
    pending = list(locks.items())
    while pending:
        slug, lock = pending.pop()
        if library.get(slug, lock) is not None:
            continue
        version = (Version.objects.filter(prompt_set__project_id=prompt_set.project_id, prompt_set__slug=slug,
                                          label=lock).only("snapshot").first())
        if version is None:
            continue
        dep_locks = dict(version.snapshot.get("locks") or {})
        library.add(shared.SetVersion(slug, lock, dict(version.snapshot.get("prompts") or {}), dep_locks))
        pending.extend(dep_locks.items())
    return library, origin


def draft_library_for(prompt_set: PromptSet, slug: str, draft: dict) -> tuple[shared.Library, shared.SetVersion]:
    """As library_for (the working copy), with unsaved content ``draft`` in place of the prompt ``slug``: the
    editor's preview and test results, partials resolving as they will once it is saved."""
    library, origin = library_for(prompt_set)
    draft_origin = shared.SetVersion(origin.slug, "(draft)", {**origin.prompts, slug: draft}, origin.locks,
                                     origin.unresolved)
    library.add(draft_origin)
    return library, draft_origin


def problems(prompt_set: PromptSet, prompt_slugs: list[str] | None = None) -> list[shared.Problem]:
    """What would fail in the working copy's partials (every prompt, or the named ones)."""
    library, origin = library_for(prompt_set)
    slugs = prompt_slugs if prompt_slugs is not None else sorted(origin.prompts)
    found: list[shared.Problem] = []
    for slug in slugs:
        if slug in origin.prompts:
            found.extend(library.problems(origin, slug))
    return found


def refuse_problems(found: list[shared.Problem], lead: str) -> None:
    if not found:
        return
    details = []
    for problem in found:
        slug = problem.prompt.split(".", 1)[1]
        field = (f"prompts.{slug}.messages[{problem.message_index}].content" if problem.message_index is not None
                 else f"prompts.{slug}.template")
        detail: dict[str, Any] = {"field": field, "message": problem.message}
        if problem.line is not None:
            detail.update(line=problem.line, column=problem.column)
        details.append(detail)
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    raise ValidationError(f"{lead}: {found[0].prompt}: {found[0]}{more}", details)


def snapshot_for_version(prompt_set: PromptSet) -> dict:
    """The working copy as a new version freezes it: each dependency locked to its newest matching version
    (every one must resolve), and every prompt's partials checked against those locks."""
    locks = resolve_locks(prompt_set, strict=True)
    snapshot = build_snapshot(prompt_set, locks)
    library, origin = library_for(prompt_set, snapshot, "(new version)")
    found = [p for slug in sorted(origin.prompts) for p in library.problems(origin, slug)]
    refuse_problems(found, "the version would not render")
    return snapshot


def working_snapshot(prompt_set: PromptSet) -> dict:
    """The working copy's snapshot with its current locks (what diffs and approvals of the working copy see)."""
    return build_snapshot(prompt_set, resolve_locks(prompt_set, strict=False))


def dependency_rows(prompt_set: PromptSet) -> list[dict]:
    """For the set page: each dependency with its specifier, what the working copy resolves it to, newer
    versions that match, and the newest version overall."""
    rows = []
    locks = resolve_locks(prompt_set, strict=False)
    for slug, spec in sorted((prompt_set.dependencies or {}).items()):
        target = _dependency_set(prompt_set, slug)
        labels = sorted(target.versions.values_list("label", flat=True), key=semver_rules.sort_key) if target else []
        specifier = semver_rules.parse_specifier(spec)
        matching = [label for label in labels if specifier.matches(label)]
        resolved = locks.get(slug)
        rows.append({"slug": slug, "specifier": spec, "prompt_set": target, "resolved": resolved,
                     "matching": matching, "newest": labels[-1] if labels else None,
                     "outside": [label for label in labels if label not in matching
                                 and resolved is not None
                                 and semver_rules.compare(label, resolved) > 0]})
    return rows


def dependents(prompt_set: PromptSet) -> list[str]:
    """Slugs of the sets of its project that declare a dependency on this one."""
    return sorted(s.slug for s in PromptSet.objects.filter(project_id=prompt_set.project_id)
                  .exclude(pk=prompt_set.pk) if prompt_set.slug in (s.dependencies or {}))


def versions_locking_set(prompt_set: PromptSet) -> list[str]:
    """``set@label -> slug@label`` for the versions of other sets of the project that lock one of this set's."""
    found = []
    for other in Version.objects.filter(prompt_set__project_id=prompt_set.project_id).exclude(
            prompt_set_id=prompt_set.pk).select_related("prompt_set"):
        label = (other.snapshot.get("locks") or {}).get(prompt_set.slug)
        if label is not None:
            found.append(f"{other.prompt_set.slug}@{other.label} (locks {prompt_set.slug}@{label})")
    return sorted(found)


def versions_locking(version: Version) -> list[str]:
    """``set@label`` of the versions of its project that lock this version."""
    slug = version.prompt_set.slug
    found = []
    for other in Version.objects.filter(prompt_set__project_id=version.prompt_set.project_id).exclude(
            prompt_set_id=version.prompt_set_id).select_related("prompt_set"):
        if (other.snapshot.get("locks") or {}).get(slug) == version.label:
            found.append(f"{other.prompt_set.slug}@{other.label}")
    return sorted(found)


def locked_versions(project_id, snapshots: list[dict]) -> list[Version]:
    """The versions the given snapshots lock, transitively (each once): what their partials render."""
    found: dict[tuple[str, str], Version] = {}
    pending = [(slug, label) for snapshot in snapshots for slug, label in (snapshot.get("locks") or {}).items()]
    while pending:
        slug, label = pending.pop()
        if (slug, label) in found:
            continue
        version = (Version.objects.filter(prompt_set__project_id=project_id, prompt_set__slug=slug, label=label)
                   .select_related("prompt_set").first())
        if version is None:
            continue
        found[(slug, label)] = version
        pending.extend((version.snapshot.get("locks") or {}).items())
    return [found[key] for key in sorted(found)]
