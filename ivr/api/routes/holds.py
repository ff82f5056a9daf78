"""`/holds`: keep a place for a caller while they confirm; release it."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from ivr.api.deps import ChannelOrStaff, MetricsDep, NowDep, SettingsDep, StoreDep
from ivr.api.schemas import HoldIn, HoldOut, Problem
from slots import store

router = APIRouter(prefix="/holds", tags=["holds"])

DEFAULT_CHANNEL = {"channel": "web", "staff": "staff", "admin": "staff"}


def channel_of(role: str, label: str | None) -> str:
    """The channel recorded with a hold or booking: the label given, else one for the role."""
    return label or DEFAULT_CHANNEL.get(role, role)


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=HoldOut, summary="Hold a place in a slot",
    responses={409: {"model": Problem, "description": "slot_full (with alternatives), not_open_yet, slot_closed"}},
)
def place(body: HoldIn, role: ChannelOrStaff, settings: SettingsDep, db: StoreDep, now: NowDep,
          metrics: MetricsDep) -> HoldOut:
    channel = channel_of(role, body.channel)
    view = db.run(store.hold, body.slot_id, ttl_seconds=body.ttl_seconds, channel=channel,
                  call_id=body.call_id, now=now, alternatives=settings.alternatives)
    metrics.hold_placed(channel)
    return HoldOut.of(view, settings.tz)


@router.delete("/{hold_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Release a hold")
def release(hold_id: int, role: ChannelOrStaff, db: StoreDep, now: NowDep) -> Response:
    """Idempotent: releasing a hold that ended already answers 204 too."""
    db.run(store.release_hold, hold_id, now=now, actor=f"api:{role}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
