"""`GET /healthz` (no token): each part's state; 503 when a configured part is not up."""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse

from ivr.api import status as parts

router = APIRouter(tags=["health"])


@router.get(
    "/healthz", summary="Health of the service and its parts",
    responses={503: {"description": "a configured part (db, audiosocket, ami) is down or not started"}},
)
async def healthz(request: Request) -> JSONResponse:
    """`{"status": "ok"|"unavailable", "db": ..., "audiosocket": ..., "ami": ...}`; a part is
    `ok`, `down`, `not_started`, `connecting`, or `disabled` (not configured here; does not count)."""
    state = request.app.state
    states = await parts.check(state.sessionmaker, state.probes)
    ok = parts.healthy(states)
    body = {"status": "ok" if ok else "unavailable", **states}
    return JSONResponse(body, status_code=status.HTTP_200_OK if ok else status.HTTP_503_SERVICE_UNAVAILABLE)
