"""(a) Client.prompt() against python-liquid's own render, (b) against Langfuse's cached prompt.

Everything runs in one process and is timed side by side (interleaved samples,
CPU time, best and median of the samples; see common.compare).
"""

from __future__ import annotations

import socket
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Row, compare, emit, fmt_seconds, package_version, verdict  # noqa: E402
from fixtures import (  # noqa: E402
    PLAIN_PARAMETERS, PLAIN_TEMPLATE, PLAIN_VALUES, RICH_PARAMETERS, RICH_TEMPLATE, RICH_VALUES,
)

PROJECT = "0b6f5c1e-0000-7000-8000-00000000bench"


class NoNetwork:
    """Refuses (and counts) every outgoing connection while active."""

    def __init__(self) -> None:
        self.attempts: list[str] = []

    def __enter__(self) -> NoNetwork:
        self._connect, self._create = socket.socket.connect, socket.create_connection
        attempts = self.attempts

        def connect(sock, address, *args, **kwargs):
            attempts.append(repr(address))
            raise OSError("network disabled during the benchmark")

        def create_connection(address, *args, **kwargs):
            attempts.append(repr(address))
            raise OSError("network disabled during the benchmark")

        socket.socket.connect = connect  # type: ignore[method-assign]
        socket.create_connection = create_connection  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        socket.socket.connect = self._connect  # type: ignore[method-assign]
        socket.create_connection = self._create  # type: ignore[assignment]


