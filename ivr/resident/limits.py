"""Per-client limits: at most `limit` events per `window` for each key (a client address)."""

from __future__ import annotations

import math
from collections import deque
from datetime import datetime, timedelta

MAX_KEYS = 20_000


class RateLimit:
    def __init__(self, limit: int, window: timedelta) -> None:
        self.limit, self.window = limit, window
        self._events: dict[str, deque[datetime]] = {}

    def take(self, key: str, now: datetime) -> int:
        """Count one event for `key`; 0 if allowed, else the whole seconds until it would be."""
        events = self._events.setdefault(key, deque())
        while events and now - events[0] >= self.window:
            events.popleft()
        if len(events) >= self.limit:
            return max(1, math.ceil((events[0] + self.window - now).total_seconds()))
        events.append(now)
        if len(self._events) > MAX_KEYS:  # bound memory under a spray of addresses
            self._events.pop(next(iter(self._events)))
        return 0
