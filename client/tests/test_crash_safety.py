"""kill -9 at random moments while the client writes a new bundle: a restart loads the old or the new one."""

import os
import random
import signal
import time

from anvil_client import bundle as bundles
from anvil_client.client import Client

from .helpers import PROJECT, make_bundle

KEY = bundles.generate_private_key()
PUBLIC = bundles.public_key_text(KEY)
TRIALS = 200


def _writer(cache_dir, prepared):
    """Child process: apply ever newer bundles (each written atomically to disk) until killed."""
    client = Client(forge_url="http://127.0.0.1:9", project=PROJECT, access_token="t", cache_dir=cache_dir,
                    public_key=PUBLIC, background=False)
    for data in prepared:
        client.apply(data)
    os._exit(0)


def test_kill_minus_9_during_writes_never_leaves_a_broken_cache(tmp_path):
    big = {"s": ("1.0.0", {f"p{i}": "x" * 2000 + " {{ a }}" for i in range(60)})}  # ~120 kB per write
    rng = random.Random(1234)
    loaded_sequences = set()
    for trial in range(TRIALS):
        cache_dir = tmp_path / f"t{trial}"
        first = Client(forge_url="http://127.0.0.1:9", project=PROJECT, access_token="t", cache_dir=cache_dir,
                       public_key=PUBLIC, background=False)
        first.apply(make_bundle(KEY, 1, big))
        prepared = [make_bundle(KEY, seq, {"s": (f"1.0.{seq}", big["s"][1])}) for seq in range(2, 6)]
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            _writer(cache_dir, prepared)
        time.sleep(rng.uniform(0, 0.03))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        restarted = Client(forge_url="http://127.0.0.1:9", project=PROJECT, access_token="t",
                           cache_dir=cache_dir, public_key=PUBLIC, background=False)
        status = restarted.status()
        assert status["last_error"] is None, f"trial {trial}: {status['last_error']}"
        assert status["source"] == "disk" and status["sequence"] in range(1, 6), f"trial {trial}: {status}"
        assert restarted.prompt("s.p0", a="!").endswith("x !")
        loaded_sequences.add(status["sequence"])
    # The kills landed at different moments: both untouched and advanced caches were seen.
    assert len(loaded_sequences) > 1
