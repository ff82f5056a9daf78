"""Who a request comes from and how often it may come: the client's address (`X-Forwarded-For` is
believed only from MADOGUCHI_TRUSTED_PROXIES) and per-client rate limits. Shared by the dashboard's
login throttle, the residents' site, the chat and the API."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta
from ipaddress import IPv4Network, IPv6Network, ip_address

from starlette.requests import Request

MAX_KEYS = 20_000


def client_address(peer: str | None, forwarded_for: str | None, proxies: Sequence[IPv4Network | IPv6Network]) -> str:
    """The client's address: the peer's, or, when the peer is a trusted proxy, the right-most
    `X-Forwarded-For` hop that is not a trusted proxy (hops further left are the client's to invent)."""
    if peer is None:
        return "unknown"
    if not forwarded_for or not _trusted(peer, proxies):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop
    return hops[0] if hops else peer


def client_of(request: Request, proxies: Sequence[IPv4Network | IPv6Network]) -> str:
    """`client_address` of a request."""
    peer = request.client.host if request.client else None
    return client_address(peer, request.headers.get("x-forwarded-for"), proxies)


def _trusted(address: str, proxies: Sequence[IPv4Network | IPv6Network]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


class RateLimit:
    """At most `limit` events per `window` for each key (a client address); a limit of 0 is none."""

    def __init__(self, limit: int, window: timedelta) -> None:
        self.limit, self.window = limit, window
        self._events: dict[str, deque[datetime]] = {}

    def take(self, key: str, now: datetime) -> int:
        """Count one event for `key`; 0 if allowed, else the whole seconds until it would be."""
        if self.limit <= 0:
            return 0
        events = self._events.setdefault(key, deque())
        while events and now - events[0] >= self.window:
            events.popleft()
        if len(events) >= self.limit:
            return max(1, math.ceil((events[0] + self.window - now).total_seconds()))
        events.append(now)
        if len(self._events) > MAX_KEYS:  # bound memory under a spray of addresses
            self._events.pop(next(iter(self._events)))
        return 0
