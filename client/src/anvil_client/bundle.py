"""The bundle: the signed document a FORGE sends to LIVE clients (docs/bundle-format.md).

One function builds a bundle's body (:func:`make_body`), one seals it
(:func:`seal`: checksum + Ed25519 signature) and one checks it
(:func:`verify`). The FORGE imports this module, so what it signs is exactly
what clients verify.

Canonical serialisation: JSON with sorted keys, no insignificant white space,
UTF-8, non-ASCII characters kept as they are. The checksum is the SHA-256 of
the canonical serialisation of the bundle without its ``checksum`` and
``signature`` members; the signature is Ed25519 over those same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from . import composition
from .templates import parse_parameters

FORMAT = "anvil-bundle"
FORMAT_VERSION = 4
"""The newest bundle format this module writes and reads."""
FORMAT_VERSIONS = (1, 2, 3, 4)
"""Every bundle format this module reads. A FORGE writes the lowest one that can hold what is published
(version 1 while there are only text prompts with string, number and boolean parameters and no partials;
version 3 only for the sets' test summaries, version 4 only for the channel and the sets' digests), so
clients of earlier releases keep taking updates until something needs a newer version."""
_SEAL_FIELDS = ("checksum", "signature")
_V1_TYPES = frozenset(["string", "number", "boolean"])
_SET_FIELDS = ("slug", "version", "version_id")  # a prompt_sets entry in format 1 (2 adds locks, 3 tests, 4 digest)
FORMATS_HEADER = "X-Anvil-Bundle-Formats"
"""The header a client pulls with, naming the formats it reads (``1,2,3,4``): the FORGE writes the bundle it
can read (docs/bundle-format.md). Clients before format 3 send none."""
DEFAULT_CHANNEL = "production"
"""The channel every project has. A bundle below format 4 (a FORGE of an earlier release, which has no
channels) is taken to be this channel's when a client compares channels."""
CHANNEL_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
"""A channel name (format 4's ``channel``), matched whole: 1–64 characters."""
_DIGEST_PATTERN = re.compile(r"sha256:[0-9a-f]{64}")
TEST_COUNTS = ("total", "passed", "failed")
"""The members of a set version's test summary (format 3)."""


class BundleError(Exception):
    """A bundle was refused. ``reason`` is a short machine-readable word."""

    reason = "invalid"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MalformedBundle(BundleError):
    reason = "malformed"


class UnknownFormat(BundleError):
    reason = "unknown_format"


class ChecksumMismatch(BundleError):
    reason = "checksum"


class BadSignature(BundleError):
    reason = "signature"


class WrongProject(BundleError):
    reason = "project"


class StaleBundle(BundleError):
    reason = "stale"


class WrongChannel(BundleError):
    reason = "channel"


