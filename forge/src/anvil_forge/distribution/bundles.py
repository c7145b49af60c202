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


def build_bundle(project) -> dict:
    """The signed bundle of the project's current published state (sequence 0: nothing published yet)."""
    return _build(project.pk, current_sequence(project), keys.public_key())


@lru_cache(maxsize=64)
def _build(project_id, sequence: int, forge_key: str) -> dict:
    # A (project, sequence) pair never changes once published, so its bundle can be cached.
    project = prompt_queries.all_projects().values("slug", "name", "created_at").get(pk=project_id)
    latest = Publication.objects.filter(project_id=project_id, sequence=sequence).values("created_at").first()
    created_at = (latest["created_at"].isoformat().replace("+00:00", "Z") if latest
                  else project["created_at"].isoformat())
    published = (PublishedVersion.objects.filter(project_id=project_id)
                 .values_list("prompt_set__slug", "version__label", "version_id", "version__snapshot"))
    prompt_sets, prompts, snapshots = [], {}, []
    for slug, label, version_id, snapshot in published:
        snapshots.append(snapshot)
        entry = {"slug": slug, "version": label, "version_id": str(version_id)}
        if snapshot.get("locks"):
            entry["locks"] = snapshot["locks"]
        prompt_sets.append(entry)
        set_config = snapshot.get("config") or {}
        for prompt_slug, prompt in snapshot["prompts"].items():
            if set_config or prompt.get("config"):  # the prompt's own configuration over its set's defaults
                prompt = {**prompt, "config": model_config.merge(set_config, prompt.get("config") or {})}
            prompts[f"{slug}.{prompt_slug}"] = prompt
    # The locked versions the published prompts render as partials, so a LIVE client renders them offline.
    dependencies = [{"slug": v.prompt_set.slug, "version": v.label, "locks": v.snapshot.get("locks") or {},
                     "prompts": v.snapshot["prompts"]}
                    for v in prompt_queries.locked_versions(project_id, snapshots)]
    # Parameters were validated and normalised when each prompt was saved (prompts.validation);
    # make_body still normalises a declaration that is not in that form (say, from an imported archive).
    body = format.make_body(
        project={"id": str(project_id), "slug": project["slug"], "name": project["name"]},
        sequence=sequence, created_at=created_at, prompt_sets=prompt_sets, prompts=prompts, forge_key=forge_key,
        parameters_normalised=True, dependencies=dependencies,
    )
    return format.seal(body, keys.private_key())
