"""Semantic Versioning 2.0.0 labels and version specifiers.

Shared by the FORGE server (version labels, the "versions only roll forward"
rule, address resolution) and the client (pins). Parsing and precedence come
from the maintained :mod:`semver` library (:class:`semver.Version`); this
module adds strict label validation with readable errors, a total sort key,
and npm-style version specifiers.

Labels
    Strict SemVer 2.0.0: ``MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]``, e.g.
    ``1.2.0`` or ``2.1.0-gpt4+tokens.1500``. No leading ``v``, no surrounding
    whitespace, no leading zeros, ASCII only. Build metadata is ignored for
    precedence (``1.0.0+a`` and ``1.0.0+b`` have equal precedence).

Specifiers (:func:`parse_specifier`, :class:`Specifier`)
    * ``latest`` -- the highest precedence label, pre-releases included.
    * ``stable`` -- the highest precedence label without a pre-release part.
    * An exact label, ``1.2.3`` or ``2.1.0-gpt4+tokens.1500`` (``=1.2.3`` is the
      same). It matches labels of equal precedence; if it carries build
      metadata, the label's build metadata must be identical too. When several
      labels match, :meth:`Specifier.select` prefers the label that is
      string-for-string identical to the specifier.
    * npm ranges, with npm's semantics: caret ``^1.2.3`` ``^1.2`` ``^1``
      ``^0.2.3`` ``^0.0.3``; tilde ``~1.2.3`` ``~1.2`` ``~1``; comparators
      ``>=1.0.0 <2.0.0``, ``>1.0.0``, ``<=2.0.0``, ``=1.2.3``, partial versions
      ``>=1.2``; x-ranges ``1.x``, ``1.2.*``, ``*`` and bare partials ``1.2``
      (= ``1.2.x``); hyphen ranges ``1.2.3 - 2.3.4``; unions with ``||``.
      Whitespace is free around operators and ``||``
      (``>= 1.0.0  <2.0.0``).

    Pre-release rule (npm): a range only matches a pre-release label if some
    comparator in the same comparator set (the same ``||`` alternative) has the
    same ``MAJOR.MINOR.PATCH`` and a pre-release part itself. So ``^1.2.0``
    does not match ``1.3.0-beta`` and ``*`` matches no pre-release at all, but
    ``>=1.3.0-alpha <2.0.0`` matches ``1.3.0-beta``.

    Deliberately stricter than npm: no leading ``v``, no ``~>``, no empty
    specifier or empty ``||`` alternative, and no digits after a wildcard
    (``1.x.3``). Build metadata on a non-``=`` comparator is ignored.

    Two deliberate differences from node-semver (checked against it on
    thousands of random ranges, otherwise identical): an ``=``/exact
    comparator with build metadata also requires equal build metadata (npm
    ignores it), and a union is always the union of its alternatives (npm
    reduces ``<=2.0.0-rc.2 || >=0`` to ``*``, losing the first alternative's
    pre-releases).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import semver

__all__ = [
    "VersionError",
    "parse_label",
    "is_valid_label",
    "sort_key",
    "compare",
    "check_new_label",
    "Specifier",
    "parse_specifier",
]


class VersionError(ValueError):
    """A bad version label or version specifier; ``str(e)`` says what is wrong."""


# --------------------------------------------------------------------------
# Labels
# --------------------------------------------------------------------------

_NUM_RE: Final = re.compile(r"[0-9]+", re.ASCII)
_IDENT_RE: Final = re.compile(r"[0-9A-Za-z-]+", re.ASCII)
_LABEL_FORM: Final = "MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD], e.g. 2.1.0-gpt4+tokens.1500"


def _show(text: str, limit: int = 60) -> str:
    """repr() of *text*, shortened for error messages."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _label_problem(label: str) -> str:
    """Explain, in a few words, why *label* is not a valid SemVer 2.0.0 label."""
    if label == "":
        return "it is empty"
    if label != label.strip():
        return "remove the surrounding whitespace"
    if any(c.isspace() for c in label):
        return "it must not contain whitespace"
    if not label.isascii():
        return "only ASCII letters, digits, '.', '-' and '+' are allowed"
    if label[0] in "vV" and is_valid_label(label[1:]):
        return f"remove the leading {label[0]!r}: {label[1:]}"
    core, plus, build = label.partition("+")
    core, dash, pre = core.partition("-")
    parts = core.split(".")
    if not all(_NUM_RE.fullmatch(p) for p in parts) or len(parts) > 3:
        return f"expected {_LABEL_FORM}"
    for p in parts:
        if len(p) > 1 and p.startswith("0"):
            return f"numbers must not have leading zeros: {p!r}"
        try:
            int(p)
        except ValueError:  # beyond Python's int/str conversion limit
            return "a number is too long"
    if len(parts) < 3:
        padded = ".".join(parts + ["0"] * (3 - len(parts)))
        example = padded if is_valid_label(padded) else "1.2.0"
        return f"expected MAJOR.MINOR.PATCH, e.g. {example}"
    for kind, sep, text in (("pre-release", dash, pre), ("build", plus, build)):
        if not sep:
            continue
        for ident in text.split("."):
            if ident == "":
                return f"{kind} identifiers must not be empty: check for '..' or a trailing '.', '-' or '+'"
            if not _IDENT_RE.fullmatch(ident):
                return f"{kind} identifiers may only contain ASCII letters, digits and '-': {ident!r}"
            if kind == "pre-release" and _NUM_RE.fullmatch(ident) and len(ident) > 1 and ident[0] == "0":
                return f"numeric pre-release identifiers must not have leading zeros: {ident!r}"
    return f"expected {_LABEL_FORM}"