def canonical(value: Any) -> bytes:
    """The canonical JSON bytes of a value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def _signed_part(bundle: Mapping[str, Any]) -> bytes:
    return canonical({k: v for k, v in bundle.items() if k not in _SEAL_FIELDS})


def checksum(bundle: Mapping[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(_signed_part(bundle)).hexdigest()


def set_digest(prompts_of_set: Mapping[str, Mapping[str, Any]], locks: Mapping[str, str]) -> str:
    """A prompt set's digest (format 4): ``sha256:`` + hex SHA-256 of the canonical
    ``{"prompts": {prompt slug: prompt as in the bundle}, "locks": locks}``. Equal digests mean a set serves
    the same content, whichever bundle, channel or cohort it came in."""
    return "sha256:" + hashlib.sha256(canonical({"prompts": prompts_of_set, "locks": locks})).hexdigest()


def _digests(prompt_sets: Iterable[Mapping[str, Any]], prompts: Mapping[str, Any]) -> list[str]:
    """Each set entry's digest, in order, from the bundle's own ``prompts`` (flat ids, grouped by set)."""
    by_set: dict[str, dict[str, Any]] = {}
    for pid, prompt in prompts.items():
        slug, _, name = pid.partition(".")
        by_set.setdefault(slug, {})[name] = prompt
    return [set_digest(by_set.get(s["slug"], {}), s.get("locks") or {}) for s in prompt_sets]


# --- keys -------------------------------------------------------------------------

def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_to_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def private_key_from_pem(data: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the FORGE key is not an Ed25519 key")
    return key


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The public key as ``ed25519:<base64 of the 32 raw bytes>`` (what clients pin)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + base64.b64encode(raw).decode("ascii")


def load_public_key(text: str) -> Ed25519PublicKey:
    prefix, _, data = (text or "").strip().partition(":")
    try:
        if prefix != "ed25519":
            raise ValueError
        raw = base64.b64decode(data, validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise ValueError(f"not an Anvil public key: {text[:60]!r} (expected 'ed25519:<base64>')") from None


def key_id(public_key: str) -> str:
    """A short fingerprint of a public key, for display."""
    return hashlib.sha256(public_key.encode()).hexdigest()[:16]


# --- building -------------------------------------------------------------------

_PARAMETER_FIELDS = frozenset(["name", "type", "description", "required", "default"])


def _normalise_parameters(parameters: Any) -> list[dict[str, Any]]:
    return [q.to_dict() for q in parse_parameters(parameters)]


def _normalised_parameters(parameters: Any) -> list[dict[str, Any]]:
    """Declarations the caller says are already normalised (``Parameter.to_dict()``
    output, as the FORGE stores them): used as they are. A list with a
    declaration lacking exactly the five normalised fields is normalised all
    the same."""
    if type(parameters) is list:
        for q in parameters:
            if type(q) is not dict or q.keys() != _PARAMETER_FIELDS:
                break
        else:
            return list(parameters)
    return _normalise_parameters(parameters)


def _v1_prompt(prompt: Mapping[str, Any], parameters: list[dict[str, Any]]) -> bool:
    """Can a format-1 client serve this prompt? (text, no config, no partials, the first three types)"""
    return ((prompt.get("kind") or "text") == "text" and not prompt.get("config")
            and not composition.RENDER_TAG.search(str(prompt.get("template", "")))
            and all(q.keys() == _PARAMETER_FIELDS and q["type"] in _V1_TYPES for q in parameters))


def _v2_prompt(prompt: Mapping[str, Any], parameters: list[dict[str, Any]]) -> dict[str, Any]:
    kind = prompt.get("kind") or "text"
    entry: dict[str, Any] = {"kind": kind, "parameters": parameters, "config": dict(prompt.get("config") or {}),
                             "metadata": dict(prompt.get("metadata", {}))}
    if kind == "chat":
        entry["messages"] = [dict(m) for m in prompt.get("messages", [])]
    else:
        entry["template"] = prompt["template"]
    return entry


def _test_summary(tests: Any) -> dict[str, int] | None:
    """A set version's test counts, ``{total, passed, failed}`` (None: it has no tests)."""
    if not tests:
        return None
    return {key: int(tests[key]) for key in TEST_COUNTS}


def _set_entry(entry: Mapping[str, Any], version: int) -> dict[str, Any]:
    # Only the members of the format written: nothing else a caller passes (say, test summaries for a
    # reader of format 2) reaches a bundle.
    out = {k: entry[k] for k in _SET_FIELDS if k in entry}
    if version >= 2:
        out["locks"] = dict(entry.get("locks") or {})
    if version >= 3 and entry.get("tests"):
        out["tests"] = entry["tests"]
    return out


