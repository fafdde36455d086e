"""Per-key rate limiting: a token bucket per API key, in this process's memory.

Each key may burst up to a minute's allowance and then refills steadily; with several
uvicorn workers each keeps its own buckets, so the effective limit is per worker.
"""

from __future__ import annotations

import math
import threading
import time

from api.errors import RateLimitedError


class RateLimiter:
    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def charge(self, key_id: str) -> None:
        """Take one request from the key's bucket, or raise RateLimitedError with the seconds
        until the next request is allowed."""
        if self.capacity <= 0:
            return
        now = time.monotonic()
        with self._lock:
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
