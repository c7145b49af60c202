"""Shared by the channel, rollout and release-command tests."""

from anvil_forge.prompts import services as prompts


def new_version(world, label: str, template: str):
    """The world's set, changed to ``template``, versioned ``label``, reviewed and LOCKED again."""
    prompts.change_status(world.admin, world.pset, "live")
    prompts.update_prompt(world.owner, world.prompt, template=template)
    prompts.create_version(world.owner, world.pset, label)
    prompts.change_status(world.member, world.pset, "review")
    prompts.change_status(world.admin, world.pset, "locked")
