"""make_body(parameters_normalised=True): the FORGE's fast path gives the same bundle."""

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from anvil_client import bundle as bundles
from anvil_client.templates import parse_parameters

RAW = [{"name": "name"}, {"name": "count", "type": "number", "required": False, "default": "3"},
       {"name": "vip", "type": "boolean", "description": "d", "required": False}]


def body(prompts, normalised):
    return bundles.make_body(project={"id": "p", "slug": "s", "name": "S"}, sequence=1, created_at="2026-11-22T00:00:00Z",
                             prompt_sets=[{"slug": "a", "version": "1.0.0", "version_id": "v"}], prompts=prompts,
                             forge_key="ed25519:x", parameters_normalised=normalised)


def test_normalised_parameters_give_the_same_bundle():
    stored = [p.to_dict() for p in parse_parameters(RAW)]  # what the FORGE keeps
    slow = body({"a.x": {"template": "{{ name }}", "parameters": RAW, "metadata": {"k": 1}}}, False)
    fast = body({"a.x": {"template": "{{ name }}", "parameters": stored, "metadata": {"k": 1}}}, True)
    assert fast == slow
    assert bundles.canonical(fast) == bundles.canonical(slow)
    assert fast["prompts"]["a.x"]["parameters"][1]["default"] == 3


def test_declarations_not_in_normalised_form_are_normalised_anyway():
    fast = body({"a.x": {"template": "{{ name }}", "parameters": RAW, "metadata": {}}}, True)
    assert fast == body({"a.x": {"template": "{{ name }}", "parameters": RAW, "metadata": {}}}, False)


def test_the_sealed_bundle_verifies():
    key = Ed25519PrivateKey.generate()
    stored = [p.to_dict() for p in parse_parameters(RAW)]
    sealed = bundles.seal(body({"a.x": {"template": "{{ name }}", "parameters": stored}}, True), key)
    assert bundles.verify(sealed, bundles.public_key_text(key)).prompts["a.x"]["parameters"] == stored
