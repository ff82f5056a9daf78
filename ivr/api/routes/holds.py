"""`/holds`: keep a place for a caller while they confirm; release it.

A hold belongs to the channel whose token placed it (the label is fixed by the token); its id is
opaque and unguessable, and another channel's hold answers 404 (see `ivr.api.hold_access`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response, status

from ivr.api import hold_access
from ivr.api.deps import ChannelOrStaffCaller, MetricsDep, NowDep, SettingsDep, StoreDep, hold_rate, request_key
from ivr.api.schemas import HoldIn, HoldOut, Problem
from ivr.config import Credential

router = APIRouter(prefix="/holds", tags=["holds"])
HoldId = Annotated[str, Path(max_length=64, description="the id the hold was placed with (opaque)")]


def channel_of(caller: Credential, asked: str | None) -> str:
    """The channel recorded with a hold, booking or cancellation: the token's label, never the client's."""
    if asked is not None and asked != caller.label:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"the channel label is fixed by the token (this token records {caller.label!r})")
    return caller.label


def hold_ids(request: Request) -> hold_access.HoldIds:
    return request.app.state.hold_ids


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=HoldOut, summary="Hold a place in a slot",
    responses={409: {"model": Problem, "description": "slot_full (with alternatives), not_open_yet, slot_closed"},
               429: {"model": Problem, "description": "too_many_holds: the channel's live holds are at the limit; "
                                                      "rate_limited: too many holds from this client address "
                                                      "within a minute (Retry-After)"}},
    dependencies=[Depends(hold_rate)],
)
def place(body: HoldIn, caller: ChannelOrStaffCaller, request: Request, settings: SettingsDep, db: StoreDep,
          now: NowDep, metrics: MetricsDep) -> HoldOut:
    channel = channel_of(caller, body.channel)
    view = db.run(hold_access.place, body.slot_id, channel=channel, limit=settings.channel_max_holds,
                  ttl_seconds=body.ttl_seconds, call_id=body.call_id, now=now, alternatives=settings.alternatives,
                  request_key=request_key())
    metrics.hold_placed(channel)
    return HoldOut.of(view, settings.tz, hold_ids(request).public(view.id))


@router.delete("/{hold_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Release a hold",
               responses={404: {"model": Problem, "description": "no such hold for this channel"}})
def release(hold_id: HoldId, caller: ChannelOrStaffCaller, request: Request, db: StoreDep,
            now: NowDep) -> Response:
    """Idempotent: releasing one's own hold that ended already answers 204 too."""
    number = hold_ids(request).number(hold_id)
    db.run(hold_access.release, number, owner=caller.label, now=now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
