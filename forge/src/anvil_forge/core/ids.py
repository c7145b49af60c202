"""Time-ordered UUIDs (version 7, RFC 9562), so rows made in one instant still sort in creation order."""

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last = 0


def uuid7() -> uuid.UUID:
    global _last
    with _lock:
        # 48 bits of milliseconds, then 12 bits of sub-millisecond counter: strictly increasing per process.
        now = time.time_ns() // 1_000_000 << 12
        _last = now if now > _last else _last + 1
        stamp = _last
    ms, seq = stamp >> 12, stamp & 0xFFF
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms << 80) | (0x7 << 76) | (seq << 64) | (0b10 << 62) | rand
    return uuid.UUID(int=value)
