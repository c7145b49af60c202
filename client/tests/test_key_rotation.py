"""Signing-key rotation: a client pinned to the old key follows a chain of endorsements, each signed by the key
before it, to the key a bundle is signed by, and refuses anything else (docs/security.md#key-rotation)."""

import json

import httpx
import pytest

from anvil_client import Client, SyncError
from anvil_client import bundle as bundles
from anvil_client import keys

from .helpers import PROJECT, make_bundle

WHEN = "2026-12-04T00:00:00Z"


def key_pair():
    private = bundles.generate_private_key()
    return private, bundles.public_key_text(private)


A, A_PUB = key_pair()
B, B_PUB = key_pair()
C, C_PUB = key_pair()
X, X_PUB = key_pair()  # another FORGE's key


# --- the chain ----------------------------------------------------------------------------

def test_a_valid_chain_is_followed_in_any_order():
    ab, bc = keys.endorse(A, B_PUB, WHEN), keys.endorse(B, C_PUB, WHEN)
    assert keys.follow(A_PUB, [ab], B_PUB) == [ab]
    assert keys.follow(A_PUB, [bc, ab], C_PUB) == [ab, bc]  # as served, in any order
    assert keys.follow(A_PUB, [], A_PUB) == []
    assert keys.chain_end(A_PUB, [ab, bc]) == C_PUB


def test_a_forged_signature_is_refused():
    forged = keys.endorse(X, B_PUB, WHEN) | {"old_key": A_PUB}  # signed by X, claiming to be by A
    with pytest.raises(keys.KeyChainError, match="does not verify") as refused:
        keys.follow(A_PUB, [forged], B_PUB)
    assert refused.value.reason == "key"
    garbage = keys.endorse(A, B_PUB, WHEN) | {"signature": "ed25519:" + "A" * 88}
    with pytest.raises(keys.KeyChainError):
        keys.follow(A_PUB, [garbage], B_PUB)


def test_links_in_the_wrong_direction_or_with_a_gap_are_refused():
    backwards = keys.endorse(B, A_PUB, WHEN)  # the new key vouching for the old one proves nothing
    with pytest.raises(keys.KeyChainError):
        keys.follow(A_PUB, [backwards], B_PUB)
    with pytest.raises(keys.KeyChainError):  # B → C without A → B
        keys.follow(A_PUB, [keys.endorse(B, C_PUB, WHEN)], C_PUB)
    assert keys.chain_end(A_PUB, [keys.endorse(B, C_PUB, WHEN), keys.endorse(A, B_PUB, WHEN)]) == A_PUB


def test_an_endorsement_by_an_unrelated_key_is_refused():
    with pytest.raises(keys.KeyChainError, match="not endorsed"):
        keys.follow(A_PUB, [keys.endorse(X, B_PUB, WHEN)], B_PUB)


def test_an_endorsement_replayed_for_another_key_is_refused():
    ab = keys.endorse(A, B_PUB, WHEN)
    with pytest.raises(keys.KeyChainError, match="does not verify"):
        keys.follow(A_PUB, [ab | {"new_key": X_PUB}], X_PUB)  # A's signature over B, pointed at X
    with pytest.raises(keys.KeyChainError):
        keys.follow(A_PUB, [ab], X_PUB)  # a valid endorsement of B is not one of X


# --- the client ---------------------------------------------------------------------------------

class Forge:
    """A FORGE that rotated from A to B: it serves a bundle signed by B and its endorsements."""

    def __init__(self, bundle, endorsements):
        self.bundle, self.endorsements, self.key_requests = bundle, endorsements, 0

    def handle(self, request):
        if request.url.path == "/api/v1/forge/keys":
            self.key_requests += 1
            return httpx.Response(200, json={"current_key": B_PUB, "keys": [], "endorsements": self.endorsements})
        if request.url.path.endswith("/current_bundle"):
            return httpx.Response(200, content=json.dumps(self.bundle).encode())
        return httpx.Response(404)


@pytest.fixture
def client_for(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for var in ("ANVIL_FORGE_URL", "ANVIL_PROJECT", "ANVIL_ACCESS_TOKEN", "ANVIL_MODE", "ANVIL_CACHE_DIR",
                "ANVIL_FORGE_PUBLIC_KEY", "ANVIL_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    made = []

    def make(forge):
        client = Client(forge_url="http://127.0.0.1:9", project=PROJECT, access_token="t", background=False,
                        cache_dir=tmp_path / "cache", public_key=A_PUB, transport=httpx.MockTransport(forge.handle))
        made.append(client)
        return client
    yield make
    for client in made:
        client.stop()


def test_a_client_pinned_to_the_old_key_follows_a_valid_endorsement_and_keeps_it(client_for):
    forge = Forge(make_bundle(A, 1), [keys.endorse(A, B_PUB, WHEN)])
    client = client_for(forge)
    assert client.sync().applied and forge.key_requests == 0  # signed by the pinned key: nothing to follow
    forge.bundle = make_bundle(B, 2, {"emails": ("1.1.0", {"welcome": "Hi {{ name }}!"})})
    assert client.sync().sequence == 2 and forge.key_requests == 1
    assert client.prompt("emails.welcome", name="Ada") == "Hi Ada!"
    assert client.public_key() == B_PUB
    client.apply(make_bundle(B, 3))  # pushed, signed by the new key: no more look-ups
    assert forge.key_requests == 1
    with pytest.raises(SyncError) as old:
        client.apply(make_bundle(A, 4))  # the old key signs nothing this client takes any more
    assert old.value.reason == "key" and "rotated away" in str(old.value) and forge.key_requests == 1
    restarted = client_for(forge)  # the pin is still A; the cached chain leads to B
    assert restarted.public_key() == B_PUB and restarted.prompt("emails.welcome", name="Bo") == "Hello Bo!"
    restarted.apply(make_bundle(B, 5))
    assert forge.key_requests == 1


def test_a_client_refuses_a_bundle_whose_endorsement_is_forged_and_keeps_serving(client_for):
    forge = Forge(make_bundle(A, 1), [keys.endorse(X, B_PUB, WHEN) | {"old_key": A_PUB}])
    client = client_for(forge)
    client.sync()
    forge.bundle = make_bundle(B, 2, {"emails": ("2.0.0", {"welcome": "Evil {{ name }}"})})
    with pytest.raises(SyncError) as refused:
        client.sync()
    assert refused.value.reason == "key" and "does not verify" in str(refused.value)
    assert client.prompt("emails.welcome", name="Ada") == "Hello Ada!" and client.public_key() == A_PUB
    assert "does not verify" in client.status()["last_error"]


def test_a_bundle_naming_a_key_it_is_not_signed_by_is_refused_even_with_a_valid_chain(client_for):
    forge = Forge(make_bundle(A, 1), [keys.endorse(A, B_PUB, WHEN)])
    client = client_for(forge)
    client.sync()
    lying = make_bundle(X, 2) | {"forge_key": B_PUB}  # names B, signed by X
    with pytest.raises(SyncError) as refused:
        client.apply(lying)
    assert refused.value.reason in ("signature", "checksum") and client.public_key() == A_PUB


def test_an_edited_cached_chain_is_not_trusted(client_for, tmp_path):
    forge = Forge(make_bundle(B, 1), [keys.endorse(A, B_PUB, WHEN)])
    client_for(forge).sync()
    chain = tmp_path / "cache" / "forge_keys.json"
    chain.write_text(json.dumps([keys.endorse(X, B_PUB, WHEN) | {"old_key": A_PUB}]))
    restarted = client_for(forge)
    assert restarted.public_key() == A_PUB and "disk cache refused" in restarted.status()["last_error"]
