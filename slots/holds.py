"""Holds: a place kept for a caller while they confirm."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from slots import sql
from slots.availability import refuse
from slots.counters import audit, check_channel, check_name, check_ttl, end_hold, expire_holds, give_back, run, take
from slots.timeutil import from_db, to_db
from slots.views import HoldView


def hold(session: Session, slot_id: int, *, ttl_seconds: int, channel: str, call_id: str | None = None,
         now: datetime, alternatives: int = 3) -> HoldView:
    """Reserve one place for `ttl_seconds` while the caller confirms. Raises SlotFull (with the
    nearest alternatives), NotOpenYet, SlotClosed or NotFound."""
    check_ttl(ttl_seconds)
    check_channel(channel)
    if call_id is not None:
        check_name(call_id, "call_id", 64)
    at = to_db(now, "now")
    expire_holds(session, now=now, slot_ids=[slot_id])
    if not take(session, slot_id, at, "held"):
        refuse(session, slot_id, at, alternatives=alternatives)
    expires_at = at + timedelta(seconds=ttl_seconds)
    hold_id = run(session, sql.INSERT_HOLD, {
        "slot_id": slot_id, "created_at": at, "expires_at": expires_at, "state": "live", "channel": channel,
        "call_id": call_id, "ended_at": None,
    }).scalar_one()
    audit(session, at, channel, "hold", slot_id=slot_id, hold_id=hold_id, detail={"ttl_seconds": ttl_seconds})
    return HoldView(id=hold_id, slot_id=slot_id, expires_at=from_db(expires_at))


def release_hold(session: Session, hold_id: int, *, now: datetime, actor: str | None = None) -> None:
    """Give the place back. Idempotent: an unknown, expired, used or released hold is left as it is."""
    at = to_db(now, "now")
    slot_id = end_hold(session, hold_id, "released", at)
    if slot_id is not None:
        give_back(session, slot_id, "held")
        audit(session, at, actor or "system", "hold_released", slot_id=slot_id, hold_id=hold_id)