def make_body(*, project: Mapping[str, str], sequence: int, created_at: str,
              prompt_sets: Iterable[Mapping[str, Any]], prompts: Mapping[str, Mapping[str, Any]],
              forge_key: str, parameters_normalised: bool = False,
              dependencies: Iterable[Mapping[str, Any]] = (), max_format: int = FORMAT_VERSION,
              channel: str | None = None) -> dict[str, Any]:
    """The unsigned bundle (docs/bundle-format.md), in the lowest format version that holds it.

    ``prompt_sets``: ``{slug, version, version_id, locks?, tests?}`` (``locks``: dependency slug → the label
    its version was locked to; ``tests``: the version's test summary, ``{total, passed, failed}``, or
    None); ``prompts``: by flat id, ``{kind?, template | messages, parameters, config?, metadata}``
    (``config``: the model configuration, already merged over the set's defaults; anything else, such as a
    prompt's test definitions, is left out); ``dependencies``: the locked versions of other sets that the
    published prompts render as partials, transitively, ``{slug, version, locks, prompts: {prompt slug:
    {template, parameters, ...}}}``.

    ``max_format``: the newest format the reader takes. The test summaries are informative, so for a reader
    below format 3 they are left out rather than making the bundle one it cannot read; the content itself
    is never left out (content that needs format 2 is written as format 2 whatever the reader).

    ``channel``: the channel published to. With a reader of format 4 the bundle is format 4: the channel
    and each set's digest added to what format 3 holds. Both are informative for an older reader, which
    gets the format 1–3 bundle without them.

    Parameters are normalised (validated, every field present) with
    ``parse_parameters``; ``parameters_normalised=True`` says they already are
    (the FORGE validates and normalises them when a prompt is saved), which
    skips re-validating every declaration of every prompt on each build.
    """
    normalise = _normalised_parameters if parameters_normalised else _normalise_parameters
    sets = sorted(({**s, "tests": _test_summary(s.get("tests"))} for s in prompt_sets), key=lambda s: s["slug"])
    normalised = {pid: normalise(p.get("parameters", [])) for pid, p in prompts.items()}
    dependencies = [dict(d) for d in dependencies]
    version = 1 if (not dependencies and not any(s.get("locks") for s in sets)
                    and all(_v1_prompt(p, normalised[pid]) for pid, p in prompts.items())) else 2
    if max_format >= 3 and any(s["tests"] for s in sets):
        version = 3
    if max_format >= 4 and channel is not None:
        if not CHANNEL_PATTERN.fullmatch(channel):
            raise ValueError(f"not a channel name: {channel!r}")  # every client would refuse the bundle
        version = 4
    body: dict[str, Any] = {
        "format": FORMAT,
        "format_version": version,
        "forge_key": forge_key,
        "project": {"id": str(project["id"]), "slug": project["slug"], "name": project["name"]},
        **({"channel": channel} if version >= 4 else {}),
        "sequence": int(sequence),
        "created_at": created_at,
    }
    body["prompt_sets"] = [_set_entry(s, version) for s in sets]
    if version == 1:
        body["prompts"] = {pid: {"template": p["template"], "parameters": normalised[pid],
                                 "metadata": dict(p.get("metadata", {}))} for pid, p in prompts.items()}
        return body
    body["prompts"] = {pid: _v2_prompt(p, normalised[pid]) for pid, p in prompts.items()}
    body["dependencies"] = sorted(
        ({"slug": d["slug"], "version": d["version"], "locks": dict(d.get("locks") or {}),
          "prompts": {slug: _v2_prompt(p, normalise(p.get("parameters", [])))
                      for slug, p in d.get("prompts", {}).items()}} for d in dependencies),
        key=lambda d: (d["slug"], d["version"]))
    if version >= 4:
        for entry, digest in zip(body["prompt_sets"], _digests(body["prompt_sets"], body["prompts"])):
            entry["digest"] = digest
    return body


def seal(body: Mapping[str, Any], private_key: Ed25519PrivateKey) -> dict[str, Any]:
    """Add the checksum and the signature."""
    sealed = {k: v for k, v in body.items() if k not in _SEAL_FIELDS}
    # The canonical bytes, as canonical() gives them; a body is never circular
    # (make_body builds it fresh), so the encoder's reference tracking is skipped.
    payload = json.dumps(sealed, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                         check_circular=False).encode("utf-8")
    sealed["checksum"] = "sha256:" + hashlib.sha256(payload).hexdigest()
    sealed["signature"] = "ed25519:" + base64.b64encode(private_key.sign(payload)).decode("ascii")
    return sealed


# --- checking -------------------------------------------------------------------

