"""Rendered answers kept while the tracker's records stay the same.

``tracker.current`` hands back the very same Record objects until a story, the config's events or
the vocabulary changes, so "the same records" is an identity check, and anything computed purely
from them (the JSON, the matrix, the chart) can be reused until then. With thousands of stories
that is most of a page's cost.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from typing import Any


class RecordsCache:
    """Values keyed by ``key``, all dropped when the records are no longer the same objects."""

    def __init__(self, size: int = 64):
        self.size = size
        self._lock = threading.Lock()  # requests are served from several threads
        self._records: tuple[object, ...] = ()
        self._values: dict[Hashable, Any] = {}

    def get(self, records: Sequence[object], key: Hashable, compute: Callable[[], Any]) -> Any:
        with self._lock:
            if not self._same(records):
                self._records, self._values = tuple(records), {}
            elif key in self._values:
                return self._values[key]
        value = compute()  # outside the lock: a slow render does not hold up the other requests
        with self._lock:
            if self._same(records) and len(self._values) < self.size:
                self._values[key] = value
        return value

    def _same(self, records: Sequence[object]) -> bool:
        return len(records) == len(self._records) and all(
            a is b for a, b in zip(records, self._records, strict=True)
        )