def parse_label(label: str) -> semver.Version:
    """Parse a strict SemVer 2.0.0 label into a :class:`semver.Version`.

    Pre-release and build metadata are allowed (``2.1.0-gpt4+tokens.1500``);
    a leading ``v``, surrounding whitespace, partial versions (``1.2``) and
    leading zeros are not.

    :raises VersionError: naming the label and what is wrong with it.
    """
    if not isinstance(label, str):
        raise VersionError(f"a version label must be a string, not {type(label).__name__}")
    # semver's own pattern is strict, but guard against versions of the
    # library whose pattern accepts non-ASCII digits or a trailing newline.
    ok = label.isascii() and not any(c.isspace() or not c.isprintable() for c in label)
    if ok:
        try:
            return semver.Version.parse(label)
        except (ValueError, TypeError):
            pass
    raise VersionError(
        f"{_show(label)} is not a valid semantic version label ({_label_problem(label)})"
    )


def is_valid_label(label: str) -> bool:
    """True if *label* is a valid strict SemVer 2.0.0 label (see :func:`parse_label`)."""
    try:
        parse_label(label)
    except VersionError:
        return False
    return True


class SortKey:
    """Total order on labels: SemVer precedence, ties broken by the raw string.

    Returned by :func:`sort_key`. Two keys are equal only if their labels are
    the same string; ``1.0.0+a`` sorts before ``1.0.0+b`` (equal precedence,
    then string order) and both sort after ``1.0.0-rc.1``.
    """

    __slots__ = ("label", "version")

    label: str
    version: semver.Version

    def __init__(self, label: str) -> None:
        object.__setattr__(self, "version", parse_label(label))
        object.__setattr__(self, "label", label)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("SortKey is immutable")

    def __reduce__(self) -> tuple[type[SortKey], tuple[str]]:
        return (type(self), (self.label,))

    def _cmp(self, other: SortKey) -> int:
        c = self.version.compare(other.version)
        if c:
            return c
        return (self.label > other.label) - (self.label < other.label)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SortKey):
            return NotImplemented
        return self.label == other.label

    def __hash__(self) -> int:
        return hash(self.label)

    def __lt__(self, other: SortKey) -> bool:
        if not isinstance(other, SortKey):
            return NotImplemented
        return self._cmp(other) < 0

    def __le__(self, other: SortKey) -> bool:
        if not isinstance(other, SortKey):
            return NotImplemented
        return self._cmp(other) <= 0

    def __gt__(self, other: SortKey) -> bool:
        if not isinstance(other, SortKey):
            return NotImplemented
        return self._cmp(other) > 0

    def __ge__(self, other: SortKey) -> bool:
        if not isinstance(other, SortKey):
            return NotImplemented
        return self._cmp(other) >= 0

    def __repr__(self) -> str:
        return f"SortKey({self.label!r})"


def sort_key(label: str) -> SortKey:
    """Key for ``sorted(labels, key=sort_key)`` / ``max(labels, key=sort_key)``.

    Orders by SemVer precedence (build metadata ignored), then by the raw
    label string, so the order is total and deterministic.

    :raises VersionError: if *label* is not a valid label.
    """
    return SortKey(label)