@dataclass(frozen=True)
class Bundle:
    """A verified bundle."""

    data: dict[str, Any]

    # (``data`` passed verify(): the annotations state what it checked.)

    @property
    def project_id(self) -> str:
        value: str = self.data["project"]["id"]
        return value

    @property
    def sequence(self) -> int:
        value: int = self.data["sequence"]
        return value

    @property
    def checksum(self) -> str:
        value: str = self.data["checksum"]
        return value

    @property
    def prompts(self) -> dict[str, dict[str, Any]]:
        value: dict[str, dict[str, Any]] = self.data["prompts"]
        return value

    @property
    def versions(self) -> dict[str, str]:
        """Prompt-set slug → version label."""
        return {s["slug"]: s["version"] for s in self.data["prompt_sets"]}

    @property
    def format_version(self) -> int:
        value: int = self.data["format_version"]
        return value

    @property
    def locks(self) -> dict[str, dict[str, str]]:
        """Prompt-set slug → its locks (dependency slug → label); empty in format 1."""
        return {s["slug"]: dict(s.get("locks") or {}) for s in self.data["prompt_sets"]}

    @property
    def dependencies(self) -> list[dict[str, Any]]:
        """The locked versions of other sets rendered as partials (format 2; empty in format 1)."""
        value: list[dict[str, Any]] = self.data.get("dependencies", [])
        return value

    @property
    def tests(self) -> dict[str, dict[str, int]]:
        """Prompt-set slug → its version's test summary ``{total, passed, failed}``, for the sets whose
        version has tests (format 3; empty before)."""
        return {s["slug"]: dict(s["tests"]) for s in self.data["prompt_sets"] if s.get("tests")}

    @property
    def channel(self) -> str | None:
        """The channel the bundle was published to (format 4; None before)."""
        value: str | None = self.data["channel"] if self.format_version >= 4 else None
        return value

    @property
    def digests(self) -> dict[str, str]:
        """Prompt-set slug → the digest of what it serves (format 4; empty before)."""
        if self.format_version < 4:
            return {}
        return {s["slug"]: s["digest"] for s in self.data["prompt_sets"]}


