"""Signing-key rotation (docs/security.md#key-rotation): `anvil keys rotate` makes a new key endorsed by the
old one; clients pinned to the old key follow the endorsement and re-pin; `retire` deletes the old private key."""

import json
import os
import stat
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client as HttpClient

from anvil_client import Client, SyncError
from anvil_client import bundle as format
from anvil_client import keys as key_chain
from anvil_forge.audit.models import AuditEvent
from anvil_forge.distribution import keys
from anvil_forge.distribution.bundles import build_bundle
from anvil_forge.distribution.services import create_access_token, publish
from anvil_forge.prompts import services as prompts

from ..servers import environment, start_server, stop


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "forge"
    settings.DATA_DIR.mkdir()
    keys._load.cache_clear()


def release(world, label=None, template=None):
    """Publish the set: the first time as it is, later with a new template under ``label``."""
    if label:
        prompts.change_status(world.admin, world.pset, "live")
        prompts.update_prompt(world.owner, world.prompt, template=template)
        prompts.create_version(world.owner, world.pset, label)
    prompts.change_status(world.member, world.pset, "review")
    prompts.change_status(world.admin, world.pset, "locked")
    publish(world.admin, world.pset, label)


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.django_db
def test_rotate_signs_new_bundles_with_the_new_key_endorsed_by_the_old(world, settings):
    release(world)
    old = keys.public_key()
    assert format.verify(build_bundle(world.project), old).sequence == 1
    before, after = keys.rotate()
    new = keys.public_key()
    assert new != old and before["public_key"] == old and after["public_key"] == new
    bundle = build_bundle(world.project)
    assert bundle["forge_key"] == new and format.verify(bundle, new)
    with pytest.raises(format.BadSignature):
        format.verify(bundle, old)
    (endorsement,) = keys.endorsements()
    assert key_chain.follow(old, [endorsement], new) == [endorsement]
    assert [(k["key_id"], k["state"]) for k in keys.signing_keys()] == [(format.key_id(old), "previous"),
                                                                       (format.key_id(new), "current")]
    folder = settings.DATA_DIR / keys.KEYS_DIR
    assert mode(folder) == 0o700 and mode(folder / keys.MANIFEST) == 0o600
    assert mode(folder / f"{format.key_id(old)}.pem") == 0o600 and mode(settings.DATA_DIR / keys.KEY_FILE) == 0o600
    assert not (folder / f"{format.key_id(new)}.pem").exists()  # the current key is in forge_ed25519.pem only


