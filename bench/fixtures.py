"""Realistic prompts for the benchmarks: a few template shapes, varied per prompt."""

from __future__ import annotations

from typing import Any

# --- the prompts of the per-call benchmarks -----------------------------------------------

# (a) a realistic prompt for the general renderer: variables, an `if`, a `for`
# over a literal range and filters.
RICH_TEMPLATE = """You are the support assistant of {{ company }}.
{% if vip %}The customer, {{ name | capitalize }}, is a VIP: answer first, then offer a call.{% else %}The customer is {{ name }}.{% endif %}
Answer in {{ language | upcase }} and follow these steps:
{% for i in (1..3) %}{{ i }}. Read the question again.
{% endfor %}Question: {{ question }}"""
RICH_PARAMETERS = [
    {"name": "company", "type": "string"},
    {"name": "name", "type": "string"},
    {"name": "vip", "type": "boolean", "required": False, "default": False},
    {"name": "language", "type": "string", "required": False, "default": "en"},
    {"name": "question", "type": "string"},
]
RICH_VALUES = {"company": "Acme", "name": "ada", "vip": True, "language": "en",
               "question": "Where is my order #1234?"}

# (b) plain substitution, in the `{{var}}` syntax Langfuse uses (also valid Liquid).
PLAIN_TEMPLATE = "Hello {{name}}, you are {{role}} at {{company}}."
PLAIN_PARAMETERS = [{"name": "name"}, {"name": "role"}, {"name": "company"}]
PLAIN_VALUES = {"name": "Ada", "role": "an engineer", "company": "Acme"}

# --- many prompts, for bundles --------------------------------------------------------------

_SHAPES: list[tuple[str, list[dict[str, Any]]]] = [
    (
        "Hello {{ name }}, you are {{ role }} at {{ company }}. Prompt {n}: be concise and friendly.",
        [{"name": "name"}, {"name": "role"}, {"name": "company"}],
    ),
    (
        RICH_TEMPLATE + "\n(variant {n})",
        RICH_PARAMETERS,
    ),
    (
        "Summarise the following {{ kind | default: 'document' }} in at most {{ words }} words "
        "for a reader who is {{ audience }}. Keep names, numbers and dates exactly as written; "
        "do not add facts. Template {n}.\n\n---\n{{ text | truncate_tokens: 2000 }}\n---",
        [{"name": "kind", "required": False}, {"name": "words", "type": "number"}, {"name": "audience"},
         {"name": "text"}],
    ),
    (
        "Classify the message into one of: billing, shipping, account, other (rule set {n}).\n"
        "{% case channel %}{% when 'email' %}It came by e-mail.{% when 'chat' %}It came from the chat."
        "{% else %}Channel: {{ channel }}.{% endcase %}\nMessage: {{ message | strip }}\n"
        "Answer with the label only.",
        [{"name": "channel"}, {"name": "message"}],
    ),
    (
        "Use only these documents to answer (retrieval profile {n}).\n"
        "{% for doc in docs limit: 5 %}[{{ forloop.index }}] {{ doc.title }}: {{ doc.text | truncate_tokens: 300 }}\n"
        "{% else %}(no documents)\n{% endfor %}Question: {{ question }}\n"
        "If the documents do not answer it, say so.",
        [{"name": "docs", "type": "string", "required": False}, {"name": "question"}],
    ),
]


def prompt_spec(n: int) -> tuple[str, list[dict[str, Any]]]:
    """The template and parameters of the n-th generated prompt (unique text per n)."""
    template, parameters = _SHAPES[n % len(_SHAPES)]
    return template.replace("{n}", str(n)), [dict(p) for p in parameters]


def normalised(parameters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from anvil_client.templates import parse_parameters

    return [p.to_dict() for p in parse_parameters(parameters)]


def bundle_sets(sets: int, per_set: int) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """``(prompt_sets, prompts)`` as ``anvil_client.bundle.make_body`` takes them."""
    prompt_sets, prompts = [], {}
    n = 0
    for s in range(sets):
        slug = f"set{s:03d}"
        prompt_sets.append({"slug": slug, "version": "1.0.0", "version_id": f"00000000-0000-7000-8000-{s:012d}"})
        for p in range(per_set):
            template, parameters = prompt_spec(n)
            prompts[f"{slug}.prompt{p:03d}"] = {"template": template, "parameters": normalised(parameters),
                                                "metadata": {"owner": "bench", "n": n}}
            n += 1
    return prompt_sets, prompts
