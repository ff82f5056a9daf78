"""How a call ended: one vocabulary for the call session, the store's call records, the dashboard
and /metrics (a `StrEnum`, so it is stored, labelled and compared as its plain value)."""

from __future__ import annotations

from enum import StrEnum


class CallOutcome(StrEnum):
    BOOKED = "booked"  # a booking was made
    CANCELLED = "cancelled"  # a booking was cancelled
    TRANSFERRED = "transferred"  # handed to the operator queue
    COMPLETED = "completed"  # the dialog ended without a booking or a cancellation
    ABANDONED = "abandoned"  # the caller hung up first
    FAILED = "failed"  # an error ended the call (the caller heard an apology)


#: Outcomes counted as a caller dropping out at their last step.
DROPOUT_OUTCOMES = frozenset({CallOutcome.ABANDONED, CallOutcome.FAILED})