@pytest.mark.django_db(transaction=True)  # the command runs in its own process, on the test database
def test_a_process_that_loaded_the_old_key_picks_up_the_rotation(settings):
    old = keys.private_key()  # loaded and cached, as a running worker holds it
    env = environment()
    rotated = subprocess.run([sys.executable, "-m", "anvil_forge.cli", "keys", "rotate"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert rotated.returncode == 0, rotated.stderr
    assert keys.public_key() != format.public_key_text(old)
    assert keys.public_key() == keys.chain()["current_key"]


@pytest.mark.django_db
def test_retire_deletes_the_old_private_key_and_keeps_its_endorsement_served(world, settings):
    release(world)
    keys.ensure_key()
    old_pem = (settings.DATA_DIR / keys.KEY_FILE).read_bytes()
    old = keys.public_key()
    keys.rotate()
    old_id = format.key_id(old)
    with pytest.raises(keys.KeyStateError, match="current signing key"):
        keys.retire(format.key_id(keys.public_key()))
    with pytest.raises(keys.KeyStateError, match="no signing key"):
        keys.retire("0123456789abcdef")
    keys.retire(old_id)
    with pytest.raises(keys.KeyStateError, match="already retired"):
        keys.retire(old_id)
    for root, _, files in os.walk(settings.DATA_DIR):  # the old private key is nowhere on disk
        for name in files:
            with open(os.path.join(root, name), "rb") as fh:
                assert old_pem not in fh.read(), name
    assert not format.verify(build_bundle(world.project), keys.public_key()).data["forge_key"] == old
    served = HttpClient().get("/api/v1/forge/keys").json()
    assert [(k["key_id"], k["state"]) for k in served["keys"]] == [(old_id, "retired"),
                                                                  (format.key_id(keys.public_key()), "current")]
    assert served["current_key"] == keys.public_key() and len(served["endorsements"]) == 1
    assert "PRIVATE" not in json.dumps(served)
    assert key_chain.follow(old, served["endorsements"], served["current_key"])


@pytest.mark.django_db
def test_anvil_keys_list_rotate_and_retire(settings):
    def run(*args):
        out, err = StringIO(), StringIO()
        call_command("keys", *args, stdout=out, stderr=err)
        return out.getvalue()

    first = format.key_id(keys.public_key())
    assert run("list").split()[:2] == [first, "current"]
    rotated = run("rotate")
    second = format.key_id(keys.public_key())
    assert f"{second} is current, endorsed by {first}" in rotated
    listed = [line.split()[:2] for line in run("list").splitlines()]
    assert listed == [[first, "previous"], [second, "current"]]
    assert f"Retired signing key {first}" in run("retire", first)
    assert [line.split()[:2] for line in run("list").splitlines()] == [[first, "retired"], [second, "current"]]
    with pytest.raises(CommandError, match="current signing key"):
        run("retire", second)
    actions = list(AuditEvent.objects.filter(target_type="forge_key").order_by("created_at")
                   .values_list("action", "summary"))
    assert actions == [("forge_key.rotate", {"old_key_id": first, "new_key_id": second}),
                       ("forge_key.retire", {"key_id": first})]


def _client(url, world, token, public, cache_dir):
    return Client(forge_url=url, project=str(world.project.pk), access_token=token, cache_dir=cache_dir,
                  public_key=public, background=False)


@pytest.mark.django_db(transaction=True)
def test_a_client_pinned_to_the_old_key_syncs_re_pins_and_refuses_a_forged_endorsement(world, tmp_path, settings):
    release(world)
    _, token = create_access_token(world.admin, world.project, "app")
    old = keys.public_key()
    server, url = start_server()  # it loads the old key and signs with it, then must follow the rotation
    clients = []
    try:
        client = _client(url, world, token, old, tmp_path / "app")
        clients.append(client)
        assert client.sync().sequence == 1
        keys.rotate()
        new = keys.public_key()
        release(world, "1.1.0", "Hi {{ name }}!")
        assert client.sync().sequence == 2  # signed by the new key, which the old one endorsed
        assert client.prompt("emails.welcome", name="Ada") == "Hi Ada!" and client.public_key() == new
        restarted = _client(url, world, token, old, tmp_path / "app")  # still pinned to the old key
        clients.append(restarted)
        assert restarted.public_key() == new and restarted.prompt("emails.welcome", name="Bo") == "Hi Bo!"

        # Another client pinned to the old key, facing a FORGE whose endorsement is forged (not signed by
        # the old key): it refuses the bundle and serves what it holds.
        other = _client(url, world, token, new, tmp_path / "other")
        clients.append(other)
        other.sync()
        keys.rotate()
        manifest_path = settings.DATA_DIR / keys.KEYS_DIR / keys.MANIFEST
        manifest = json.loads(manifest_path.read_text())
        impostor = format.generate_private_key()
        manifest["endorsements"][-1] = key_chain.endorse(impostor, keys.public_key(), "2026-12-04T00:00:00Z") | {
            "old_key": new}
        manifest_path.write_text(json.dumps(manifest))
        release(world, "1.2.0", "Hey {{ name }}!")
        with pytest.raises(SyncError) as refused:
            other.sync()
        assert refused.value.reason == "key" and "does not verify" in str(refused.value)
        assert other.prompt("emails.welcome", name="Cy") == "Hi Cy!" and other.public_key() == new
    finally:
        for c in clients:
            c.stop()
        stop(server)


@pytest.mark.django_db(transaction=True)
def test_running_apps_take_the_next_publish_after_a_rotation_without_being_touched(world, tmp_path, settings):
    """The issue's journey: apps running (streaming, and taking pushes), `anvil keys rotate`, publish: every
    app serves the new release, having followed the endorsement on its own."""
    from anvil_client.receiver import make_server
    from anvil_forge.distribution import fanout
    from anvil_forge.distribution.services import authenticate_access_token, register_instance

    from ..receivers import CountingReceiver, wait_for

    release(world)
    _, token = create_access_token(world.admin, world.project, "app")
    old = keys.public_key()
    server, url = start_server()
    streaming = Client(forge_url=url, project=str(world.project.pk), access_token=token, public_key=old,
                       cache_dir=tmp_path / "streaming", poll_interval=3600, heartbeat_interval=3600)
    pushed = _client(url, world, token, old, tmp_path / "pushed")
    receiver = CountingReceiver(pushed)
    http = make_server(receiver, "127.0.0.1", 0)
    import threading

    threading.Thread(target=http.serve_forever, daemon=True).start()
    try:
        pushed.sync()
        pushed.receiver_url = f"http://127.0.0.1:{http.server_address[1]}/anvil/receive"
        pushed.receiver_secret = receiver.secret
        register_instance(authenticate_access_token(token), pushed.describe())
        assert wait_for(lambda: streaming._streaming and streaming.sequence == 1, 10)
        call_command("keys", "rotate", stdout=StringIO())
        new = keys.public_key()
        release(world, "1.1.0", "Hi {{ name }}!")
        publication = world.project.publications.order_by("-sequence").first()
        fanout.send_publication(publication.pk)
        assert wait_for(lambda: streaming.sequence == 2 and pushed.sequence == 2, 10), (
            streaming.status(), pushed.status())
        for app in (streaming, pushed):
            assert app.prompt("emails.welcome", name="Ada") == "Hi Ada!" and app.public_key() == new
    finally:
        streaming.stop()
        pushed.stop()
        http.shutdown()
        stop(server)