def anvil_client_with_prompts(cache_dir: str):
    """A Client holding the two benchmark prompts, from a signed bundle applied like any other."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from anvil_client import Client
    from anvil_client import bundle as bundles
    from fixtures import normalised

    key = Ed25519PrivateKey.generate()
    prompts = {
        "bench.rich": {"template": RICH_TEMPLATE, "parameters": normalised(RICH_PARAMETERS), "metadata": {}},
        "bench.plain": {"template": PLAIN_TEMPLATE, "parameters": normalised(PLAIN_PARAMETERS), "metadata": {}},
    }
    body = bundles.make_body(project={"id": PROJECT, "slug": "bench", "name": "Bench"}, sequence=1,
                             created_at="2026-11-22T00:00:00Z",
                             prompt_sets=[{"slug": "bench", "version": "1.0.0", "version_id": "v1"}],
                             prompts=prompts, forge_key=bundles.public_key_text(key))
    client = Client(project=PROJECT, cache_dir=cache_dir, public_key=bundles.public_key_text(key), background=False)
    client.apply(bundles.seal(body, key))
    return client


def langfuse_client(template: str):
    """Langfuse 5 with tracing off and its prompt cache pre-filled: get_prompt() is a cache hit."""
    from langfuse import Langfuse
    from langfuse._utils.prompt_cache import PromptCache
    from langfuse.api.prompts.types.prompt import Prompt_Text
    from langfuse.model import TextPromptClient

    lf = Langfuse(public_key="pk-lf-bench", secret_key="sk-lf-bench", host="http://127.0.0.1:9",
                  tracing_enabled=False)
    prompt = Prompt_Text(name="greeting", version=1, prompt=template, config={}, labels=["production"], tags=[],
                         type="text")
    key = PromptCache.generate_cache_key("greeting", version=None, label=None)
    lf._resources.prompt_cache.set(key, TextPromptClient(prompt), 24 * 3600)  # never expires during the run
    return lf


def close_langfuse(lf) -> list[str]:
    """Shut the SDK down (its consumer threads included); returns the threads it left running."""
    before = set(threading.enumerate())
    lf.shutdown()
    lf._resources.prompt_cache._task_manager.shutdown()
    return [t.name for t in threading.enumerate() if t not in before or "Consumer" in type(t).__name__]


def run(samples: int = 150) -> list[Row]:
    import liquid

    from anvil_client import templates as tpl

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="anvil-bench-") as cache_dir, NoNetwork() as guard:
        client = anvil_client_with_prompts(cache_dir)
        env = liquid.Environment()  # a default environment, as documented by python-liquid
        liquid_rich = env.from_string(RICH_TEMPLATE)
        liquid_plain = env.from_string(PLAIN_TEMPLATE)
        lf = langfuse_client(PLAIN_TEMPLATE)
        general_plain = tpl.CompiledTemplate(PLAIN_TEMPLATE, tpl.compile_template(PLAIN_TEMPLATE)._template,
                                             ("company", "name", "role"), None)  # fast path off
        plain_params = tpl.parse_parameters(PLAIN_PARAMETERS)

        rich_values, plain_values = dict(RICH_VALUES), dict(PLAIN_VALUES)
        # Same output, or the comparison means nothing.
        assert client.prompt("bench.rich", **rich_values) == liquid_rich.render(**rich_values)
        expected = client.prompt("bench.plain", **plain_values)
        assert expected == liquid_plain.render(**plain_values) == lf.get_prompt("greeting").compile(**plain_values)
        assert tpl.render(general_plain, plain_values, plain_params) == expected

        cases = {
            "anvil_rich": lambda: client.prompt("bench.rich", **rich_values),
            "liquid_rich": lambda: liquid_rich.render(**rich_values),
            "anvil_plain": lambda: client.prompt("bench.plain", **plain_values),
            "langfuse_plain": lambda: lf.get_prompt("greeting").compile(**plain_values),
            "liquid_plain": lambda: liquid_plain.render(**plain_values),
            "anvil_plain_general": lambda: tpl.render(general_plain, plain_values, plain_params),
        }
        result = compare(cases, samples=samples)
        left_running = close_langfuse(lf)

    best = {name: r["best"] for name, r in result.items()}
    median = {name: r["median"] for name, r in result.items()}
    ratio = best["anvil_rich"] / best["liquid_rich"]
    ratio_median = median["anvil_rich"] / median["liquid_rich"]
    rows.append(Row(
        "prompt() vs python-liquid render, same pre-parsed template (if, for, filters)",
        f"{fmt_seconds(best['anvil_rich'])} vs {fmt_seconds(best['liquid_rich'])}: {ratio:.2f}×",
        "≤ 1.20× liquid", verdict(ratio <= 1.2),
        [f"medians {fmt_seconds(median['anvil_rich'])} vs {fmt_seconds(median['liquid_rich'])} ({ratio_median:.2f}×)"],
        {"cases": {k: result[k] for k in ("anvil_rich", "liquid_rich")}},
    ))
    speedup = best["langfuse_plain"] / best["anvil_plain"]
    rows.append(Row(
        "prompt() vs Langfuse get_prompt(name).compile(**vars), cached, plain substitution",
        f"{fmt_seconds(best['anvil_plain'])} vs {fmt_seconds(best['langfuse_plain'])}: Anvil {speedup:.1f}× faster",
        "Anvil faster", verdict(speedup > 1),
        [f"medians {fmt_seconds(median['anvil_plain'])} vs {fmt_seconds(median['langfuse_plain'])}",
         f"langfuse {package_version('langfuse')}; connection attempts during the run: {len(guard.attempts)}; "
         f"threads left after shutdown: {left_running or 'none'}"],
        {"cases": {k: result[k] for k in ("anvil_plain", "langfuse_plain")}},
    ))
    rows.append(Row(
        "  same plain prompt: python-liquid render / Anvil general renderer (fast path off)",
        f"{fmt_seconds(best['liquid_plain'])} / {fmt_seconds(best['anvil_plain_general'])}",
        notes=["for reference: what the plain-substitution fast path saves"],
        data={"cases": {k: result[k] for k in ("liquid_plain", "anvil_plain_general")}},
    ))
    if guard.attempts:
        rows[1].verdict = "INVALID"
        rows[1].notes.append(f"network was attempted: {guard.attempts[:3]}")
    return rows


if __name__ == "__main__":
    if "--child" in sys.argv:
        emit({"rows": [r.to_json() for r in run()]})
    else:
        for row in run():
            print(row)
