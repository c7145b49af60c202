"""Template context for every page: the shell (current organisation, the user's organisations, role)."""

from django.conf import settings

from anvil_forge import __version__

from .current import shell as _shell


def shell(request):
    return {
        "shell": _shell(request),
        "anvil_version": __version__,
        "idle_minutes": settings.ANVIL_SESSION_IDLE_MINUTES,
    }