def parse(raw: bytes | str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedBundle(f"the bundle is not valid JSON ({exc})") from None
    except RecursionError:
        raise MalformedBundle("the bundle is nested too deeply to parse") from None
    if not isinstance(data, dict):
        raise MalformedBundle("the bundle is not a JSON object")
    return data


def _shape(data: Mapping[str, Any]) -> None:
    def need(cond: bool, what: str) -> None:
        if not cond:
            raise MalformedBundle(f"the bundle's {what} is missing or malformed")

    need(isinstance(data.get("project"), dict) and isinstance(data["project"].get("id"), str), "project")
    need(isinstance(data.get("sequence"), int) and not isinstance(data["sequence"], bool)
         and data["sequence"] >= 0, "sequence")
    need(isinstance(data.get("prompt_sets"), list) and all(
        isinstance(s, dict) and isinstance(s.get("slug"), str) and isinstance(s.get("version"), str)
        for s in data["prompt_sets"]), "prompt_sets")
    v2 = data.get("format_version") in (2, 3, 4)  # formats 3 and 4 are format 2 with more set members
    need(isinstance(data.get("prompts"), dict) and all(
        isinstance(k, str) and k.count(".") == 1 and _prompt_shape(p, v2) for k, p in data["prompts"].items()),
        "prompts")
    if v2:
        need(all(isinstance(s.get("locks"), dict) and all(isinstance(k, str) and isinstance(v, str)
                                                          for k, v in s["locks"].items())
                 for s in data["prompt_sets"]), "prompt_sets locks")
        need(isinstance(data.get("dependencies"), list) and all(
            isinstance(d, dict) and isinstance(d.get("slug"), str) and isinstance(d.get("version"), str)
            and isinstance(d.get("locks"), dict) and isinstance(d.get("prompts"), dict)
            and all(isinstance(k, str) and _prompt_shape(p, True) for k, p in d["prompts"].items())
            for d in data["dependencies"]), "dependencies")
    if data.get("format_version") in (3, 4):
        need(all(_tests_shape(s.get("tests")) for s in data["prompt_sets"]), "prompt_sets tests")
    if data.get("format_version") == 4:
        need(isinstance(data.get("channel"), str) and CHANNEL_PATTERN.fullmatch(data["channel"]) is not None,
             "channel")
        need(all(isinstance(s.get("digest"), str) and _DIGEST_PATTERN.fullmatch(s["digest"])
                 for s in data["prompt_sets"]), "prompt_sets digest")
    need(isinstance(data.get("checksum"), str), "checksum")
    need(isinstance(data.get("signature"), str), "signature")


def _tests_shape(tests: Any) -> bool:
    """Absent, or ``{total, passed, failed}``: counts that add up."""
    if tests is None:
        return True
    return (isinstance(tests, dict) and tests.keys() == set(TEST_COUNTS)
            and all(isinstance(tests[k], int) and not isinstance(tests[k], bool) and tests[k] >= 0
                    for k in TEST_COUNTS)
            and tests["passed"] + tests["failed"] == tests["total"])


def _prompt_shape(p: Any, v2: bool) -> bool:
    if not isinstance(p, dict) or not isinstance(p.get("parameters", []), list):
        return False
    if not v2:
        return isinstance(p.get("template"), str)
    if p.get("kind") == "chat":
        return isinstance(p.get("messages"), list) and isinstance(p.get("config", {}), dict)
    return p.get("kind") == "text" and isinstance(p.get("template"), str) and isinstance(p.get("config", {}), dict)


def verify(data: Mapping[str, Any], public_key: str | Ed25519PublicKey, *, project_id: str | None = None,
           after_sequence: int | None = None, channel: str | None = None) -> Bundle:
    """Check format, checksum and signature (against the pinned key), the sets' digests (format 4),
    project, channel and sequence.

    ``channel``: the channel the client follows; a format-4 bundle of another is refused
    (:class:`WrongChannel`). A bundle below format 4 names no channel and passes.

    Raises a :class:`BundleError` subclass naming the problem; returns a :class:`Bundle` otherwise.
    """
    if not isinstance(data, Mapping):
        raise MalformedBundle("the bundle is not a JSON object")
    if data.get("format") != FORMAT or not isinstance(data.get("format_version"), int):
        raise UnknownFormat("this is not an Anvil bundle")
    if data["format_version"] not in FORMAT_VERSIONS:
        raise UnknownFormat(f"bundle format version {data['format_version']} is not supported "
                            f"(this client knows versions {', '.join(map(str, FORMAT_VERSIONS))}); "
                            f"upgrade anvil-client")
    _shape(data)
    try:
        payload = _signed_part(data)
    except ValueError as exc:
        raise MalformedBundle(f"the bundle cannot be serialised canonically ({exc})") from None
    except RecursionError:
        raise MalformedBundle("the bundle is nested too deeply to serialise") from None
    if data["checksum"] != "sha256:" + hashlib.sha256(payload).hexdigest():
        raise ChecksumMismatch("the bundle's checksum does not match its content (altered or corrupt)")
    key = load_public_key(public_key) if isinstance(public_key, str) else public_key
    prefix, _, sig = data["signature"].partition(":")
    try:
        if prefix != "ed25519":
            raise ValueError
        key.verify(base64.b64decode(sig, validate=True), payload)
    except (ValueError, InvalidSignature):
        raise BadSignature("the bundle's signature does not verify against the pinned FORGE key") from None
    if data["format_version"] >= 4:
        # Signed, so not altered in transit: a digest that disagrees means the FORGE built it wrongly.
        for entry, digest in zip(data["prompt_sets"], _digests(data["prompt_sets"], data["prompts"])):
            if entry["digest"] != digest:
                raise MalformedBundle(f"the digest of prompt set {entry['slug']} does not match its prompts")
    if project_id is not None and data["project"]["id"] != str(project_id):
        raise WrongProject(f"the bundle is for project {data['project'].get('slug', data['project']['id'])}, "
                           f"not this client's project")
    if channel is not None and data["format_version"] >= 4 and data["channel"] != channel:
        raise WrongChannel(f"the bundle is for channel {data['channel']}, not this client's channel {channel}")
    if after_sequence is not None and data["sequence"] <= after_sequence:
        raise StaleBundle(f"the bundle's sequence {data['sequence']} is not newer than the held {after_sequence}")
    return Bundle(dict(data))
