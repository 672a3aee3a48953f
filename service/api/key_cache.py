"""A short-lived, per-process memory of which API key digest belongs to which caller, so that a
burst of requests with one key costs one lookup instead of one per request.

Revocation (or a deleted tenant) takes effect in every API process within ``TTL_S`` seconds:
entries are never renewed, only looked up again once they expire. Only the SHA-256 digest of a
key is held, never the key itself."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

TTL_S = 5.0
MAX_ENTRIES = 10_000

T = TypeVar("T")


class KeyCache(Generic[T]):
    def __init__(
        self,
        ttl_s: float = TTL_S,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, T]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, digest: str) -> T | None:
        with self._lock:
            found = self._entries.get(digest)
            if found is None:
                return None
            expires, value = found
            if expires <= self._clock():
                del self._entries[digest]
                return None
            return value

    def put(self, digest: str, value: T) -> None:
        with self._lock:
            self._entries[digest] = (self._clock() + self._ttl_s, value)
            self._entries.move_to_end(digest)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
