"""`GET /metrics` (no token): Prometheus text format.

The series of `ivr.metrics` follow the event bus. `madoguchi_callback_requests_open` is counted in
the store at each scrape instead: operators on any node take requests, so no one process sees them
all. Every node reports the same store (aggregate nodes with max, not sum); the gauge is left out
while the store does not answer, and the other series still come.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from ivr.http import transactions
from ivr.http.transactions import DatabaseUnavailable
from ivr.metrics import CONTENT_TYPE
from slots import store

router = APIRouter(tags=["metrics"])


def open_callbacks(request: Request) -> bytes:
    """The open call-back requests as exposition text; empty when the store does not answer."""
    try:
        counts = transactions.of(request).run(store.count_callbacks)
    except DatabaseUnavailable:
        return b""
    registry = CollectorRegistry()
    Gauge("madoguchi_callback_requests_open", "Call-back requests nobody has taken yet (from the store)",
          registry=registry).set(counts.open)
    return generate_latest(registry)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.render() + open_callbacks(request), media_type=CONTENT_TYPE)
