"""Per-key rate limiting: a token bucket per API key, in this process's memory.

Each key may burst up to a minute's allowance and then refills steadily; with several
uvicorn workers each keeps its own buckets, so the effective limit is per worker. Buckets are
kept only for valid keys (charged after the key is checked), and a bucket that has refilled is
the same as none: those are dropped whenever the table has doubled since the last sweep, so it
holds about the keys active in the last minute, not every key this process ever saw.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from api.errors import RateLimitedError


class RateLimiter:
    SWEEP_MIN = 1024
    """Buckets kept before the first sweep of full ones."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._sweep_at = self.SWEEP_MIN

    def _sweep(self, now: float) -> None:
        """Drop the buckets that have refilled (caller holds the lock)."""
        self._buckets = {
            key: (tokens, last)
            for key, (tokens, last) in self._buckets.items()
            if tokens + (now - last) * self.rate < self.capacity
        }
        self._sweep_at = max(self.SWEEP_MIN, 2 * len(self._buckets))

    def charge(self, key_id: str) -> None:
        """Take one request from the key's bucket, or raise RateLimitedError with the seconds
        until the next request is allowed."""
        if self.capacity <= 0:
            return
        now = self.clock()
        with self._lock:
            if len(self._buckets) >= self._sweep_at:
                self._sweep(now)
            tokens, last = self._buckets.get(key_id, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[key_id] = (tokens, now)
                wait = math.ceil((1.0 - tokens) / self.rate)
                raise RateLimitedError(
                    f"this API key is limited to {int(self.capacity)} requests a minute; retry "
                    f"in {wait} s.",
                    retry_after=wait,
                )
            self._buckets[key_id] = (tokens - 1.0, now)
