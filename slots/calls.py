"""Call records for the dashboard: steps, outcomes and confidences of finished calls. No personal data."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from slots.errors import InvalidInput
from slots.models import CallRecord
from slots.outcomes import DROPOUT_OUTCOMES, CallOutcome
from slots.timeutil import from_db, to_db
from slots.views import CallStats



def record_call(session: Session, *, call_id: str, started_at: datetime, ended_at: datetime | None,
                outcome: CallOutcome | str, last_step: str | None, steps: Sequence[str] = (),
                confidences: Sequence[float] = (), transferred: bool = False, channel: str = "phone") -> int:
    """Store one finished call; returns its row id. A call id is recorded once (IntegrityError after)."""
    if not call_id or len(call_id) > 64:
        raise InvalidInput("call_id (at most 64 characters) is required")
    if outcome not in set(CallOutcome):
        raise InvalidInput(f"outcome must be one of {', '.join(CallOutcome)}, not {outcome!r}")
    return session.execute(insert(CallRecord).values(
        call_id=call_id, started_at=to_db(started_at, "started_at"),
        ended_at=None if ended_at is None else to_db(ended_at, "ended_at"), outcome=str(outcome),
        last_step=last_step, steps=[str(s) for s in steps], confidences=[float(c) for c in confidences],
        transferred=bool(transferred), channel=channel,
    ).returning(CallRecord.id)).scalar_one()


def call_stats(session: Session, start: datetime, end: datetime) -> CallStats:
    """Figures for calls started in [start, end): hours in UTC, drop-outs by last step."""
    rows = session.execute(
        select(CallRecord).where(CallRecord.started_at >= to_db(start, "start"), CallRecord.started_at < to_db(end, "end"))
    ).scalars().all()
    per_hour = Counter(from_db(r.started_at).replace(minute=0, second=0, microsecond=0) for r in rows)
    outcomes = [CallOutcome(r.outcome) for r in rows]  # older releases' strings: migration 0003
    dropout = Counter(r.last_step or "" for r, outcome in zip(rows, outcomes) if outcome in DROPOUT_OUTCOMES)
    durations = [(r.ended_at - r.started_at).total_seconds() for r, outcome in zip(rows, outcomes)
                 if outcome is CallOutcome.BOOKED and r.ended_at is not None]
    return CallStats(
        total=len(rows), by_outcome=dict(Counter(outcomes)), per_hour=dict(sorted(per_hour.items())),
        dropout_by_step=dict(dropout), transferred=sum(1 for r in rows if r.transferred),
        avg_booking_seconds=sum(durations) / len(durations) if durations else None,
    )
