"""Tests for anvil_forge.prompts.addresses: parsing only (no Django, no database)."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anvil_forge.prompts.addresses import Address, AddressError, parse_address


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("support/emails/welcome", Address(None, "support", "emails", None, "welcome")),
        ("acme/support/emails/welcome", Address("acme", "support", "emails", None, "welcome")),
        ("support/emails@1.2.0/welcome", Address(None, "support", "emails", "1.2.0", "welcome")),
        ("acme/support/emails@latest/welcome", Address("acme", "support", "emails", "latest", "welcome")),
        ("acme/support/emails@stable/welcome", Address("acme", "support", "emails", "stable", "welcome")),
        ("support/emails@^1.2/welcome", Address(None, "support", "emails", "^1.2", "welcome")),
        ("support/emails@~1.2.3/welcome", Address(None, "support", "emails", "~1.2.3", "welcome")),
        ("support/emails@>=1.0.0 <2.0.0/welcome", Address(None, "support", "emails", ">=1.0.0 <2.0.0", "welcome")),
        ("support/emails@1.x || 2.1.*/welcome", Address(None, "support", "emails", "1.x || 2.1.*", "welcome")),
        ("support/emails@1.0.0 - 2.0.0/welcome", Address(None, "support", "emails", "1.0.0 - 2.0.0", "welcome")),
        ("support/emails@2.1.0-gpt4+tokens.1500/welcome",
         Address(None, "support", "emails", "2.1.0-gpt4+tokens.1500", "welcome")),
        ("@support/emails@1.2.0/welcome", Address(None, "support", "emails", "1.2.0", "welcome")),
        ("@support/emails/welcome", Address(None, "support", "emails", None, "welcome")),
        ("@acme/support/emails@1/welcome", Address("acme", "support", "emails", "1", "welcome")),
        ("my_org/proj-1/set_2/p-3", Address("my_org", "proj-1", "set_2", None, "p-3")),
        ("0/1/2/3", Address("0", "1", "2", None, "3")),
        # whitespace: around the address, and inside the version (normalised)
        ("  support/emails/welcome\n", Address(None, "support", "emails", None, "welcome")),
        ("support/emails@  >=  1.0.0   <2.0.0 /welcome", Address(None, "support", "emails", ">= 1.0.0 <2.0.0", "welcome")),
        ("support/emails@LATEST/welcome", Address(None, "support", "emails", "latest", "welcome")),
    ],
)
def test_valid_addresses(text: str, expected: Address) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize(
    ("address", "canonical"),
    [
        (Address(None, "support", "emails", None, "welcome"), "support/emails/welcome"),
        (Address("acme", "support", "emails", None, "welcome"), "acme/support/emails/welcome"),
        (Address("acme", "support", "emails", "^1.2", "welcome"), "acme/support/emails@^1.2/welcome"),
        (Address(None, "support", "emails", ">=1.0.0 <2.0.0", "welcome"), "support/emails@>=1.0.0 <2.0.0/welcome"),
    ],
)
def test_canonical_form(address: Address, canonical: str) -> None:
    assert str(address) == canonical
    assert parse_address(canonical) == address


def test_at_form_canonicalises_without_at() -> None:
    assert str(parse_address("@support/emails@1.2.0/welcome")) == "support/emails@1.2.0/welcome"


def test_address_is_frozen_and_hashable() -> None:
    a = parse_address("acme/support/emails/welcome")
    with pytest.raises(AttributeError):
        a.project = "other"  # type: ignore[misc]
    assert len({a, parse_address("acme/support/emails/welcome")}) == 1


@pytest.mark.parametrize(
    ("text", "part", "fragment"),
    [
        # the address as a whole
        ("", "address", "the address is empty"),
        ("   ", "address", "the address is empty"),
        ("welcome", "address", "has 1 part separated by '/'"),
        ("emails/welcome", "address", "has 2 parts"),
        ("a/b/c/d/e", "address", "has 5 parts"),
        ("support/emails/welcome/", "address", "must not start or end with '/'"),
        ("/support/emails/welcome", "address", "must not start or end with '/'"),
        ("@@support/emails/welcome", "address", "more than one '@'"),
        ("@", "address", "has 1 part"),
        # empty segments
        ("support//welcome", "prompt_set", "prompt set slug is empty"),
        ("acme//emails/welcome", "project", "project slug is empty"),
        ("acme/support/emails//x", "address", "has 5 parts"),
        ("support/@1.0.0/welcome", "prompt_set", "prompt set slug is empty"),
        # bad slugs
        ("Acme/support/emails/welcome", "organisation", "organisation slug 'Acme' is not valid"),
        ("acme/Support/emails/welcome", "project", "(did you mean 'support'?)"),
        ("support/emails.v2/welcome", "prompt_set", "(no dots)"),
        ("support/emails/wel come", "prompt", "prompt slug 'wel come' is not valid"),
        ("support/emails/welcome!", "prompt", "prompt slug 'welcome!' is not valid"),
        ("support/emails/wélcome", "prompt", "prompt slug 'wélcome' is not valid"),
        ("support /emails/welcome", "project", "project slug 'support ' is not valid"),
        # the version
        ("support/emails@/welcome", "version", "the version after '@' is empty"),
        ("support/emails@  /welcome", "version", "the version after '@' is empty"),
        ("support/emails@v1.0.0/welcome", "version", "leading 'v'"),
        ("support/emails@1.2.3.4/welcome", "version", "'1.2.3.4'"),
        ("support/emails@newest/welcome", "version", "'newest'"),
        ("support/emails@>=/welcome", "version", "operator '>=' must be followed by a version"),
        ("support/emails@1.0@2.0/welcome", "version", "only one '@'"),
        # '@' in the wrong place
        ("support/emails/welcome@1.0.0", "version", "follows the prompt 'welcome'"),
        ("support@1.0.0/emails/welcome", "version", "follows the project 'support'"),
        ("acme@1/support/emails/welcome", "version", "follows the organisation 'acme'"),
        ("acme/@support/emails/welcome", "project", "'@' can only start the whole address"),
        ("support/emails/welcome@", "prompt", "prompt slug 'welcome@' is not valid"),
    ],
)
def test_bad_addresses_name_the_part(text: str, part: str, fragment: str) -> None:
    with pytest.raises(AddressError) as info:
        parse_address(text)
    error = info.value
    assert error.part == part
    assert fragment in str(error)
    assert str(error) == error.message


def test_exact_messages() -> None:
    with pytest.raises(AddressError) as info:
        parse_address("support/Emails!/welcome")
    assert info.value.part == "prompt_set"
    assert str(info.value) == "prompt set slug 'Emails!' is not valid: use lowercase letters, digits, '-' and '_'"

    with pytest.raises(AddressError) as info:
        parse_address("emails/welcome")
    assert str(info.value) == (
        "address 'emails/welcome' has 2 parts separated by '/', expected 3 or 4: "
        "[org/]project/prompt_set[@version]/prompt or @project/prompt_set@version/prompt, "
        "e.g. acme/support/emails@^1.2/welcome"
    )


def test_version_error_carries_the_specifier_message() -> None:
    with pytest.raises(AddressError) as info:
        parse_address("support/emails@^1.02/welcome")
    assert info.value.part == "version"
    assert str(info.value).startswith("the version is not valid: invalid version specifier '^1.02': ")
    assert "leading zeros" in str(info.value)


def test_first_problem_from_left_to_right() -> None:
    with pytest.raises(AddressError) as info:
        parse_address("Acme/Support/emails@bad/Welcome")
    assert info.value.part == "organisation"
    with pytest.raises(AddressError) as info:
        parse_address("acme/support/emails@bad/Welcome")
    assert info.value.part == "version"


def test_address_error_is_value_error_and_pickles() -> None:
    error = AddressError("project", "project slug 'X' is not valid")
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.part, copy.message, str(copy)) == ("project", "project slug 'X' is not valid", str(error))
    with pytest.raises(AddressError) as info:
        parse_address(None)  # type: ignore[arg-type]
    assert info.value.part == "address"


# ---------------------------------------------------------------- round trip

_SLUGS = st.text("abcxyz0189_-", min_size=1, max_size=12)
_VERSIONS = st.sampled_from([
    "1.0.0", "0.0.1", "2.1.0-gpt4+tokens.1500", "1.0.0-rc.1", "latest", "stable", "^1.2", "^0.0.3",
    "~1.2.3", "~1", ">=1.0.0 <2.0.0", ">1.0.0", "<=2.0.0", "=1.2.3", ">=1.2", "1.x", "1.2.*", "*",
    "1.2.3 - 2.3.4", "^1.0.0 || ^2.0.0", ">= 1.0.0", "1",
]) | st.builds(
    lambda a, b, c, pre: f"{a}.{b}.{c}" + (f"-{pre}" if pre else ""),
    st.integers(0, 10**6), st.integers(0, 99), st.integers(0, 99),
    st.sampled_from(["", "alpha", "beta.2", "rc-1.x"]),
)
_ADDRESSES = st.builds(
    Address,
    organisation=st.none() | _SLUGS,
    project=_SLUGS,
    prompt_set=_SLUGS,
    version=st.none() | _VERSIONS,
    prompt=_SLUGS,
)


@settings(max_examples=200, deadline=None, database=None)
@given(_ADDRESSES)
def test_round_trip(address: Address) -> None:
    text = str(address)
    parsed = parse_address(text)
    assert parsed == address
    assert str(parsed) == text
    assert parse_address(f"  {text} ") == address
    if address.organisation is None:
        assert parse_address("@" + text) == address


@settings(max_examples=200, deadline=None, database=None)
@given(st.text(max_size=40))
def test_arbitrary_text_parses_or_raises_address_error(text: str) -> None:
    try:
        address = parse_address(text)
    except AddressError as error:
        assert error.part in {"address", "organisation", "project", "prompt_set", "version", "prompt"}
        assert error.message
        return
    assert parse_address(str(address)) == address
