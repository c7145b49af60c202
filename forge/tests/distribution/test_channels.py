"""Channels: each has its own releases and signed bundle; tokens are bound to one; promote releases exactly
what another channel holds (the same per-set digests); definitions export and import."""

import json

import pytest

from anvil_client import bundle as bundle_format
from anvil_forge.audit.models import AuditEvent
from anvil_forge.core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from anvil_forge.distribution import keys
from anvil_forge.distribution import queries as dist_queries
from anvil_forge.distribution import services as dist
from anvil_forge.prompts import services as prompts

from ..api_support import Api, key_for
from ..release_support import new_version

pytestmark = pytest.mark.usefixtures("own_data_dir")


def pull(secret: str, project, **headers):
    """A pull as anvil-client 0.4 makes it (it reads format 4: with the channel)."""
    return Api(secret).get(f"/projects/{project.pk}/current_bundle",
                           **{bundle_format.FORMATS_HEADER: "1,2,3,4", **headers})


def test_every_project_has_production_and_a_token_follows_its_own_channel(locked):
    assert [c.name for c in dist_queries.channel_list(locked.admin, locked.project)] == ["production"]
    staging = dist.create_channel(locked.admin, locked.project, "staging", "before production")
    _, prod_secret = dist.create_access_token(locked.admin, locked.project, "prod")
    _, staging_secret = dist.create_access_token(locked.admin, locked.project, "stage", "staging")
    dist.publish(locked.admin, locked.pset, channel="staging")
    staged = pull(staging_secret, locked.project)
    assert staged.status_code == 200 and staged["X-Anvil-Channel"] == "staging"
    data = bundle_format.verify(json.loads(staged.content), keys.public_key(), channel="staging")
    assert (data.channel, data.sequence, data.versions) == ("staging", 1, {"emails": "1.0.0"})
    production = json.loads(pull(prod_secret, locked.project).content)
    assert (production["channel"], production["sequence"], production["prompt_sets"]) == ("production", 0, [])
    assert dist_queries.current_sequence(staging) == 1 and dist_queries.current_sequence(locked.project) == 0
    assert [c.name for c in dist_queries.channel_list(locked.admin, locked.project)] == ["production", "staging"]


def test_a_client_asking_for_another_channel_than_its_tokens_is_refused_naming_both(locked):
    dist.create_channel(locked.admin, locked.project, "staging")
    _, secret = dist.create_access_token(locked.admin, locked.project, "prod")
    answer = pull(secret, locked.project, **{"X-Anvil-Channel": "staging"})
    assert answer.status_code == 409
    assert "bound to channel 'production', not 'staging'" in answer.json()["error"]["message"]
    assert pull(secret, locked.project, **{"X-Anvil-Channel": "production"}).status_code == 200
    registered = Api(secret).post(f"/projects/{locked.project.pk}/live_instances",
                                  {"instance_id": "i1", "mode": "accepting", "channel": "staging"})
    assert registered.status_code == 409 and registered.json()["error"]["details"][0]["field"] == "channel"


def test_promote_releases_exactly_what_the_source_holds_with_the_same_digests(locked):
    dist.create_channel(locked.admin, locked.project, "staging")
    dist.publish(locked.admin, locked.pset, channel="staging")
    new_version(locked, "1.1.0", "Hi {{ name }}, welcome!")
    dist.publish(locked.admin, locked.pset, channel="staging")
    result = dist.promote(locked.admin, dist_queries.channel(locked.admin, locked.project, "production"), "staging")
    assert result.changed and result.sequence == 1 and result.publication.kind == "promote"
    staging = dist_queries.channel(locked.admin, locked.project, "staging")
    production = dist_queries.channel(locked.admin, locked.project, "production")
    staged, promoted = dist_queries.current_bundle(staging), dist_queries.current_bundle(production)
    assert staged["sequence"] == 2 and promoted["sequence"] == 1  # each channel its own sequence
    assert staged["prompt_sets"] == promoted["prompt_sets"]  # same versions, same per-set digests
    assert staged["prompt_sets"][0]["digest"].startswith("sha256:") and staged["prompts"] == promoted["prompts"]
    assert dist_queries.release_sets(result.publication)[0]["digest"] == staged["prompt_sets"][0]["digest"]
    again = dist.promote(locked.admin, production, "staging")
    assert not again.changed and again.sequence == 1  # already holds it: no new release
    event = AuditEvent.objects.filter(action="channel.promote").first()
    assert event.summary["from"] == "staging" and event.summary["sequence"] == 1


def test_promote_refusals_name_the_problem(locked):
    production = dist_queries.channel(locked.admin, locked.project, "production")
    dist.create_channel(locked.admin, locked.project, "staging")
    with pytest.raises(Conflict, match="channel 'staging' holds no release to promote"):
        dist.promote(locked.admin, production, "staging")
    with pytest.raises(NotFound, match="no channel 'qa'"):
        dist.promote(locked.admin, production, "qa")
    with pytest.raises(ValidationError, match="cannot be promoted to itself"):
        dist.promote(locked.admin, production, "production")
    dist.publish(locked.admin, locked.pset, channel="staging")
    with pytest.raises(PermissionDenied):
        dist.promote(locked.member, production, "staging")


