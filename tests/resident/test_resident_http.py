"""The resident site over HTTP (no browser): identify, choose, hold, confirm, change, cancel; the
phone's reserve, expired holds, CSRF, rate limits and what reaches the logs."""

from __future__ import annotations

import logging
import re
from datetime import date

from sqlalchemy import select

from slots import store
from slots.db import run_in_transaction
from slots.models import Booking, Hold, Slot
from residentkit import TICKET, csrf_of, identity_form, person, release

DAY = date(2026, 12, 1)


def identify(client, **kw):
    csrf = csrf_of(client.get("/yoyaku/").text)
    return client.post("/yoyaku/", data=identity_form(csrf, **kw), follow_redirects=False)


def hold_first_time(client, day: date = DAY):
    page = client.get(f"/yoyaku/day/{day.isoformat()}")
    slot_id = re.search(r'name="slot_id" value="(\d+)"', page.text).group(1)
    held = client.post("/yoyaku/hold", data={"csrf": csrf_of(page.text), "slot_id": slot_id, "day": day.isoformat()},
                       follow_redirects=False)
    assert held.status_code == 303 and held.headers["location"] == "/yoyaku/confirm"
    return int(slot_id)


def confirm_held(client):
    review = client.get("/yoyaku/confirm")
    done = client.post("/yoyaku/confirm", data={"csrf": csrf_of(review.text)}, follow_redirects=False)
    assert done.headers["location"] == "/yoyaku/booking?done=booked"
    return client.get(done.headers["location"])


def book(client, site):
    release(site.sessionmaker, DAY, now=site.clock.now)
    identify(client)
    slot_id = hold_first_time(client)
    return slot_id, confirm_held(client)


def counters(site, slot_id):
    with site.sessionmaker() as session:
        row = session.get(Slot, slot_id)
        return row.booked, row.held


def test_booking_from_identity_to_the_code(client, site, caplog):
    release(site.sessionmaker, DAY, now=site.clock.now)
    caplog.set_level(logging.DEBUG)
    first = identify(client)
    assert first.status_code == 303 and first.headers["location"] == "/yoyaku/calendar"
    calendar = client.get("/yoyaku/calendar?month=2026-12").text
    assert 'aria-label="12月1日（火） 空き 8人"' in calendar
    slot_id = hold_first_time(client)
    assert counters(site, slot_id) == (0, 1)
    review = client.get("/yoyaku/confirm").text
    assert "12月1日（火）" in review and "9時から" in review and "市役所" in review and 'id="countdown-clock"' in review
    page = confirm_held(client)
    code = re.search(r'id="booking-code">(\d+)<', page.text).group(1)
    assert "予約が できました" in page.text and "2026年 12月1日（火）" in page.text
    with site.sessionmaker() as session:
        booking = session.execute(select(Booking).where(Booking.code == code)).scalar_one()
        assert (booking.channel, booking.slot_id) == ("web", slot_id)
    assert counters(site, slot_id) == (1, 0)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert TICKET not in logged and code not in logged and "1950" not in logged


def test_a_resident_with_a_booking_sees_it_and_changes_it(client, site):
    slots = release(site.sessionmaker, DAY, now=site.clock.now)
    phone = run_in_transaction(site.sessionmaker, store.book, slots[1].id, person(site.settings.person_key_bytes()),
                               channel="phone", now=site.clock.now)
    assert identify(client).headers["location"] == "/yoyaku/booking"
    page = client.get("/yoyaku/booking").text
    assert phone.code in page and "9時30分から" in page
    moved = client.post("/yoyaku/change", data={"csrf": csrf_of(page)}, follow_redirects=False)
    assert moved.headers["location"] == "/yoyaku/calendar"
    assert "新しい 日を えらぶ" in client.get("/yoyaku/calendar").text
    slot_id = hold_first_time(client)
    review = client.get("/yoyaku/confirm").text
    assert "この 日時に 変更する" in review and "いまの 予約（12月1日（火） 9時30分から 市役所）" in review
    done = client.post("/yoyaku/confirm", data={"csrf": csrf_of(review)}, follow_redirects=False)
    assert done.headers["location"] == "/yoyaku/booking?done=changed"
    after = run_in_transaction(site.sessionmaker, store.get_booking, phone.code)
    assert (after.code, after.slot_id, after.status) == (phone.code, slot_id, "confirmed")
    assert counters(site, slots[1].id) == (0, 0) and counters(site, slot_id) == (1, 0)


