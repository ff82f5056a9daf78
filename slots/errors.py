"""The store's typed errors: each carries a machine-readable `reason` for the API and dialogs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from slots.views import SlotView


class StoreError(Exception):
    """Base of every error the store raises on purpose; `reason` is stable, the message is English.

    After a StoreError, roll the transaction back (`run_in_transaction` does): on PostgreSQL a
    constraint that fired under a race leaves the transaction unusable.
    """

    reason = "store_error"


class SlotFull(StoreError):
    """The slot has no free place; `alternatives` are the nearest open slots of the same service."""

    reason = "slot_full"

    def __init__(self, message: str, alternatives: Sequence[SlotView] = ()) -> None:
        super().__init__(message)
        self.alternatives: tuple[SlotView, ...] = tuple(alternatives)


class TooManyHolds(StoreError):
    """The channel has as many live holds as it may have; confirm or release one first."""

    reason = "too_many_holds"


class HoldExpired(StoreError):
    """The hold is no longer live (expired, released or used) and its place could not be re-taken."""

    reason = "hold_expired"


class AlreadyBooked(StoreError):
    """The person already has an active booking for this service."""

    reason = "already_booked"


class NotOpenYet(StoreError):
    """The slot is not bookable before its `opens_at`."""

    reason = "not_open_yet"

    def __init__(self, message: str, opens_at=None) -> None:
        super().__init__(message)
        self.opens_at = opens_at


class NotFound(StoreError):
    """No such slot, hold or booking (or a booking that is no longer active where one is needed)."""

    reason = "not_found"


class SlotClosed(StoreError):
    """The slot is closed by staff or has already started."""

    reason = "slot_closed"


class IdentityMismatch(StoreError):
    """The person given does not match the booking's holder."""

    reason = "identity_mismatch"


class InvalidBatch(StoreError):
    """A batch specification is malformed; the message says which field and why."""

    reason = "invalid_batch"


class InvalidInput(StoreError):
    """An argument is malformed (a naive datetime, a bad ticket number, another service's slot...)."""

    reason = "invalid_input"


class InvalidPhone(InvalidInput):
    """A phone number that is not a Japanese number (10 or 11 digits starting with 0)."""

    reason = "invalid_phone"


class CallbackAlreadyOpen(StoreError):
    """Another open call-back request for the same phone and service exists that day."""

    reason = "callback_already_open"


class CallbackChanged(StoreError):
    """The request is no longer in the status the caller expected (someone else marked it first)."""

    reason = "callback_changed"

    def __init__(self, message: str, *, current: str) -> None:
        super().__init__(message)
        self.current = current
