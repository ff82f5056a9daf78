"""Simulated calls through the real Asterisk, Whisper, Open JTalk, dialog script and store."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from slots import store
from tests.e2e.conftest import keyed_date, spoken_date

pytestmark = pytest.mark.e2e

BIRTH = date(1965, 5, 6)


def _booking_of(stack, ticket: str):
    return stack.tx(store.find_active_booking, stack.person(ticket, BIRTH), "vaccine")


def test_booking_by_keys_only(stack, ticket):
    day = stack.today() + timedelta(days=3)
    slots = stack.slots(day, ("10:00-11:00",))
    result = stack.call({
        "turns": [
            {"press": "1", "expect": "予約"},
            {"press": ticket + "#", "expect": "接種券"},
            {"press": BIRTH.strftime("%Y%m%d"), "expect": "生年月日"},
            {"press": keyed_date(day), "expect": "日にち"},
            {"press": "1030", "expect": "時間"},
            {"press": "1", "expect": "よろしいですか"},
        ],
    }, name="keys")
    booking = _booking_of(stack, ticket)
    assert booking is not None, result.ivr_text()
    assert booking.slot_id == slots[1].id and booking.status == "confirmed" and booking.channel == "phone"
    assert "予約番号" in result.ivr_text()
    assert result.ended_by == "ivr"
    assert all(s.held == 0 for s in stack.day_view(day))
    assert result.ok, result.errors