def test_channel_names_and_deletion_rules(locked):
    for bad in ("", "Staging", "-x", "a" * 65, "has space", "definitions"):
        with pytest.raises(ValidationError):
            dist.create_channel(locked.admin, locked.project, bad)
    dist.create_channel(locked.admin, locked.project, "canary")
    with pytest.raises(Conflict, match="already has a channel 'canary'"):
        dist.create_channel(locked.admin, locked.project, "canary")
    with pytest.raises(PermissionDenied):
        dist.create_channel(locked.member, locked.project, "qa")
    production = dist_queries.channel(locked.admin, locked.project, "production")
    with pytest.raises(Conflict, match="production channel cannot be deleted"):
        dist.delete_channel(locked.admin, production)
    canary = dist_queries.channel(locked.admin, locked.project, "canary")
    dist.create_access_token(locked.admin, locked.project, "c", "canary")
    with pytest.raises(Conflict, match="has releases or access tokens"):
        dist.delete_channel(locked.admin, canary)
    empty = dist.create_channel(locked.admin, locked.project, "empty")
    dist.delete_channel(locked.admin, empty)
    assert "empty" not in [c.name for c in dist_queries.channel_list(locked.admin, locked.project)]
    with pytest.raises(NotFound, match="no channel 'nope'"):
        dist.create_access_token(locked.admin, locked.project, "x", "nope")


def test_channel_definitions_round_trip_to_another_project(locked):
    dist.create_channel(locked.admin, locked.project, "staging", "first stop")
    dist.create_channel(locked.admin, locked.project, "approved", requires_approval=True)
    document = dist_queries.channel_definitions(locked.admin, locked.project)
    other = prompts.create_project(locked.owner, locked.org, "Other", "other")
    dist.import_channels(locked.admin, other, json.loads(json.dumps(document)))
    assert dist_queries.channel_definitions(locked.admin, other)["channels"] == document["channels"]
    assert [c["name"] for c in document["channels"]] == ["approved", "production", "staging"]
    with pytest.raises(ValidationError, match="named twice"):
        dist.import_channels(locked.admin, other, {**document, "channels": [{"name": "a"}, {"name": "a"}]})
    with pytest.raises(ValidationError, match="not a channel definitions document"):
        dist.import_channels(locked.admin, other, {"format": "anvil-archive"})


def test_channels_over_the_api(locked):
    admin = Api(key_for(locked.admin))
    base = f"/projects/{locked.project.pk}/channels"
    created = admin.post(base, {"name": "staging", "requires_approval": False})
    assert created.status_code == 201 and created.json()["name"] == "staging"
    assert admin.post(base, {"name": "Bad Name"}).status_code == 422
    published = admin.post(f"/prompt_sets/{locked.pset.pk}/publish", {"channel": "staging"})
    assert published.status_code == 200 and published.json()["channel"] == "staging"
    promoted = admin.post(f"{base}/production/promote", {"source": "staging"})
    assert promoted.status_code == 200, promoted.content
    body = promoted.json()
    assert body["sequence"] == 1 and body["release"]["kind"] == "promote"
    assert body["release"]["sets"][0]["version"] == "1.0.0"
    listed = admin.get(base).json()
    assert [(c["name"], c["sequence"]) for c in listed] == [("production", 1), ("staging", 1)]
    assert listed[0]["release"]["sets"] == listed[1]["release"]["sets"]
    assert admin.get(f"{base}/nope").status_code == 404
    assert admin.post(f"/prompt_sets/{locked.pset.pk}/publish", {"channel": "nope"}).status_code == 404
    exported = admin.get(f"{base}/definitions").json()
    assert exported["format"] == "anvil-channels" and len(exported["channels"]) == 2
    assert admin.put(f"{base}/definitions", {**exported, "format_version": 2}).status_code == 422


def test_promote_never_silently_stops_publishing_a_set_the_target_holds(locked):
    from anvil_forge.prompts import services as prompt_services

    replies = prompt_services.create_prompt_set(locked.owner, locked.project, "Replies", "replies")
    prompt_services.create_prompt(locked.owner, replies, "Reply", "reply", "Thanks.", [])
    prompt_services.create_version(locked.owner, replies, "0.1.0")
    prompt_services.change_status(locked.member, replies, "review")
    prompt_services.change_status(locked.admin, replies, "locked")
    dist.publish(locked.admin, locked.pset)
    dist.publish(locked.admin, replies)  # production: emails and replies
    dist.create_channel(locked.admin, locked.project, "staging")
    dist.publish(locked.admin, locked.pset, channel="staging")  # staging: emails only
    production = dist_queries.channel(locked.admin, locked.project, "production")
    with pytest.raises(Conflict, match="does not hold replies, which 'production' publishes"):
        dist.promote(locked.admin, production, "staging")
    assert dist_queries.current_sequence(production) == 2
    result = dist.promote(locked.admin, production, "staging", remove_missing=True)
    assert result.sequence == 3 and [s["slug"] for s in dist_queries.current_bundle(production)["prompt_sets"]] == [
        "emails"]
