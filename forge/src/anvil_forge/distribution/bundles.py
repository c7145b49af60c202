"""The one bundle builder, shared by every delivery path (pull, push, stream)."""

from __future__ import annotations

from functools import lru_cache

from anvil_client import bundle as format
from anvil_client import model_config
from anvil_forge.prompts import queries as prompt_queries

from . import keys
from .models import Publication, PublishedVersion


def current_sequence(project) -> int:
    latest = Publication.objects.filter(project=project).order_by("-sequence").values("sequence").first()
    return latest["sequence"] if latest else 0


PREVIOUS_RELEASE_FORMATS = (1, 2)
"""What a client that does not say reads: anvil-client 0.2.0 reads formats 1 and 2 and pulls without naming
them (0.1.0, format 1 only, gets the same bundles: below format 3 only the content decides the format)."""


def format_ceiling(formats) -> int:
    """The newest format this FORGE writes that a reader of ``formats`` takes (1 if none is known)."""
    return max((f for f in formats or () if f in format.FORMAT_VERSIONS), default=1)


def build_bundle(project, formats=format.FORMAT_VERSIONS) -> dict:
    """The signed bundle of the project's current published state (sequence 0: nothing published yet), for
    a reader of the bundle ``formats`` given: below format 3 without the sets' test summaries (informative:
    leaving them out keeps such a reader updating). The content itself is never left out, so content that
    needs format 2 is format 2 for every reader (one of format 1 only is then too old)."""
    return _build(project.pk, current_sequence(project), keys.public_key(), format_ceiling(formats))


def served_format(project, formats) -> int:
    """The format of the bundle a reader of ``formats`` is served: it is too old if that is not one of them."""
    return build_bundle(project, formats)["format_version"]


# A version's test_results reduced to the counts a bundle carries (None: it has no tests).
test_summary = prompt_queries.test_summary


@lru_cache(maxsize=64)
def _build(project_id, sequence: int, forge_key: str, ceiling: int) -> dict:
    # A (project, sequence) pair never changes once published, so its bundle (per format ceiling) can be cached.
    project = prompt_queries.all_projects().values("slug", "name", "created_at").get(pk=project_id)
    latest = Publication.objects.filter(project_id=project_id, sequence=sequence).values("created_at").first()
    created_at = (latest["created_at"].isoformat().replace("+00:00", "Z") if latest
                  else project["created_at"].isoformat())
    published = (PublishedVersion.objects.filter(project_id=project_id)
                 .values_list("prompt_set__slug", "version__label", "version_id", "version__snapshot",
                              "version__test_results"))
    prompt_sets, prompts, snapshots = [], {}, []
    for slug, label, version_id, snapshot, test_results in published:
        snapshots.append(snapshot)
        entry = {"slug": slug, "version": label, "version_id": str(version_id),
                 "tests": test_summary(test_results)}
        if snapshot.get("locks"):
            entry["locks"] = snapshot["locks"]
        prompt_sets.append(entry)
        set_config = snapshot.get("config") or {}
        for prompt_slug, prompt in snapshot["prompts"].items():
            if set_config or prompt.get("config"):  # the prompt's own configuration over its set's defaults
                prompt = {**prompt, "config": model_config.merge(set_config, prompt.get("config") or {})}
            prompts[f"{slug}.{prompt_slug}"] = prompt  # make_body ships only served members: never its tests
    # The locked versions the published prompts render as partials, so a LIVE client renders them offline.
    dependencies = [{"slug": v.prompt_set.slug, "version": v.label, "locks": v.snapshot.get("locks") or {},
                     "prompts": v.snapshot["prompts"]}
                    for v in prompt_queries.locked_versions(project_id, snapshots)]
    # Parameters were validated and normalised when each prompt was saved (prompts.validation);
    # make_body still normalises a declaration that is not in that form (say, from an imported archive).
    body = format.make_body(
        project={"id": str(project_id), "slug": project["slug"], "name": project["name"]},
        sequence=sequence, created_at=created_at, prompt_sets=prompt_sets, prompts=prompts, forge_key=forge_key,
        parameters_normalised=True, dependencies=dependencies, max_format=ceiling,
    )
    return format.seal(body, keys.private_key())

