"""The place counters on slot rows and the moves of holds between states.

`slots.booked` and `slots.held` change only here, through conditional UPDATEs checked by row count
(`take`, `give_back`), and a hold leaves `live` exactly once (`end_hold`, `expire_holds`). Helpers
for the operation modules; the public API is `slots.store`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.orm import Session

from slots import sql
from slots.allocation import is_phone
from slots.rows import audit, run
from slots.timeutil import to_db

log = logging.getLogger(__name__)


def take(session: Session, slot_id: int, now: datetime, column: str, *, phone: bool) -> bool:
    """Conditionally add one to `booked` or `held`; True if a place was free for this channel (the
    phone's places are counted in `phone_taken`; other channels leave the phone's unused reserve)."""
    return run(session, sql.TAKE[column, phone], {"p_slot": slot_id, "now": now}).rowcount == 1


def give_back(session: Session, slot_id: int, column: str, count: int = 1, *, phone: int = 0) -> None:
    """Return `count` places, `phone` of them the phone's."""
    result = run(session, sql.GIVE_BACK[column], {"p_slot": slot_id, "p_n": count, "p_phone": int(phone)})
    if result.rowcount != 1:  # the counters no longer match the rows: never silently continue
        raise RuntimeError(f"slot {slot_id}: {column} counter would go negative")


def end_hold(session: Session, hold_id: int, state: str, at: datetime) -> tuple[int, str] | None:
    """Move a live hold to `state`; returns its (slot id, channel) if this call did it (exactly once)."""
    row = run(session, sql.END_HOLD, {"p_hold": hold_id, "p_state": state, "now": at}).first()
    return None if row is None else (row[0], row[1])


def expire_holds(session: Session, *, now: datetime, slot_ids: Iterable[int] | None = None) -> int:
    """Mark live holds past their expiry `expired` and give their places back; returns how many."""
    at = to_db(now, "now")
    if slot_ids is None:
        probe, sweep, batches = sql.ANY_EXPIRED, sql.EXPIRE, [{"now": at}]
    else:
        probe, sweep = sql.ANY_EXPIRED_ON_SLOT, sql.EXPIRE_ON_SLOT
        batches = [{"now": at, "p_slot": slot_id} for slot_id in sorted(set(slot_ids))]
    rows: list = []
    for params in batches:
        # Cheap read first: most calls find nothing to sweep and take no row lock at all.
        if run(session, probe, params).first() is not None:
            rows.extend(run(session, sweep, params).all())
    return _give_back_expired(session, at, rows)


def sweep_slot(session: Session, *, now: datetime, slot_id: int) -> int:
    """`expire_holds` on one slot without its probe, for a caller that has just seen an expired hold there."""
    at = to_db(now, "now")
    return _give_back_expired(session, at, run(session, sql.EXPIRE_ON_SLOT, {"now": at, "p_slot": slot_id}).all())


def _give_back_expired(session: Session, at: datetime, rows: list) -> int:
    """The places of the holds just marked expired (`rows`: id, slot id, channel) back to their slots."""
    per_slot = Counter(slot_id for _, slot_id, _ in rows)
    phone_per_slot = Counter(slot_id for _, slot_id, channel in rows if is_phone(channel))
    for slot_id in sorted(per_slot):
        give_back(session, slot_id, "held", per_slot[slot_id], phone=phone_per_slot[slot_id])
    for hold_id, slot_id, _ in rows:
        audit(session, at, "system", "hold_expired", slot_id=slot_id, hold_id=hold_id)
    if rows:
        log.info("expired %d holds", len(rows))
    return len(rows)
