"""Helpers for the peering tests: a project worth exporting, and another organisation to import into."""

import copy

import pytest

from anvil_forge.orgs.services import create_organisation
from anvil_forge.peering import archive
from anvil_forge.prompts import services as prompts


def fill_project(owner, project):
    """Add to a project: a LOCKED set with several versions (one rolled back), a set in REVIEW, a LIVE draft
    set without versions, unicode and nested metadata."""
    chat = prompts.create_prompt_set(owner, project, "Chat", "chat", "Support chat ✨",
                                     {"model": "gpt-4o", "settings": {"temperature": 0.2, "stop": ["\n\n"]}})
    system = prompts.create_prompt(owner, chat, "System", "system", "You are {{ name }} for {{ product }}.",
                                   [{"name": "name", "type": "string", "required": False, "default": "Anvil"},
                                    {"name": "product", "type": "string"}], "the system prompt", {"role": "system"})
    prompts.create_version(owner, chat, "0.1.0", "First draft")
    prompts.update_prompt(owner, system, template=system.template + " Be brief.")
    prompts.create_version(owner, chat, "0.2.0-beta.1", "Brief")
    prompts.create_prompt(owner, chat, "Summarise", "summarise", "Summarise in {{ n }} bullets: {{ ticket }}",
                          [{"name": "n", "type": "number", "required": False, "default": 3},
                           {"name": "ticket", "type": "string"}])
    prompts.create_version(owner, chat, "0.2.0", "Summaries")
    prompts.rollback(owner, chat, "0.1.0", "0.3.0")
    prompts.change_status(owner, chat, "review")
    prompts.change_status(owner, chat, "locked")

    faq = prompts.create_prompt_set(owner, project, "FAQ", "faq", "", {})
    prompts.create_prompt(owner, faq, "Answer", "answer", "Answer: {{ q }}", [{"name": "q", "type": "string"}])
    prompts.create_version(owner, faq, "1.0.0+build.7", "")
    prompts.change_status(owner, faq, "review")

    draft = prompts.create_prompt_set(owner, project, "Drafts", "drafts", "not versioned yet", {"tags": ["wip"]})
    prompts.create_prompt(owner, draft, "Idea", "idea", "{% if x %}yes{% endif %}",
                          [{"name": "x", "type": "boolean", "required": False, "default": False}])
    return project


@pytest.fixture
def rich(world):
    """The test world with its project filled (see :func:`fill_project`)."""
    fill_project(world.owner, world.project)
    return world


@pytest.fixture
def target_org(world):
    """Another organisation of the world's owner, empty, to import into."""
    return create_organisation(world.owner, "Target", "target")


def tampered(data: dict, change) -> dict:
    """A deep copy of an archive with ``change(copy)`` applied and the checksum left as it was."""
    other = copy.deepcopy(data)
    change(other)
    return other


def resealed(data: dict, change) -> dict:
    """Like :func:`tampered`, with a fresh checksum (to reach the checks after the checksum)."""
    other = tampered(data, change)
    other["checksum"] = archive.checksum(other["content"])
    return other
