"""API keys read recently, so that a burst of requests with one key reads its row once.

Every request still checks the secret against the stored hash; what is kept is the row (the
hash, scopes, workspace, whether it is revoked), never an answer "this token is valid". A row
is trusted for `ttl_s` (VOC_API_KEY_CACHE_S, default 1 s) after it was read: a key revoked in
this process (through any voc.store.Store, as `voc keys revoke` does in its own) is dropped at
once, since the store counts revocations and the cache empties when the count moves; a key
revoked by another process stops working within `ttl_s`. Only keys that exist are kept, at
most `MAX_KEYS`, the least recently used dropped first; 0 turns caching off.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from voc.store import KEY_REVOCATIONS, ApiKey, Store


class KeyCache:
    MAX_KEYS = 1024

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._keys: OrderedDict[str, tuple[float, ApiKey]] = OrderedDict()
        self._revocations = KEY_REVOCATIONS.count
        self._lock = threading.Lock()

    def _revoked_since(self) -> None:
        """Forget every key when this process revoked one since (caller holds the lock)."""
        if KEY_REVOCATIONS.count != self._revocations:
            self._keys.clear()
            self._revocations = KEY_REVOCATIONS.count

    def cached(self, key_id: str) -> ApiKey | None:
        """The key's row when it was read less than `ttl_s` ago; None means: read it."""
        if self.ttl_s <= 0:
            return None
        with self._lock:
            self._revoked_since()
            entry = self._keys.get(key_id)
            if entry is None:
                return None
            if self.clock() - entry[0] >= self.ttl_s:
                del self._keys[key_id]
                return None
            self._keys.move_to_end(key_id)
            return entry[1]

    def load(self, store: Store, key_id: str) -> ApiKey | None:
        """Read the key from the store (blocking: call it from a worker thread) and keep it."""
        revocations = KEY_REVOCATIONS.count  # before reading: a revocation meanwhile drops it
        read_at = self.clock()
        key = store.get_api_key(key_id)
        if key is None or self.ttl_s <= 0:
            return key
        with self._lock:
            if revocations == KEY_REVOCATIONS.count:
                self._revoked_since()
                self._keys[key_id] = (read_at, key)
                self._keys.move_to_end(key_id)
                while len(self._keys) > self.MAX_KEYS:
                    self._keys.popitem(last=False)
        return key
