"""The whole role matrix of domain.md: every action × owner / admin / member / outsider / site admin.

Allowed → the action happens. A role that may not → PermissionDenied. Anyone
outside the organisation (a site admin included) → NotFound, as if it did not exist.
"""

import pytest

from anvil_forge.audit import queries as audit_queries
from anvil_forge.core.errors import NotFound, PermissionDenied
from anvil_forge.orgs import queries as org_queries
from anvil_forge.orgs import services as orgs
from anvil_forge.prompts import queries as prompt_queries
from anvil_forge.prompts import services as prompts

ALL = {"owner", "admin", "member"}
MANAGERS = {"owner", "admin"}
OWNER = {"owner"}


def in_review(w):
    prompts.change_status(w.owner, w.pset, "review")


def locked(w):
    in_review(w)
    prompts.change_status(w.owner, w.pset, "locked")


# name: (allowed roles, setup, action)
ACTIONS = {
    "view organisation": (ALL, None, lambda u, w: org_queries.get_organisation(u, w.org.pk)),
    "list members": (ALL, None, lambda u, w: list(org_queries.members(u, w.org))),
    "read audit log": (ALL, None, lambda u, w: list(audit_queries.events_for_organisation(u, w.org))),
    "view project": (ALL, None, lambda u, w: prompt_queries.get_project(u, w.project.pk)),
    "view prompt": (ALL, None, lambda u, w: prompt_queries.get_prompt(u, w.prompt.pk)),
    "view version": (ALL, None, lambda u, w: prompt_queries.get_version(u, w.version.pk)),
    "edit organisation": (OWNER, None, lambda u, w: orgs.update_organisation(u, w.org, description="new")),
    "delete organisation": (OWNER, None, lambda u, w: orgs.delete_organisation(u, w.org)),
    "invite member": (OWNER, None, lambda u, w: orgs.invite_member(u, w.org, "new@example.com", "member")),
    "change role": (OWNER, None, lambda u, w: orgs.change_role(u, w.org, w.other, "admin")),
    "remove member": (OWNER, None, lambda u, w: orgs.remove_member(u, w.org, w.other)),
    "create project": (MANAGERS, None, lambda u, w: prompts.create_project(u, w.org, "Billing")),
    "edit project": (MANAGERS, None, lambda u, w: prompts.update_project(u, w.project, description="d")),
    "delete project": (MANAGERS, None, lambda u, w: prompts.delete_project(u, w.project)),
    "create prompt set": (ALL, None, lambda u, w: prompts.create_prompt_set(u, w.project, "Chat")),
    "edit prompt set": (ALL, None, lambda u, w: prompts.update_prompt_set(u, w.pset, description="d")),
    "delete prompt set": (MANAGERS, None, lambda u, w: prompts.delete_prompt_set(u, w.pset)),
    "create prompt": (ALL, None, lambda u, w: prompts.create_prompt(u, w.pset, "Bye", template="Bye")),
    "edit prompt": (ALL, None, lambda u, w: prompts.update_prompt(u, w.prompt, template="Hi {{ name }}")),
    "delete prompt": (ALL, None, lambda u, w: prompts.delete_prompt(u, w.prompt)),
    "create version": (ALL, None, lambda u, w: prompts.create_version(u, w.pset, "1.1.0")),
    "roll back": (ALL, None, lambda u, w: prompts.rollback(u, w.pset, "1.0.0", "2.0.0")),
    "delete version": (MANAGERS, None, lambda u, w: prompts.delete_version(u, w.version)),
    "submit for review": (ALL, None, lambda u, w: prompts.change_status(u, w.pset, "review")),
    "approve review": (MANAGERS, in_review, lambda u, w: prompts.change_status(u, w.pset, "locked")),
    "reject review": (MANAGERS, in_review, lambda u, w: prompts.change_status(u, w.pset, "live")),
    "unlock": (MANAGERS, locked, lambda u, w: prompts.change_status(u, w.pset, "live")),
}

ROLES = ["owner", "admin", "member", "outsider", "site_admin"]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", list(ACTIONS))
def test_role_matrix(world, action, role):
    allowed, setup, do = ACTIONS[action]
    if setup:
        setup(world)
    user = world.users[role]
    if role in ("outsider", "site_admin"):
        with pytest.raises(NotFound):
            do(user, world)
    elif role in allowed:
        do(user, world)
    else:
        with pytest.raises(PermissionDenied, match=f"your role \\({role}\\) may not"):
            do(user, world)