def test_cancel_needs_the_identity_and_gives_the_place_back(client, site):
    slot_id, page = book(client, site)
    cancel_page = client.get("/yoyaku/cancel").text
    assert "予約を 取り消しますか" in cancel_page
    done = client.post("/yoyaku/cancel", data={"csrf": csrf_of(cancel_page)}, follow_redirects=False)
    assert done.headers["location"] == "/yoyaku/booking?cancelled=1"
    assert "予約を 取り消しました" in client.get(done.headers["location"]).text
    assert counters(site, slot_id) == (0, 0)


def test_a_wrong_birth_date_finds_no_booking(client, site):
    slots = release(site.sessionmaker, DAY, now=site.clock.now)
    run_in_transaction(site.sessionmaker, store.book, slots[0].id, person(site.settings.person_key_bytes()),
                       channel="phone", now=site.clock.now)
    other = identify(client, birth=date(1951, 4, 1))
    assert other.headers["location"] == "/yoyaku/calendar"


def test_bad_identity_is_explained_in_plain_japanese(client):
    csrf = csrf_of(client.get("/yoyaku/").text)
    bad = client.post("/yoyaku/", data={"csrf": csrf, "ticket": "12ab", "year": "1950", "month": "2", "day": "30"})
    assert bad.status_code == 422
    assert "接種券の 番号を 数字で 入れてください。" in bad.text and "生年月日を 正しく 入れてください。" in bad.text
    assert 'aria-invalid="true"' in bad.text and "12ab" not in bad.text


def test_forms_without_the_visit_token_are_refused(client, site):
    release(site.sessionmaker, DAY, now=site.clock.now)
    refused = client.post("/yoyaku/", data=identity_form("forged"))
    assert refused.status_code == 403 and "はじめの 画面から もう一度" in refused.text
    identify(client)
    slot = release(site.sessionmaker, DAY, now=site.clock.now)[0]
    forged = client.post("/yoyaku/hold", data={"csrf": "forged", "slot_id": str(slot.id)})
    assert forged.status_code == 403 and counters(site, slot.id) == (0, 0)


def test_pages_need_an_identified_visit(client):
    page = client.get("/yoyaku/calendar")
    assert page.status_code == 401 and "本人確認を してください" in page.text


def test_an_expired_hold_is_not_confirmed_and_its_place_comes_back(client, site):
    release(site.sessionmaker, DAY, now=site.clock.now)
    identify(client)
    slot_id = hold_first_time(client)
    review = client.get("/yoyaku/confirm").text
    site.clock.advance(site.settings.hold_ttl_seconds + 1)
    late = client.post("/yoyaku/confirm", data={"csrf": csrf_of(review)})
    assert late.status_code == 409 and "時間が すぎました" in late.text
    assert counters(site, slot_id) == (0, 0)
    with site.sessionmaker() as session:
        assert session.execute(select(Booking)).first() is None
        assert session.execute(select(Hold.state)).scalars().all() in (["released"], ["expired"])


def test_the_web_sees_and_takes_only_what_the_phone_reserve_leaves(client, site):
    slots = release(site.sessionmaker, DAY, capacity=2, times=("09:00-09:30",), percent=50, now=site.clock.now)
    identify(client)
    assert 'aria-label="12月1日（火） 空き 1人"' in client.get("/yoyaku/calendar?month=2026-12").text
    assert hold_first_time(client) == slots[0].id
    confirm_held(client)
    client.cookies.clear()
    identify(client, ticket="9876543210")
    day = client.get(f"/yoyaku/day/{DAY.isoformat()}").text
    assert "この 日は 空きが ありません" in day
    forced = client.post("/yoyaku/hold", data={"csrf": csrf_of(day), "slot_id": str(slots[0].id), "day": DAY.isoformat()},
                         follow_redirects=False)
    assert forced.headers["location"] == f"/yoyaku/day/{DAY.isoformat()}?full=1"
    assert counters(site, slots[0].id) == (1, 0)


def test_identity_tries_are_limited_per_client(client):
    statuses = [identify(client, ticket=f"55500000{i:02d}").status_code for i in range(6)]
    assert statuses == [303] * 5 + [429]
    limited = identify(client)
    assert "アクセスが 多すぎます" in limited.text and int(limited.headers["Retry-After"]) > 0


def test_a_day_outside_the_calendar_is_a_plain_404(client):
    identify(client)
    for day in ("9999-12-31", "2026-11-01", "2026-02-30", "today"):
        page = client.get(f"/yoyaku/day/{day}")
        assert page.status_code == 404 and "カレンダーから 日を えらんでください" in page.text, day
