"""Parsing prompt addresses (pure Python, no Django; resolving is in :mod:`.resolver`).

Grammar::

    [org/]project/prompt_set[@version]/prompt
    @project/prompt_set[@version]/prompt

Slugs are lowercase ``[a-z0-9_-]+`` (no dots). The version is any version
specifier (:func:`anvil_client.versions.parse_specifier`): an exact label,
``latest``, ``stable`` or an npm-style range, which may contain spaces
(``acme/support/emails@>=1.0.0 <2.0.0/welcome``); no version means the working
copy. A leading ``@`` is accepted and ignored (``@project/...`` is the same
address as ``project/...``; ``@org/project/...`` works too); the canonical
form, ``str(address)``, never has it.

Errors are :class:`AddressError` with ``part`` naming what is wrong:
"address" (empty, wrong number of ``/``-separated parts, ``/`` at either end,
more than one leading ``@``), "organisation", "project", "prompt_set",
"prompt" (empty or bad slug, stray ``@``) or "version" (empty, invalid or
misplaced version). Problems with the whole address come first, then the
first wrong part from left to right.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from anvil_client.versions import VersionError, parse_specifier

__all__ = ["AddressError", "Address", "parse_address", "FORMS"]

FORMS: Final = "[org/]project/prompt_set[@version]/prompt or @project/prompt_set@version/prompt"
_EXAMPLE: Final = "e.g. acme/support/emails@^1.2/welcome"
_SLUG_RE: Final = re.compile(r"[a-z0-9_-]+", re.ASCII)
_NAMES: Final = {
    "organisation": "organisation",
    "project": "project",
    "prompt_set": "prompt set",
    "prompt": "prompt",
}


class AddressError(ValueError):
    """A bad address. ``part`` says which part is wrong; ``str(e) == e.message``.

    ``part`` is one of "address", "organisation", "project", "prompt_set",
    "version", "prompt".
    """

    part: str
    message: str

    def __init__(self, part: str, message: str) -> None:
        super().__init__(message)
        self.part = part
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[type[AddressError], tuple[str, str]]:
        # keep pickling (e.g. across processes) working with the two-argument constructor
        return (type(self), (self.part, self.message))


@dataclass(frozen=True)
class Address:
    """A parsed address. ``version`` None means the working copy.

    Build one with :func:`parse_address`, which validates every part and
    normalises the version text (``Specifier.text``); the constructor itself
    does not validate.
    """

    organisation: str | None
    project: str
    prompt_set: str
    version: str | None
    prompt: str

    def __str__(self) -> str:
        """Canonical form: ``[org/]project/prompt_set[@version]/prompt``."""
        head = f"{self.organisation}/" if self.organisation is not None else ""
        version = f"@{self.version}" if self.version is not None else ""
        return f"{head}{self.project}/{self.prompt_set}{version}/{self.prompt}"


def _check_slug(part: str, slug: str) -> None:
    what = _NAMES[part]
    if slug == "":
        raise AddressError(part, f"{what} slug is empty (check for '//')")
    if "@" in slug:
        if slug.startswith("@"):
            where = "'@' can only start the whole address (@project/prompt_set@version/prompt)"
        else:
            where = "a version goes after the prompt set: project/prompt_set@version/prompt"
        raise AddressError(part, f"{what} slug {slug!r} is not valid: {where}")
    if not _SLUG_RE.fullmatch(slug):
        hint = ""
        if _SLUG_RE.fullmatch(slug.lower()):
            hint = f" (did you mean {slug.lower()!r}?)"
        elif "." in slug:
            hint = " (no dots)"
        raise AddressError(part, f"{what} slug {slug!r} is not valid: use lowercase letters, digits, '-' and '_'{hint}")


def _misplaced_version(part: str, segment: str) -> None:
    """``prompt@1.0.0`` or ``project@1.0.0``: a version after the wrong part."""
    slug, at, rest = segment.partition("@")
    if at and slug and rest:
        raise AddressError(
            "version",
            f"the version {rest!r} follows the {_NAMES[part]} {slug!r}; "
            "a version goes after the prompt set: project/prompt_set@version/prompt",
        )


def parse_address(text: str) -> Address:
    """Parse ``[org/]project/prompt_set[@version]/prompt`` (or the ``@project/...`` form).

    Surrounding whitespace is ignored; the version is validated with
    :func:`anvil_client.versions.parse_specifier` and kept in its normalised
    form.

    :raises AddressError: with ``part`` naming the wrong part.
    """
    if not isinstance(text, str):
        raise AddressError("address", f"an address must be a string, not {type(text).__name__}")
    body = text.strip()
    if body == "":
        raise AddressError("address", f"the address is empty: expected {FORMS}, {_EXAMPLE}")
    if body.startswith("@"):
        body = body[1:]
        if body.startswith("@"):
            raise AddressError("address", f"address {text.strip()!r} starts with more than one '@': expected {FORMS}")
    if body.startswith("/") or body.endswith("/"):
        raise AddressError(
            "address", f"address {text.strip()!r} must not start or end with '/': expected {FORMS}, {_EXAMPLE}"
        )
    segments = body.split("/")
    if len(segments) not in (3, 4):
        count = f"{len(segments)} part" + ("" if len(segments) == 1 else "s")
        raise AddressError(
            "address",
            f"address {text.strip()!r} has {count} separated by '/', expected 3 or 4: {FORMS}, {_EXAMPLE}",
        )
    organisation: str | None = segments[0] if len(segments) == 4 else None
    project, set_segment, prompt = segments[-3:]

    if organisation is not None:
        _misplaced_version("organisation", organisation)
        _check_slug("organisation", organisation)
    _misplaced_version("project", project)
    _check_slug("project", project)
    prompt_set, at, version_text = set_segment.partition("@")
    if prompt_set == "" and at:
        raise AddressError("prompt_set", f"prompt set slug is empty: expected prompt_set@{version_text.strip()}")
    _check_slug("prompt_set", prompt_set)

    version: str | None = None
    if at:
        if version_text.strip() == "":
            raise AddressError(
                "version",
                "the version after '@' is empty: give a label (1.2.0), 'latest', 'stable' or a range (^1.2), "
                "or leave out '@' for the working copy",
            )
        if "@" in version_text:
            raise AddressError("version", f"version {version_text!r} is not valid: only one '@' may follow the prompt set")
        try:
            version = parse_specifier(version_text).text
        except VersionError as exc:
            raise AddressError("version", f"the version is not valid: {exc}") from None

    _misplaced_version("prompt", prompt)
    _check_slug("prompt", prompt)
    return Address(organisation, project, prompt_set, version, prompt)
