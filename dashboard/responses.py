"""A bounded per-process cache of encoded API responses, keyed by data version and normalised request."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

# What one process keeps: the aggregate downloads are kilobytes, so this holds thousands of them.
MAX_BYTES = 64 * 2**20
# A body larger than this is served but not kept, so one big export cannot evict every small one.
MAX_ENTRY_BYTES = 8 * 2**20


def response_key(version: str, *parts: str) -> str:
    """One short, stable key (also the strong ETag) for a normalised request's parts at data
    version `version`, which it starts with (`ResponseCache.keep_only` drops by it)."""
    joined = "\x1f".join(parts).encode("utf-8")
    return f"{version}-{hashlib.blake2b(joined, digest_size=12).hexdigest()}"


class ResponseCache:
    """Response bodies, least recently used out once their total passes `max_bytes`.

    A hand-written LRU rather than Flask-Caching's: that one pickles every value in and out and
    bounds entries by count, not by bytes, and both cost more than the response it would save.
    """

    def __init__(self, max_bytes: int = MAX_BYTES, max_entry_bytes: int = MAX_ENTRY_BYTES) -> None:
        self.max_bytes = max_bytes
        self.max_entry_bytes = min(max_entry_bytes, max_bytes)
        self._bodies: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._bodies)

    @property
    def size(self) -> int:
        """Bytes held now."""
        return self._size

    def get(self, key: str) -> bytes | None:
        """The body kept under `key`, if any (and it is now the most recently used)."""
        with self._lock:
            body = self._bodies.get(key)
            if body is not None:
                self._bodies.move_to_end(key)
            return body

    def put(self, key: str, body: bytes) -> None:
        """Keep `body` under `key` if it fits, evicting the least recently used."""
        if len(body) > self.max_entry_bytes:
            return
        with self._lock:
            previous = self._bodies.pop(key, None)
            self._size -= len(previous) if previous is not None else 0
            self._bodies[key] = body
            self._size += len(body)
            while self._size > self.max_bytes:
                _, evicted = self._bodies.popitem(last=False)
                self._size -= len(evicted)

    def keep_only(self, version: str) -> None:
        """Drop the bodies of every other data version (their keys start with theirs)."""
        prefix = f"{version}-"
        with self._lock:
            for key in [k for k in self._bodies if not k.startswith(prefix)]:
                self._size -= len(self._bodies.pop(key))

    def clear(self) -> None:
        with self._lock:
            self._bodies.clear()
            self._size = 0
