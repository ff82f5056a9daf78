"""Opening time on the resident site over HTTP: before a batch opens, the calendar and the day say
when (in the municipality's time), not-yet-open days look unlike full ones, a hold is refused without
taking a place, and a resident who reloads at the opening instant sees and takes the places."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from ivr.opening import clock_label, opening_notice, openings, openings_by_day
from slots import store
from slots.db import run_in_transaction
from slots.views import SlotView
from residentkit import csrf_of, identity_form, person, release

FULL_DAY, LATER_DAY = date(2026, 12, 2), date(2026, 12, 8)
OPENS = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)  # 12月1日（火） 9:00 in Tokyo
NOTICE = "12月1日（火）午前9時から 予約できます"
TOKYO = ZoneInfo("Asia/Tokyo")


def identify(client):
    csrf = csrf_of(client.get("/yoyaku/").text)
    answer = client.post("/yoyaku/", data=identity_form(csrf), follow_redirects=False)
    assert answer.headers["location"] == "/yoyaku/calendar"


def cell(html: str, day: date) -> str:
    """The calendar's cell of `day` (its <td>)."""
    found = re.search(rf'<td class="(\w+)">(?:(?!</td>).)*?<span class="date">{day.day}</span>.*?</td>', html, re.S)
    assert found, f"no cell for {day}"
    return found.group(0)


def batches(site):
    full = release(site.sessionmaker, FULL_DAY, capacity=1, now=site.clock.now)
    for i, slot in enumerate(full):
        run_in_transaction(site.sessionmaker, store.book, slot.id, person(site.settings.person_key_bytes(),
                           ticket=f"77700000{i:02d}"), channel="phone", now=site.clock.now)
    return release(site.sessionmaker, LATER_DAY, capacity=2, now=site.clock.now, opens_at=OPENS)


def test_before_opening_the_calendar_says_when_and_a_full_day_looks_different(client, site):
    later = batches(site)
    identify(client)
    page = client.get("/yoyaku/calendar?month=2026-12").text
    assert NOTICE in page and "読み込みなおして" in page
    soon, full = cell(page, LATER_DAY), cell(page, FULL_DAY)
    assert soon.startswith('<td class="soon">') and "受付前" in soon and NOTICE in soon
    assert full.startswith('<td class="closed">') and "空きなし" in full and "受付前" not in full
    assert "/yoyaku/day/2026-12-08" not in page and "この 月は 空きが ありません" not in page

    day = client.get("/yoyaku/day/2026-12-08").text
    assert NOTICE in day and 'name="slot_id"' not in day and "空きが ありません" not in day
    forced = client.post("/yoyaku/hold", data={"csrf": csrf_of(day), "slot_id": str(later[0].id),
                                               "day": LATER_DAY.isoformat()}, follow_redirects=False)
    assert forced.headers["location"] == "/yoyaku/day/2026-12-08"  # not "full": the day's page says when
    assert run_in_transaction(site.sessionmaker, store.get_slot, later[0].id, now=site.clock.now).held == 0


def test_a_resident_who_reloads_at_the_opening_sees_and_takes_the_places(client, site):
    later = batches(site)
    site.clock.now = OPENS - timedelta(seconds=1)
    identify(client)
    assert NOTICE in client.get("/yoyaku/calendar?month=2026-12").text
    site.clock.now = OPENS
    page = client.get("/yoyaku/calendar?month=2026-12").text
    assert NOTICE not in page and "受付前" not in page
    assert 'aria-label="12月8日（火） 空き 4人"' in page
    day = client.get("/yoyaku/day/2026-12-08").text
    held = client.post("/yoyaku/hold", data={"csrf": csrf_of(day), "slot_id": str(later[0].id),
                                             "day": LATER_DAY.isoformat()}, follow_redirects=False)
    assert held.headers["location"] == "/yoyaku/confirm"


def _slot(start: datetime, opens_at: datetime | None) -> SlotView:
    return SlotView(1, "vaccine", "市役所", start, start + timedelta(minutes=30), 2, 0, 0, 2, opens_at, False)


def test_opening_words_in_the_municipality_time():
    assert clock_label(datetime(2026, 12, 1, 0, 0, tzinfo=UTC), TOKYO) == "午前9時"
    assert clock_label(datetime(2026, 12, 1, 4, 30, tzinfo=UTC), TOKYO) == "午後1時30分"
    assert clock_label(datetime(2026, 12, 1, 3, 0, tzinfo=UTC), TOKYO) == "午後0時"
    assert clock_label(datetime(2026, 11, 30, 15, 0, tzinfo=UTC), TOKYO) == "午前0時"
    assert clock_label(datetime(2026, 11, 30, 15, 0, 6, 999, tzinfo=UTC), TOKYO) == "午前0時0分6秒"
    assert opening_notice(datetime(2026, 11, 30, 15, 5, tzinfo=UTC), TOKYO) == "12月1日（火）午前0時5分から 予約できます"
    assert opening_notice(OPENS, ZoneInfo("Pacific/Honolulu")) == "11月30日（月）午後2時から 予約できます"


def test_openings_are_per_local_day_and_only_in_the_future():
    now = OPENS - timedelta(days=1)
    late_evening = datetime(2026, 12, 7, 14, 30, tzinfo=UTC)  # 23:30 on the 7th in Tokyo
    next_morning = datetime(2026, 12, 7, 15, 30, tzinfo=UTC)  # 0:30 on the 8th in Tokyo
    views = [_slot(late_evening, OPENS + timedelta(hours=1)), _slot(next_morning, OPENS),
             _slot(next_morning, OPENS + timedelta(hours=2)), _slot(next_morning, now), _slot(late_evening, None)]
    assert openings_by_day(views, TOKYO, now) == {date(2026, 12, 7): OPENS + timedelta(hours=1), LATER_DAY: OPENS}
    assert openings(views, now) == [OPENS, OPENS + timedelta(hours=1), OPENS + timedelta(hours=2)]
    assert openings(views, OPENS + timedelta(hours=2)) == []