def compare(a: str, b: str) -> int:
    """Compare two labels by SemVer precedence: -1, 0 or 1.

    Build metadata is ignored: ``compare("1.0.0+a", "1.0.0+b") == 0``.

    :raises VersionError: if either label is not valid.
    """
    c = parse_label(a).compare(parse_label(b))
    return (c > 0) - (c < 0)


def check_new_label(new: str, existing: Iterable[str]) -> None:
    """Check that *new* may be added to a prompt set whose labels are *existing*.

    Versions only roll forward: *new* must have strictly higher precedence
    than every existing label. Equal precedence is refused even when the build
    metadata differs (``1.0.0+b`` after ``1.0.0+a``).

    :raises VersionError: if *new* is not a valid label, an existing label is
        not valid, or *new* does not roll forward; the message names the
        highest existing label.
    """
    new_version = parse_label(new)
    highest: SortKey | None = None
    for label in existing:
        try:
            key = SortKey(label)
        except VersionError as exc:
            raise VersionError(f"existing version label is not valid: {exc}") from None
        if highest is None or key > highest:
            highest = key
    if highest is None:
        return
    c = new_version.compare(highest.version)
    if c > 0:
        return
    hi = highest.label
    if new == hi:
        why = f"{new!r} already exists"
    elif c == 0:
        why = f"{new!r} has the same precedence as {hi!r}: build metadata does not count"
    else:
        why = f"{new!r} is lower than {hi!r}"
    base = highest.version.replace(build=None)
    candidates = {str(base.next_version(part)) for part in ("patch", "minor", "major")}
    nexts = [repr(n) for n in sorted(candidates, key=sort_key)]
    examples = nexts[0] if len(nexts) == 1 else f"{', '.join(nexts[:-1])} or {nexts[-1]}"
    raise VersionError(
        f"version label {new!r} must have higher precedence than every existing label; "
        f"the highest existing label is {hi!r} ({why}; versions only roll forward, e.g. {examples})"
    )


# --------------------------------------------------------------------------
# Specifiers
# --------------------------------------------------------------------------

_KEYWORDS: Final = ("latest", "stable")
_XR: Final = r"(?:0|[1-9][0-9]*|[xX*])"
_PARTIAL_RE: Final = re.compile(
    rf"(?P<M>{_XR})(?:\.(?P<m>{_XR})(?:\.(?P<p>{_XR})(?P<q>[-+].*)?)?)?", re.ASCII | re.DOTALL
)
_OPERATOR_RE: Final = re.compile(r"(<=|>=|<|>|=|\^|~)?(.*)", re.DOTALL)
_GLUE_RE: Final = re.compile(r"(<=|>=|<|>|=|\^|~) ")


@dataclass(frozen=True)
class _Comparator:
    op: str  # one of "<", "<=", ">", ">=", "="
    version: semver.Version

    def test(self, v: semver.Version) -> bool:
        c = v.compare(self.version)
        if self.op == "=":
            return c == 0 and (self.version.build is None or v.build == self.version.build)
        if self.op == "<":
            return c < 0
        if self.op == "<=":
            return c <= 0
        if self.op == ">":
            return c > 0
        return c >= 0


@dataclass(frozen=True)
class _Partial:
    major: int | None
    minor: int | None
    patch: int | None
    full: semver.Version | None  # set when major.minor.patch are all numbers


def _v(major: int, minor: int, patch: int, pre: str | None = None) -> semver.Version:
    return semver.Version(major, minor, patch, prerelease=pre)


_NOTHING: Final = (_Comparator("<", _v(0, 0, 0, "0")),)


def _parse_partial(token: str, what: str) -> _Partial:
    m = _PARTIAL_RE.fullmatch(what)
    if m is None:
        raise VersionError(f"{_show(token)} is not a valid version or range ({_label_problem(what)})")
    nums: list[int | None] = []
    seen_x = False
    for name in ("M", "m", "p"):
        raw = m.group(name)
        if raw is None:
            nums.append(None)
            seen_x = True
        elif raw in ("x", "X", "*"):
            nums.append(None)
            seen_x = True
        else:
            if seen_x:
                raise VersionError(
                    f"{_show(token)} is not a valid version or range "
                    "(only wildcards may follow a wildcard, e.g. 1.x or 1.2.*)"
                )
            try:
                nums.append(int(raw))
            except ValueError:  # beyond Python's int/str conversion limit
                raise VersionError(f"{_show(token)} is not a valid version or range (a number is too long)") from None
    qualifier = m.group("q")
    if qualifier is not None and seen_x:
        raise VersionError(
            f"{_show(token)} is not a valid version or range "
            "(a version with a wildcard cannot have a pre-release or build part)"
        )
    full = None
    if not seen_x:
        text = f"{nums[0]}.{nums[1]}.{nums[2]}{qualifier or ''}"
        try:
            full = parse_label(text)
        except VersionError:
            raise VersionError(
                f"{_show(token)} is not a valid version or range ({_label_problem(text)})"
            ) from None
    return _Partial(nums[0], nums[1], nums[2], full)


