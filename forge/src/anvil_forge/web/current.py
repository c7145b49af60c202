"""The current organisation: kept in the session, switched from the top bar or by visiting its pages."""

from __future__ import annotations

from functools import cached_property

from anvil_forge.orgs import policy
from anvil_forge.orgs.queries import organisations_for

SESSION_KEY = "anvil_organisation"


def remember(request, organisation) -> None:
    if request.session.get(SESSION_KEY) != str(organisation.pk):
        request.session[SESSION_KEY] = str(organisation.pk)
    request._anvil_shell = None  # recompute on next access


class Shell:
    """What the page frame needs, computed lazily (fragments rendered for HTMX never touch it)."""

    def __init__(self, request):
        self.request = request
        self.user = request.user

    @cached_property
    def organisations(self) -> list:
        return list(organisations_for(self.user))

    @cached_property
    def organisation(self):
        chosen = self.request.session.get(SESSION_KEY)
        by_id = {str(o.pk): o for o in self.organisations}
        if chosen in by_id:
            return by_id[chosen]
        personal = [o for o in self.organisations if o.personal and o.personal_for_id == self.user.pk]
        if personal:
            return personal[0]
        return self.organisations[0] if self.organisations else None

    @cached_property
    def role(self) -> str | None:
        return policy.role_of(self.user, self.organisation) if self.organisation else None

    @cached_property
    def can_manage_members(self) -> bool:
        return policy.allows(self.role, policy.Action.MANAGE_MEMBERS)


def shell(request) -> Shell | None:
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return None
    cached = getattr(request, "_anvil_shell", None)
    if cached is None:
        cached = request._anvil_shell = Shell(request)
    return cached


def current_organisation(request):
    frame = shell(request)
    return frame.organisation if frame else None
