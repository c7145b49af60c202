import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anvil_client import bundle as bundles

from .helpers import PROJECT, make_bundle

KEY = bundles.generate_private_key()
PUBLIC = bundles.public_key_text(KEY)


def test_a_sealed_bundle_verifies_and_exposes_its_content():
    verified = bundles.verify(make_bundle(KEY, sequence=3), PUBLIC, project_id=PROJECT, after_sequence=2)
    assert verified.sequence == 3 and verified.versions == {"emails": "1.0.0"}
    assert verified.prompts["emails.welcome"]["template"] == "Hello {{ name }}!"
    assert verified.checksum.startswith("sha256:")


def test_canonical_form_is_independent_of_key_order_and_spacing():
    data = make_bundle(KEY)
    shuffled = json.loads(json.dumps(dict(reversed(list(data.items()))), indent=4))
    assert bundles.checksum(shuffled) == data["checksum"]
    bundles.verify(shuffled, PUBLIC)


@pytest.mark.parametrize("mutate, error", [
    (lambda b: b["prompts"]["emails.welcome"].update(template="Hacked"), bundles.ChecksumMismatch),
    (lambda b: b.update(sequence=99), bundles.ChecksumMismatch),
    (lambda b: b.update(signature="ed25519:AAAA"), bundles.BadSignature),
    (lambda b: b.update(format_version=5), bundles.UnknownFormat),
    (lambda b: b.update(format="something-else"), bundles.UnknownFormat),
    (lambda b: b.pop("prompts"), bundles.MalformedBundle),
    (lambda b: b.update(sequence="7"), bundles.MalformedBundle),
])
def test_tampered_or_unknown_bundles_are_refused(mutate, error):
    data = make_bundle(KEY)
    mutate(data)
    with pytest.raises(error):
        bundles.verify(data, PUBLIC)


def test_rewriting_content_and_checksum_without_the_key_fails_the_signature():
    data = make_bundle(KEY)
    data["prompts"]["emails.welcome"]["template"] = "Hacked"
    data["checksum"] = bundles.checksum(data)
    with pytest.raises(bundles.BadSignature):
        bundles.verify(data, PUBLIC)


def test_another_forges_key_another_project_and_older_sequences_are_refused():
    other = bundles.generate_private_key()
    with pytest.raises(bundles.BadSignature, match="pinned FORGE key"):
        bundles.verify(make_bundle(other), PUBLIC)
    with pytest.raises(bundles.WrongProject):
        bundles.verify(make_bundle(KEY, project="00000000-0000-0000-0000-000000000000"), PUBLIC, project_id=PROJECT)
    with pytest.raises(bundles.StaleBundle, match="not newer than the held 5"):
        bundles.verify(make_bundle(KEY, sequence=5), PUBLIC, after_sequence=5)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_changing_any_single_byte_of_a_bundle_is_detected(data):
    raw = json.dumps(make_bundle(KEY, sequence=4)).encode()
    index = data.draw(st.integers(0, len(raw) - 1))
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != raw[index]))
    altered = raw[:index] + bytes([byte]) + raw[index + 1:]
    try:
        parsed = bundles.parse(altered)
    except bundles.BundleError:
        return
    original = json.loads(raw)
    if parsed == original:  # e.g. a space inside JSON structure changed into another whitespace
        return
    with pytest.raises(bundles.BundleError):
        bundles.verify(parsed, PUBLIC)


def test_public_key_text_round_trips_and_bad_keys_are_named():
    assert bundles.public_key_text(bundles.load_public_key(PUBLIC)) == PUBLIC
    with pytest.raises(ValueError, match="not an Anvil public key"):
        bundles.load_public_key("rsa:xyz")
    pem = bundles.private_key_to_pem(KEY)
    assert bundles.public_key_text(bundles.private_key_from_pem(pem)) == PUBLIC


def test_seal_does_not_change_its_input():
    body = copy.deepcopy(make_bundle(KEY))
    before = copy.deepcopy(body)
    bundles.seal(body, KEY)
    assert body == before


def test_bundles_match_the_published_json_schema():
    import importlib.resources

    import jsonschema

    schema = json.loads(importlib.resources.files("anvil_client").joinpath("bundle.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    validator.validate(make_bundle(KEY, 3))
    bad = make_bundle(KEY, 3)
    bad["prompts"]["no-dot"] = bad["prompts"].pop("emails.welcome")
    assert not validator.is_valid(bad)