def _desugar(op: str, p: _Partial) -> tuple[_Comparator, ...]:
    """Turn one npm primitive into plain comparators (npm's replaceCaret/Tilde/XRange)."""
    M, m, pa, full = p.major, p.minor, p.patch, p.full
    if op == "^":
        if M is None:
            return ()
        if m is None:
            return (_Comparator(">=", _v(M, 0, 0)), _Comparator("<", _v(M + 1, 0, 0, "0")))
        if pa is None:
            upper = _v(0, m + 1, 0, "0") if M == 0 else _v(M + 1, 0, 0, "0")
            return (_Comparator(">=", _v(M, m, 0)), _Comparator("<", upper))
        assert full is not None
        if M == 0 and m == 0:
            upper = _v(0, 0, pa + 1, "0")
        elif M == 0:
            upper = _v(0, m + 1, 0, "0")
        else:
            upper = _v(M + 1, 0, 0, "0")
        return (_Comparator(">=", full.replace(build=None)), _Comparator("<", upper))
    if op == "~":
        if M is None:
            return ()
        if m is None:
            return (_Comparator(">=", _v(M, 0, 0)), _Comparator("<", _v(M + 1, 0, 0, "0")))
        low = _v(M, m, 0) if full is None else full.replace(build=None)
        return (_Comparator(">=", low), _Comparator("<", _v(M, m + 1, 0, "0")))
    # comparators and bare versions (npm's replaceXRange)
    if full is not None:
        if op in ("", "="):
            return (_Comparator("=", full),)
        return (_Comparator(op, full.replace(build=None)),)
    if M is None:
        return _NOTHING if op in ("<", ">") else ()
    if op in ("", "="):
        if m is None:
            return (_Comparator(">=", _v(M, 0, 0)), _Comparator("<", _v(M + 1, 0, 0, "0")))
        return (_Comparator(">=", _v(M, m, 0)), _Comparator("<", _v(M, m + 1, 0, "0")))
    mm = 0 if m is None else m
    if op == ">":
        return (_Comparator(">=", _v(M + 1, 0, 0) if m is None else _v(M, mm + 1, 0)),)
    if op == ">=":
        return (_Comparator(">=", _v(M, mm, 0)),)
    if op == "<":
        return (_Comparator("<", _v(M, mm, 0, "0")),)
    # "<="
    return (_Comparator("<", _v(M + 1, 0, 0, "0") if m is None else _v(M, mm + 1, 0, "0")),)


def _hyphen(p_from: _Partial, p_to: _Partial) -> tuple[_Comparator, ...]:
    """npm's hyphenReplace: ``A - B`` is ``>=A <=B`` with partials filled in."""
    out: list[_Comparator] = []
    if p_from.major is not None:
        if p_from.full is not None:
            out.append(_Comparator(">=", p_from.full.replace(build=None)))
        else:
            out.append(_Comparator(">=", _v(p_from.major, p_from.minor or 0, 0)))
    M, m = p_to.major, p_to.minor
    if M is not None:
        if m is None:
            out.append(_Comparator("<", _v(M + 1, 0, 0, "0")))
        elif p_to.full is None:
            out.append(_Comparator("<", _v(M, m + 1, 0, "0")))
        else:
            out.append(_Comparator("<=", p_to.full.replace(build=None)))
    return tuple(out)


def _test_set(comparators: tuple[_Comparator, ...], v: semver.Version) -> bool:
    """npm's testSet: every comparator holds, plus the pre-release rule."""
    if not all(c.test(v) for c in comparators):
        return False
    if v.prerelease is None:
        return True
    return any(
        c.version.prerelease is not None
        and (c.version.major, c.version.minor, c.version.patch) == (v.major, v.minor, v.patch)
        for c in comparators
    )


