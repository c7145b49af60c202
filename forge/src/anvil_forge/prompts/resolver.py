"""The one address resolver, used by the API, the UI and the CLI.

``[org/]project/prompt_set[@version]/prompt`` or ``@project/prompt_set@version/prompt``.
Parsing is in :mod:`.addresses`; this module looks the parts up among the
caller's organisations and says which part is wrong when one is.
"""

from __future__ import annotations

from dataclasses import dataclass

from anvil_client import versions as semver_rules

from anvil_forge.core.errors import NotFound, ValidationError
from anvil_forge.orgs.queries import organisations_for

from .addresses import AddressError, parse_address
from .models import Project, PromptSet, Version
from .snapshots import prompt_snapshot


@dataclass(frozen=True)
class Resolved:
    address: str
    prompt_set: PromptSet
    version: Version | None  # None: the working copy
    prompt_slug: str
    prompt: dict  # {"name", "description", "template", "parameters", "metadata"}

    @property
    def version_label(self) -> str | None:
        return self.version.label if self.version else None


def _error(part: str, message: str, cls=NotFound):
    return cls(message, [{"field": part, "message": message}])


def resolve(user, text: str, *, organisations=None) -> Resolved:
    """Resolve among the user's organisations (or the given queryset: the operator's CLI passes all)."""
    try:
        address = parse_address(text)
    except AddressError as exc:
        raise _error(exc.part, str(exc), ValidationError) from None

    if organisations is None:
        organisations = organisations_for(user)
    if address.organisation is not None:
        organisations = organisations.filter(slug=address.organisation)
        if not organisations.exists():
            raise _error("organisation", f"organisation '{address.organisation}' not found")

    projects = list(Project.objects.filter(organisation__in=organisations, slug=address.project)
                    .select_related("organisation"))
    if not projects:
        raise _error("project", f"project '{address.project}' not found")
    if len(projects) > 1:
        orgs = sorted(p.organisation.slug for p in projects)
        raise _error("organisation", f"project '{address.project}' exists in several organisations "
                     f"({', '.join(orgs)}): prefix one, e.g. {orgs[0]}/{address}", ValidationError)
    prompt_set = PromptSet.objects.filter(project=projects[0], slug=address.prompt_set).select_related(
        "project__organisation").first()
    if prompt_set is None:
        raise _error("prompt_set", f"prompt set '{address.prompt_set}' not found in project '{address.project}'")

    if address.version is None:
        version = None
        prompt_obj = prompt_set.prompts.filter(slug=address.prompt).first()
        prompt = prompt_snapshot(prompt_obj) if prompt_obj else None
    else:
        version = select_version(prompt_set, address.version)
        prompt = version.snapshot["prompts"].get(address.prompt)
    if prompt is None:
        where = f"version {version.label}" if version else "the working copy"
        raise _error("prompt", f"prompt '{address.prompt}' not found in '{address.prompt_set}' ({where})")
    return Resolved(str(address), prompt_set, version, address.prompt, prompt)


def select_version(prompt_set: PromptSet, specifier: str) -> Version:
    """The version of a set a specifier picks (exact, latest, stable, ^, ~, ranges)."""
    try:
        spec = semver_rules.parse_specifier(specifier)
    except semver_rules.VersionError as exc:
        raise ValidationError.field("version", str(exc)) from None
    labels = list(prompt_set.versions.values_list("label", flat=True))
    label = spec.select(labels)
    if label is None:
        raise NotFound(
            f"no version of '{prompt_set.slug}' matches {specifier!r}"
            + (f" (versions: {', '.join(sorted(labels, key=semver_rules.sort_key))})" if labels else " (it has no versions)"),
            [{"field": "version", "message": "no matching version"}],
        )
    return prompt_set.versions.get(label=label)
