"""Fuzzy matching for the command palette: is ``query`` a subsequence of ``text``, and how well.

``score("wlc", "Welcome")`` is a number (higher is better), ``score("xyz", "Welcome")``
is None. Case is ignored. A match scores more when its letters are consecutive,
when they start words (after a space, ``/``, ``-``, ``_``, ``.``, ``@`` or a
lower→upper case change) and when the whole query appears as a substring,
especially at the start. Spaces in the query are ignored, so "emails welc"
still finds ``emails/welcome``.
"""

from __future__ import annotations

_SEPARATORS = frozenset(" /-_.@›>")


def _word_starts(text: str) -> set[int]:
    starts = {0}
    for i in range(1, len(text)):
        prev, char = text[i - 1], text[i]
        if prev in _SEPARATORS or (prev.islower() and char.isupper()):
            starts.add(i)
    return starts


def score(query: str, text: str) -> float | None:
    """A relevance score for ``query`` in ``text``, or None when it does not match at all."""
    needle = "".join((query or "").lower().split())
    if not needle:
        return 0.0
    haystack = text or ""
    lowered = haystack.lower()
    starts = _word_starts(haystack)
    total = _walk(needle, lowered, starts, prefer_starts=True)
    if total is None:  # jumping to word starts can skip the only way through: fall back to plain greedy
        total = _walk(needle, lowered, starts, prefer_starts=False)
    if total is None:
        return None

    substring = lowered.find(needle)
    if substring >= 0:
        total += 5.0 + (5.0 if substring in starts else 0.0) + (5.0 if substring == 0 else 0.0)
    # Shorter texts win ties: "Emails" before "Emails archive".
    return total - len(haystack) * 0.01


def _walk(needle: str, lowered: str, starts: set[int], *, prefer_starts: bool) -> float | None:
    total = 0.0
    position = 0
    previous = -2
    for char in needle:
        found = lowered.find(char, position)
        if found < 0:
            return None
        # Prefer the start of a word if one with this letter comes before the next consecutive letter.
        if prefer_starts and found != previous + 1:
            for candidate in sorted(starts):
                if candidate >= position and lowered[candidate:candidate + 1] == char:
                    found = candidate
                    break
        points = 1.0
        if found == previous + 1:
            points += 2.0
        if found in starts:
            points += 3.0
        if previous >= 0 and found > previous + 1:
            points -= min(found - previous - 1, 10) * 0.1
        total += points
        previous = found
        position = found + 1
    return total


def rank(query: str, items, key, limit: int | None = None) -> list:
    """The items whose ``key(item)`` matches ``query``, best first (stable for equal scores)."""
    scored = []
    for index, item in enumerate(items):
        value = score(query, key(item))
        if value is not None:
            scored.append((-value, index, item))
    scored.sort(key=lambda entry: (entry[0], entry[1]))
    found = [item for _, _, item in scored]
    return found if limit is None else found[:limit]