def _parse_alternative(text: str, alt: str) -> tuple[_Comparator, ...]:
    tokens = alt.split(" ")
    if "-" in tokens:
        if len(tokens) != 3 or tokens[1] != "-" or any(t[:1] in "<>=^~" for t in (tokens[0], tokens[2])):
            raise VersionError(
                f"invalid version specifier {_show(text)}: {_show(alt)} is not a valid hyphen range "
                "(write 'A - B' with plain versions on both sides, e.g. 1.2.3 - 2.3.4)"
            )
        try:
            return _hyphen(_parse_partial(tokens[0], tokens[0]), _parse_partial(tokens[2], tokens[2]))
        except VersionError as exc:
            raise VersionError(f"invalid version specifier {_show(text)}: {exc}") from None
    glued = _GLUE_RE.sub(r"\1", alt)
    out: list[_Comparator] = []
    for token in glued.split(" "):
        m = _OPERATOR_RE.fullmatch(token)
        assert m is not None
        op, rest = m.group(1) or "", m.group(2)
        if token.lower() in _KEYWORDS:
            raise VersionError(
                f"invalid version specifier {_show(text)}: {_show(token)} can only be used on its own"
            )
        if rest == "":
            raise VersionError(
                f"invalid version specifier {_show(text)}: operator {op!r} must be followed by a version"
            )
        if rest[0] in "<>=^~":
            raise VersionError(
                f"invalid version specifier {_show(text)}: {_show(token)} has more than one operator"
            )
        try:
            partial = _parse_partial(token, rest)
        except VersionError as exc:
            raise VersionError(f"invalid version specifier {_show(text)}: {exc}") from None
        out.extend(_desugar(op, partial))
    return tuple(out)


class Specifier:
    """A parsed version specifier; ``Specifier(text)`` is ``parse_specifier(text)``.

    ``text`` is the specifier with surrounding whitespace removed, inner runs
    of whitespace collapsed to one space and keywords lower-cased; it parses
    back to an equal specifier. Specifiers compare and hash by ``text``.
    """

    __slots__ = ("_text", "_kind", "_sets", "_exact")

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise VersionError(f"a version specifier must be a string, not {type(text).__name__}")
        norm = " ".join(text.split())
        if norm == "":
            raise VersionError(
                "empty version specifier (give a label such as 1.2.0, 'latest', 'stable' or a range such as ^1.2)"
            )
        self._exact: str | None = None
        self._sets: tuple[tuple[_Comparator, ...], ...] = ()
        if norm.lower() in _KEYWORDS:
            self._text = norm.lower()
            self._kind = self._text
            return
        self._text = norm
        self._kind = "range"
        sets = []
        for alt in norm.split("||"):
            alt = alt.strip()
            if alt == "":
                raise VersionError(
                    f"invalid version specifier {_show(norm)}: empty alternative around '||'"
                )
            sets.append(_parse_alternative(norm, alt))
        self._sets = tuple(sets)
        if len(sets) == 1 and len(sets[0]) == 1 and sets[0][0].op == "=":
            self._exact = str(sets[0][0].version)

    @property
    def text(self) -> str:
        """The normalised specifier text."""
        return self._text

    def matches(self, label: str) -> bool:
        """True if *label* satisfies this specifier; False for an invalid label.

        ``latest`` matches every label, ``stable`` every label without a
        pre-release part (both are really about :meth:`select`).
        """
        try:
            v = parse_label(label)
        except VersionError:
            return False
        return self._matches(v)

    def _matches(self, v: semver.Version) -> bool:
        if self._kind == "latest":
            return True
        if self._kind == "stable":
            return v.prerelease is None
        return any(_test_set(s, v) for s in self._sets)

    def select(self, labels: Iterable[str]) -> str | None:
        """The best label for this specifier among *labels*, or None.

        The highest precedence matching label (ties, which differ only in
        build metadata, broken by string order). For an exact label, a label
        identical to it as a string wins over others of equal precedence.
        Invalid labels are ignored.
        """
        best: SortKey | None = None
        for label in labels:
            try:
                key = SortKey(label)
            except VersionError:
                continue
            if not self._matches(key.version):
                continue
            if self._exact is not None and label == self._exact:
                return label
            if best is None or key > best:
                best = key
        return None if best is None else best.label

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Specifier):
            return NotImplemented
        return self._text == other._text

    def __hash__(self) -> int:
        return hash(self._text)

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"Specifier({self._text!r})"


def parse_specifier(text: str) -> Specifier:
    """Parse a version specifier (see the module docstring for the forms).

    :raises VersionError: naming the bad part of *text*.
    """
    return Specifier(text)
