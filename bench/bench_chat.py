"""(f) Chat prompts: messages() of a three-message chat prompt against python-liquid rendering the same three
pre-parsed templates; and prompt() now against prompt() of the previous release (anvil-client 0.3.0, loaded
from this repository's history into the same process), on the rich and the plain prompt.

Everything runs in one process and is timed side by side (common.compare).
"""

from __future__ import annotations

import importlib.util
import io
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_render import PROJECT, NoNetwork  # noqa: E402
from common import REPO, Row, compare, emit, fmt_seconds, verdict  # noqa: E402
from fixtures import (  # noqa: E402
    PLAIN_PARAMETERS, PLAIN_TEMPLATE, PLAIN_VALUES, RICH_PARAMETERS, RICH_TEMPLATE, RICH_VALUES, normalised,
)

PREVIOUS_RELEASE = "50051f2"  # anvil-client 0.3.0 (the last release: issue 14)

SYSTEM = ("You are the support assistant of {{ company }}.\n"
          "{% if vip %}{{ name | capitalize }} is a VIP: answer first, then offer a call.{% endif %}\n"
          "Answer in {{ language | upcase }}.")
EXAMPLE = "Earlier, {{ name }} asked about order #{{ order }}."
QUESTION = "{{ question }}"
CHAT_PARAMETERS = [*RICH_PARAMETERS, {"name": "order", "type": "string"}]
CHAT_VALUES = {**RICH_VALUES, "order": "1234"}


def previous_client(target: Path):
    """The previous release's ``anvil_client`` package, imported as ``anvil_client_prev`` (its imports are
    relative, so it runs as it shipped, beside today's)."""
    data = subprocess.run(["git", "-C", str(REPO), "archive", PREVIOUS_RELEASE, "client/src/anvil_client"],
                          capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        archive.extractall(target, filter="data")
    package = target / "client" / "src" / "anvil_client"
    spec = importlib.util.spec_from_file_location("anvil_client_prev", package / "__init__.py",
                                                  submodule_search_locations=[str(package)])
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["anvil_client_prev"] = module
    spec.loader.exec_module(module)
    return module


def client_with(package, cache_dir: str, prompts: dict, sets: list):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    bundles = sys.modules[f"{package.__name__}.bundle"]
    key = Ed25519PrivateKey.generate()
    body = bundles.make_body(project={"id": PROJECT, "slug": "bench", "name": "Bench"}, sequence=1,
                             created_at="2026-12-03T00:00:00Z", prompt_sets=sets, prompts=prompts,
                             forge_key=bundles.public_key_text(key))
    client = package.Client(project=PROJECT, cache_dir=cache_dir, public_key=bundles.public_key_text(key),
                            background=False)
    client.apply(bundles.seal(body, key))
    return client


def run(samples: int = 150) -> list[Row]:
    import liquid

    import anvil_client

    rows: list[Row] = []
    text_prompts = {
        "bench.rich": {"template": RICH_TEMPLATE, "parameters": normalised(RICH_PARAMETERS), "metadata": {}},
        "bench.plain": {"template": PLAIN_TEMPLATE, "parameters": normalised(PLAIN_PARAMETERS), "metadata": {}},
    }
    chat_prompt = {"kind": "chat", "parameters": normalised(CHAT_PARAMETERS), "metadata": {}, "config": {},
                   "messages": [{"role": "system", "content": SYSTEM}, {"role": "assistant", "content": EXAMPLE},
                                {"role": "user", "content": QUESTION}]}
    sets = [{"slug": "bench", "version": "1.0.0", "version_id": "v1"}]
    with tempfile.TemporaryDirectory(prefix="anvil-bench-") as tmp, NoNetwork():
        previous = previous_client(Path(tmp) / "previous")
        now = client_with(anvil_client, f"{tmp}/now", {**text_prompts, "bench.chat": chat_prompt}, sets)
        before = client_with(previous, f"{tmp}/before", text_prompts, sets)
        env = liquid.Environment()
        pre = [("system", env.from_string(SYSTEM)), ("assistant", env.from_string(EXAMPLE)),
               ("user", env.from_string(QUESTION))]
        chat_values, rich_values, plain_values = dict(CHAT_VALUES), dict(RICH_VALUES), dict(PLAIN_VALUES)

        def liquid_chat():
            return [{"role": role, "content": t.render(**chat_values)} for role, t in pre]

        # Same output, or the comparison means nothing.
        assert now.messages("bench.chat", **chat_values) == liquid_chat()
        for pid, values in (("bench.rich", rich_values), ("bench.plain", plain_values)):
            assert now.prompt(pid, **values) == before.prompt(pid, **values)
        cases = {
            "anvil_messages": lambda: now.messages("bench.chat", **chat_values),
            "liquid_three": liquid_chat,
            "now_rich": lambda: now.prompt("bench.rich", **rich_values),
            "before_rich": lambda: before.prompt("bench.rich", **rich_values),
            "now_plain": lambda: now.prompt("bench.plain", **plain_values),
            "before_plain": lambda: before.prompt("bench.plain", **plain_values),
        }
        result = compare(cases, samples=samples)
        version_before = previous.__version__ if hasattr(previous, "__version__") else "0.1.0"

    best = {name: r["best"] for name, r in result.items()}
    median = {name: r["median"] for name, r in result.items()}
    ratio = best["anvil_messages"] / best["liquid_three"]
    rows.append(Row(
        "messages() of a 3-message chat prompt vs python-liquid rendering the same 3 pre-parsed templates",
        f"{fmt_seconds(best['anvil_messages'])} vs {fmt_seconds(best['liquid_three'])}: {ratio:.2f}×",
        "≤ 1.20× liquid", verdict(ratio <= 1.2),
        [f"medians {fmt_seconds(median['anvil_messages'])} vs {fmt_seconds(median['liquid_three'])} "
         f"({median['anvil_messages'] / median['liquid_three']:.2f}×)"],
        {"cases": {k: result[k] for k in ("anvil_messages", "liquid_three")}},
    ))
    for shape in ("rich", "plain"):
        ratio = best[f"now_{shape}"] / best[f"before_{shape}"]
        rows.append(Row(
            f"prompt(), {shape} prompt: anvil-client {anvil_client.__version__} vs {version_before} (previous release)",
            f"{fmt_seconds(best[f'now_{shape}'])} vs {fmt_seconds(best[f'before_{shape}'])}: {ratio:.2f}×",
            "no slower (≤ 1.05×, the noise of the method)", verdict(ratio <= 1.05),
            [f"medians {fmt_seconds(median[f'now_{shape}'])} vs {fmt_seconds(median[f'before_{shape}'])}"],
            {"cases": {k: result[k] for k in (f"now_{shape}", f"before_{shape}")}},
        ))
    return rows


if __name__ == "__main__":
    if "--child" in sys.argv:
        emit({"rows": [r.to_json() for r in run()]})
    else:
        for row in run():
            print(row)
