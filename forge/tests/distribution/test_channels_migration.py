"""Migrations distribution 0005-0007: a FORGE of the previous release, with publications, tokens and LIVE
instances, upgrades to channels: everything becomes production's, each publication gets its whole content,
and the bundles its clients get are what they got before (same content, same sequence)."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from anvil_forge.distribution import queries as dist_queries
from anvil_forge.prompts import services as prompts

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("own_data_dir")]

BEFORE = [("distribution", "0004_instance_bundle_formats")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_the_previous_releases_publications_become_the_production_channels(world):
    prompts.change_status(world.member, world.pset, "review")
    prompts.change_status(world.admin, world.pset, "locked")
    v1 = world.version
    prompts.change_status(world.admin, world.pset, "live")
    prompts.update_prompt(world.owner, world.prompt, template="Hi {{ name }}!")
    v2 = prompts.create_version(world.owner, world.pset, "1.1.0")
    other = prompts.create_prompt_set(world.owner, world.project, "Replies", "replies")
    prompts.create_prompt(world.owner, other, "Reply", "reply", "Thanks.", [])
    v3 = prompts.create_version(world.owner, other, "0.1.0")
    old = migrate(BEFORE)
    Publication = old.get_model("distribution", "Publication")
    PublishedVersion = old.get_model("distribution", "PublishedVersion")
    AccessToken = old.get_model("distribution", "AccessToken")
    LiveInstance = old.get_model("distribution", "LiveInstance")
    # What the previous release stored: three publishes (emails 1.0.0, replies 0.1.0, emails 1.1.0).
    for sequence, (set_id, version_id) in enumerate([(world.pset.pk, v1.pk), (other.pk, v3.pk),
                                                      (world.pset.pk, v2.pk)], start=1):
        Publication.objects.create(project_id=world.project.pk, sequence=sequence, prompt_set_id=set_id,
                                   version_id=version_id)
    PublishedVersion.objects.create(project_id=world.project.pk, prompt_set_id=world.pset.pk, version_id=v2.pk)
    PublishedVersion.objects.create(project_id=world.project.pk, prompt_set_id=other.pk, version_id=v3.pk)
    token = AccessToken.objects.create(project_id=world.project.pk, label="prod", token_hash="h" * 64,
                                       prefix="ant_x")
    LiveInstance.objects.create(project_id=world.project.pk, instance_id="pod-1", mode="accepting",
                                access_token=token, last_seen_at=timezone.now())
    migrate(executor_leaf())
    production = dist_queries.channel(world.owner, world.project, "production")
    releases = {p.sequence: p.content for p in dist_queries.releases(world.owner, world.project, "production")}
    assert releases == {1: {str(world.pset.pk): str(v1.pk)},
                        2: {str(world.pset.pk): str(v1.pk), str(other.pk): str(v3.pk)},
                        3: {str(world.pset.pk): str(v2.pk), str(other.pk): str(v3.pk)}}
    bundle = dist_queries.current_bundle(world.project, (1, 2))  # what an anvil-client 0.2 pulls
    assert bundle["sequence"] == 3 and {s["slug"]: s["version"] for s in bundle["prompt_sets"]} == {
        "emails": "1.1.0", "replies": "0.1.0"}
    assert [t.channel.name for t in dist_queries.access_tokens(world.owner, world.project)] == ["production"]
    assert [i.channel_id for i in dist_queries.live_instances(world.owner, world.project)] == [production.pk]
    assert [v.version.label for v in dist_queries.published_versions(world.owner, world.project)
            .order_by("prompt_set__slug")] == ["1.1.0", "0.1.0"]


def executor_leaf():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()
