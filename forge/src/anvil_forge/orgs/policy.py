"""The role matrix: the one place that says who may do what (docs/architecture.md).

Every service function calls :func:`require` before it changes anything. A user
outside an organisation gets :class:`NotFound` (the organisation must look as if
it did not exist); a member whose role may not do the action gets
:class:`PermissionDenied`. Being a site admin (Django ``is_staff`` /
``is_superuser``) grants nothing here.
"""

from __future__ import annotations

from enum import StrEnum

from anvil_forge.core.errors import NotFound, PermissionDenied

from .models import Membership, Organisation, Role


class Action(StrEnum):
    VIEW = "view the organisation"
    EDIT_ORGANISATION = "edit or delete the organisation"
    MANAGE_MEMBERS = "manage members, roles and invitations"
    MANAGE_PROJECTS = "create, edit or delete projects"
    MANAGE_DISTRIBUTION = "manage access tokens and publish"
    EDIT_PROMPTS = "create or edit prompt sets, prompts and versions"
    SUBMIT_REVIEW = "submit a prompt set for review"
    APPROVE = "approve, reject or unlock a prompt set"
    DELETE_VERSIONED = "delete prompt sets and versions"


_ALL = frozenset({Role.OWNER, Role.ADMIN, Role.MEMBER})
_MANAGERS = frozenset({Role.OWNER, Role.ADMIN})
_OWNER = frozenset({Role.OWNER})

MATRIX: dict[Action, frozenset[str]] = {
    Action.VIEW: _ALL,
    Action.EDIT_ORGANISATION: _OWNER,
    Action.MANAGE_MEMBERS: _OWNER,
    Action.MANAGE_PROJECTS: _MANAGERS,
    Action.MANAGE_DISTRIBUTION: _MANAGERS,
    Action.EDIT_PROMPTS: _ALL,
    Action.SUBMIT_REVIEW: _ALL,
    Action.APPROVE: _MANAGERS,
    Action.DELETE_VERSIONED: _MANAGERS,
}


def role_of(user, organisation: Organisation) -> str | None:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    return (
        Membership.objects.filter(user=user, organisation=organisation).values_list("role", flat=True).first()
    )


def allows(role: str | None, action: Action) -> bool:
    return role is not None and role in MATRIX[action]


def can(user, action: Action, organisation: Organisation) -> bool:
    return allows(role_of(user, organisation), action)


def require(user, action: Action, organisation: Organisation, what: str = "organisation") -> str:
    """Return the user's role, or raise NotFound (outsider) / PermissionDenied (role)."""
    role = role_of(user, organisation)
    if role is None:
        raise NotFound(f"{what} not found")
    if not allows(role, action):
        raise PermissionDenied(f"your role ({role}) may not {action.value}")
    return role
