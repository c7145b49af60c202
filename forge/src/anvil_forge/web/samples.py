"""The preview's sample values, kept in the session per prompt, so a save (a full page load) or a reload does
not empty them: they are the author's scratch values, never stored with the prompt (a test case is how values
are kept for good).

The preview boxes belong to the editor form (``form="prompt-form"``), so *Save* posts them along; the save
remembers them here for the page it redirects to, and every preview remembers the latest.
"""

from __future__ import annotations

from django.http import HttpRequest

KEY = "anvil_samples"
PREFIX = "sample-"
EXTRA = ("preview_case",)  # the test case the preview was filled from
MAX_PROMPTS = 20  # the most recently used prompts keep theirs
MAX_CHARS = 50_000  # per prompt: a huge pasted conversation is not worth a session row that size


def _slot(prompt_set, slug: str) -> str:
    return f"{prompt_set.pk}:{slug}"


def from_data(data) -> dict[str, str]:
    """The preview's values in a POST (its ``sample-NAME`` boxes, and the case chosen)."""
    return {key: str(data.get(key)) for key in data if key.startswith(PREFIX) or key in EXTRA}


def remember(request: HttpRequest, prompt_set, slug: str, values: dict[str, str]) -> None:
    if not slug or sum(len(k) + len(v) for k, v in values.items()) > MAX_CHARS:
        return
    stored = dict(request.session.get(KEY) or {})
    slot = _slot(prompt_set, slug)
    if stored.get(slot) == values:
        return  # nothing new: no session write
    stored.pop(slot, None)
    stored[slot] = values  # dicts keep insertion order: the last used is last
    while len(stored) > MAX_PROMPTS:
        stored.pop(next(iter(stored)))
    request.session[KEY] = stored


def recall(request: HttpRequest, prompt_set, slug: str) -> dict[str, str]:
    return dict((request.session.get(KEY) or {}).get(_slot(prompt_set, slug)) or {})
