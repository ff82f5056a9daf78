"""Store operations. Each takes a Session and never commits: the caller owns the transaction.

Every place is counted on the slot row: `booked` (confirmed bookings) and `held` (live holds).
Both move only through conditional UPDATEs checked by row count, e.g.
`UPDATE slots SET held = held + 1 WHERE id = :id AND booked + held < capacity`, so two
transactions can never both take the last place: on PostgreSQL the second UPDATE waits for the
first's row lock and re-checks its WHERE clause; on SQLite writers queue on `BEGIN IMMEDIATE`. The
database CHECKs `booked + held <= capacity` as a last line. A hold leaves `live` exactly once (a
conditional UPDATE on its state), and whoever moves it gives its place back; expired holds are swept
lazily by every operation that looks at availability, so a crashed process never leaks places.

Locks are taken in one order - hold or booking rows first, then slot rows by ascending id - and a
deadlock or serialization failure that still happens is retried by `slots.db.run_in_transaction`.
"""

from __future__ import annotations

from slots.availability import (
    close_slot,
    find_available,
    get_slot,
    list_slots,
    nearest_available,
    not_open_yet,
    release_batch,
)
from slots.batches import BatchSpec, preview_batch
from slots.bookings import book, cancel, confirm, find_active_booking, get_booking, list_bookings, reschedule
from slots.callbacks import count_callbacks, list_callbacks, request_callback, set_callback_status
from slots.calls import call_stats, record_call
from slots.counters import expire_holds
from slots.holds import hold, release_hold
from slots.listings import bookings_created_between, list_services, list_sites

__all__ = [
    "BatchSpec", "book", "bookings_created_between", "call_stats", "cancel", "close_slot", "confirm",
    "count_callbacks", "expire_holds", "find_active_booking", "find_available", "get_booking", "get_slot", "hold",
    "list_bookings", "list_callbacks", "list_services", "list_sites", "list_slots", "nearest_available", "not_open_yet",
    "preview_batch", "record_call", "release_batch", "release_hold", "request_callback", "reschedule",
    "set_callback_status",
]
