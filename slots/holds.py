"""Holds: a place kept for a caller while they confirm."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from slots import sql
from slots.allocation import is_phone
from slots.availability import refuse
from slots.checks import check_name, check_request_key, check_ttl
from slots.counters import end_hold, give_back, sweep_slot, take
from slots.errors import InvalidInput, TooManyHolds
from slots.rows import audit, run
from slots.timeutil import from_db, to_db
from slots.views import HoldView


def hold(session: Session, slot_id: int, *, ttl_seconds: int, channel: str, call_id: str | None = None,
         now: datetime, alternatives: int = 3, request_key: str | None = None,
         max_live: int | None = None) -> HoldView:
    """Reserve one place for `ttl_seconds` while the caller confirms. Raises SlotFull (with the
    nearest alternatives), NotOpenYet, SlotClosed or NotFound.

    `request_key` (one per attempt, made before the transaction): a retry of an attempt whose
    COMMIT succeeded gets the hold it made, instead of a second one. `max_live`: TooManyHolds when
    `channel` already holds that many live places (an abuse limit, not an invariant: concurrent
    requests of one channel may pass it by a few on PostgreSQL); a retry still gets its hold back."""
    check_ttl(ttl_seconds)
    check_name(channel)
    if call_id is not None:
        check_name(call_id, "call_id", 64)
    key = None if request_key is None else check_request_key(request_key)
    at = to_db(now, "now")
    guard = run(session, sql.HOLD_GUARD, {"p_request": key, "p_channel": channel, "now": at, "p_slot": slot_id}).one()
    if guard.id is not None:
        if guard.slot_id != slot_id:
            raise InvalidInput("this request key was used for another request")
        return HoldView(id=guard.id, slot_id=guard.slot_id, expires_at=from_db(guard.expires_at))
    if max_live is not None and guard.live >= max_live:
        raise TooManyHolds(f"the {channel} channel already holds {max_live} places, as many as it may; "
                           "confirm or release one first")
    if guard.expired is not None:
        sweep_slot(session, now=now, slot_id=slot_id)
    if not take(session, slot_id, at, "held", phone=is_phone(channel)):
        refuse(session, slot_id, at, alternatives=alternatives, channel=channel)
    expires_at = at + timedelta(seconds=ttl_seconds)
    hold_id = run(session, sql.INSERT_HOLD, {
        "slot_id": slot_id, "created_at": at, "expires_at": expires_at, "state": "live", "channel": channel,
        "call_id": call_id, "ended_at": None, "request_key": key,
    }).scalar_one()
    audit(session, at, channel, "hold", slot_id=slot_id, hold_id=hold_id, detail={"ttl_seconds": ttl_seconds})
    return HoldView(id=hold_id, slot_id=slot_id, expires_at=from_db(expires_at))


def release_hold(session: Session, hold_id: int, *, now: datetime, actor: str | None = None) -> None:
    """Give the place back. Idempotent: an unknown, expired, used or released hold is left as it is."""
    at = to_db(now, "now")
    ended = end_hold(session, hold_id, "released", at)
    if ended is not None:
        slot_id, channel = ended
        give_back(session, slot_id, "held", phone=is_phone(channel))
        audit(session, at, actor or "system", "hold_released", slot_id=slot_id, hold_id=hold_id)
