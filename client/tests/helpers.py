"""Make signed bundles for client tests, exactly as a FORGE would."""

from anvil_client import bundle as bundles

PROJECT = "6f1c2b8e-3d4a-4b5c-9d6e-7f8091a2b3c4"


def make_bundle(key, sequence=1, sets=None, project=PROJECT):
    """``sets``: {slug: (version, {prompt_slug: template or (template, parameters)})}."""
    sets = sets if sets is not None else {"emails": ("1.0.0", {"welcome": ("Hello {{ name }}!", [{"name": "name"}])})}
    prompt_sets, prompts = [], {}
    for slug, (version, items) in sets.items():
        prompt_sets.append({"slug": slug, "version": version, "version_id": f"{slug}-{version}"})
        for pslug, spec in items.items():
            template, params = spec if isinstance(spec, tuple) else (spec, [])
            prompts[f"{slug}.{pslug}"] = {"template": template, "parameters": params, "metadata": {}}
    body = bundles.make_body(project={"id": project, "slug": "support", "name": "Support"}, sequence=sequence,
                             created_at="2026-11-22T00:00:00Z", prompt_sets=prompt_sets, prompts=prompts,
                             forge_key=bundles.public_key_text(key))
    return bundles.seal(body, key)
