import pytest

from anvil_client import bundle as format
from anvil_forge.audit.models import AuditEvent
from anvil_forge.core.errors import Conflict, NotFound, PermissionDenied
from anvil_forge.distribution import keys
from anvil_forge.distribution.bundles import build_bundle
from anvil_forge.distribution.services import (
    authenticate_access_token, create_access_token, publish, revoke_access_token,
)
from anvil_forge.prompts import services as prompts


pytestmark = pytest.mark.usefixtures("own_data_dir")


@pytest.fixture
def locked(world):
    prompts.create_version(world.member, world.pset, "1.1.0")
    prompts.change_status(world.member, world.pset, "review")
    prompts.change_status(world.admin, world.pset, "locked")
    return world


def test_access_tokens_are_shown_once_hashed_and_revocable(world):
    token, secret = create_access_token(world.admin, world.project, "prod")
    assert secret.startswith("ant_") and token.token_hash != secret and secret.startswith(token.prefix)
    assert authenticate_access_token(secret) == token
    assert authenticate_access_token(secret + "x") is None
    token.refresh_from_db()
    assert token.last_used_at is not None
    revoke_access_token(world.owner, token)
    assert authenticate_access_token(secret) is None
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"access_token.create", "access_token.revoke"} <= actions


@pytest.mark.parametrize("role", ["member", "outsider"])
def test_only_owners_and_admins_manage_tokens_and_publish(locked, role):
    user = locked.users[role]
    error = PermissionDenied if role == "member" else NotFound
    with pytest.raises(error):
        create_access_token(user, locked.project, "x")
    with pytest.raises(error):
        publish(user, locked.pset)


def test_only_locked_sets_are_published(world):
    with pytest.raises(Conflict, match="only a LOCKED prompt set can be published"):
        publish(world.owner, world.pset)


def test_publish_newest_by_default_and_sequence_rises(locked):
    first = publish(locked.admin, locked.pset)
    assert (first.version.label, first.sequence, first.changed) == ("1.1.0", 1, True)
    again = publish(locked.admin, locked.pset)
    assert (again.sequence, again.changed) == (1, False)
    older = publish(locked.admin, locked.pset, "1.0.0")
    assert (older.version.label, older.sequence) == ("1.0.0", 2)
    with pytest.raises(NotFound, match="no version '9.9.9'"):
        publish(locked.admin, locked.pset, "9.9.9")
    event = AuditEvent.objects.filter(action="prompt_set.publish").first()
    assert event.summary == {"project": "support", "channel": "production", "version": "1.0.0", "sequence": 2,
                             "previous": "1.1.0", "to": "everyone"}


def test_published_versions_are_marked_and_protected(locked):
    result = publish(locked.admin, locked.pset)
    result.version.refresh_from_db()
    assert result.version.first_published_at is not None
    prompts.change_status(locked.owner, locked.pset, "live")
    with pytest.raises(Conflict, match="published"):
        prompts.delete_version(locked.owner, result.version)
    with pytest.raises(Conflict, match="published"):
        prompts.delete_prompt_set(locked.owner, locked.pset)


def test_the_bundle_is_signed_and_holds_the_published_prompts(locked):
    empty = build_bundle(locked.project)
    assert empty["sequence"] == 0 and empty["prompts"] == {}
    publish(locked.admin, locked.pset)
    data = build_bundle(locked.project)
    verified = format.verify(data, keys.public_key(), project_id=str(locked.project.pk), after_sequence=0)
    assert verified.versions == {"emails": "1.1.0"}
    assert verified.prompts["emails.welcome"]["template"] == "Hello {{ name }}!"
    assert verified.prompts["emails.welcome"]["parameters"][0]["name"] == "name"
    assert build_bundle(locked.project) == data  # same state, same bytes


def test_the_forge_key_is_created_once_and_kept(settings):
    first = keys.public_key()
    keys._load.cache_clear()
    assert keys.public_key() == first
    assert (settings.DATA_DIR / keys.KEY_FILE).stat().st_mode & 0o777 == 0o600
