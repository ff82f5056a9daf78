"""`GET /metrics` (no token): Prometheus text format."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from ivr.metrics import CONTENT_TYPE

router = APIRouter(tags=["metrics"])


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE)
