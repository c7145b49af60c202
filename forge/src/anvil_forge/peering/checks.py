"""A system check (``anvil check``, and every command that runs checks) for the known-forges configuration."""

from django.core import checks

from .known_forges import KnownForgesError, known_forges


@checks.register("anvil")
def known_forges_configuration(app_configs=None, **kwargs):
    try:
        known_forges()
    except KnownForgesError as exc:
        return [checks.Warning(
            f"ANVIL_KNOWN_FORGES is not usable: {exc.message}",
            hint="See docs/peering.md; until it is fixed the Forges page shows this message and lists no forge.",
            id="anvil.W001",
        )]
    return []
