"""Backoff between retries: one rule for the client's poll and stream loops and the FORGE's push deliveries."""

from __future__ import annotations

import random


def backoff(failures: int, base: float, *, cap: float, doublings: int = 30, floor: float = 0.0,
            jitter: tuple[float, float] = (1.0, 1.0)) -> float:
    """Seconds to wait after ``failures`` failures in a row: ``base``·2^min(failures, doublings), kept within
    [``floor``, ``cap``], times a random factor drawn from ``jitter`` (so many clients do not retry in step)."""
    delay: float = max(min(base * 2.0 ** min(failures, doublings), cap), floor)
    low, high = jitter
    return delay if low == high == 1.0 else delay * random.uniform(low, high)
