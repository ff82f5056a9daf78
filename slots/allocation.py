"""Per-channel allocation: a share of a slot's places kept for phone callers until a set time before
the slot, then released to every channel. Pure: the store enforces it in its conditional UPDATEs
(`slots.sql.FAIR`); this module names the phone channel and does the arithmetic for views and specs.
"""

from __future__ import annotations

from datetime import datetime

from slots.views import SlotView

PHONE_CHANNEL = "phone"
MAX_HOURS_BEFORE = 24 * 60


def is_phone(channel: str) -> bool:
    return channel == PHONE_CHANNEL


def reserved_places(capacity: int, percent: int) -> int:
    """Places kept for the phone: `percent` of `capacity`, rounded half up (30 % of 4 is 1)."""
    return (capacity * percent + 50) // 100


def unused_reserve(slot: SlotView, now: datetime) -> int:
    """Reserved places the phone has not taken yet, while the reserve holds at `now` (aware)."""
    if slot.phone_reserved_until is None or slot.phone_reserved_until <= now:
        return 0
    return max(0, slot.phone_reserved - slot.phone_taken)


def available_for(slot: SlotView, channel: str, now: datetime) -> int:
    """Free places `channel` may hold or book at `now`: the phone sees all of them, other channels
    all but the phone's unused reserve."""
    if is_phone(channel):
        return slot.available
    return max(0, slot.capacity - slot.booked - slot.held - unused_reserve(slot, now))
