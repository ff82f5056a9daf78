"""The resident site in headless Chromium on a phone-sized screen, against live servers: booking,
change, cancel, the hold's countdown running out, keyboard use, and axe-core's accessibility check
(no serious or critical violation on any page)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from playwright.sync_api import expect

from slots import store
from slots.db import run_in_transaction
from slots.models import Slot
from residentkit import SHORT_HOLD_SECONDS, axe_violations, day_ahead, person, release, shoot

pytestmark = pytest.mark.browser


def identify(page, ticket: str, birth: date = date(1950, 4, 1)) -> None:
    page.goto("/yoyaku/")
    page.get_by_label("接種券の 番号").fill(ticket)
    page.get_by_label("年").fill(str(birth.year))
    page.get_by_label("月", exact=True).fill(str(birth.month))
    page.get_by_label("日", exact=True).fill(str(birth.day))
    page.get_by_role("button", name="つぎへ").click()
    page.wait_for_load_state()


def pick(page, day: date, *, shots: str | None = None) -> None:
    """From the calendar: the day, then its first time."""
    page.goto(f"/yoyaku/calendar?month={day:%Y-%m}")
    link = page.locator(f"a[href='/yoyaku/day/{day.isoformat()}']")
    if shots:
        shoot(page, f"{shots}-calendar")
    link.click()
    if shots:
        shoot(page, f"{shots}-times")
    page.locator("button.choice").first.click()
    expect(page.locator("h1")).to_have_text("この 内容で よろしいですか")


def test_booking_on_a_phone_screen(phone_page, live_site):
    day = day_ahead(3)
    release(live_site.sessionmaker, day)
    page = phone_page(live_site)
    page.goto("/yoyaku/")
    shoot(page, "resident-identify")
    identify(page, "1000000001")
    expect(page).to_have_url(re.compile(r"/yoyaku/calendar$"))
    pick(page, day, shots="resident")
    expect(page.locator("#countdown-clock")).to_have_text(re.compile(r"^[45]分\d\d秒$"))
    shoot(page, "resident-confirm")
    page.get_by_role("button", name="予約する").click()
    expect(page.locator("h1")).to_have_text("予約が できました")
    code = page.locator("#booking-code")
    expect(code).to_have_text(re.compile(r"^\d{8}$"))
    assert float(code.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")) >= 48
    expect(page.locator(".ticket")).to_contain_text("9時から")
    expect(page.locator(".ticket")).to_contain_text("市役所")
    expect(page.get_by_role("button", name="印刷する")).to_be_visible()
    shoot(page, "resident-booked")
    booking = run_in_transaction(live_site.sessionmaker, store.get_booking, code.text_content())
    assert (booking.status, booking.channel) == ("confirmed", "web")


def test_change_then_cancel(phone_page, live_site):
    day, later = day_ahead(4), day_ahead(5)
    first = release(live_site.sessionmaker, day)[0]
    release(live_site.sessionmaker, later)
    key = live_site.settings.person_key_bytes()
    booked = run_in_transaction(live_site.sessionmaker, store.book, first.id, person(key, "1000000002"),
                                channel="phone", now=datetime.now(UTC))
    page = phone_page(live_site)
    identify(page, "1000000002")
    expect(page.locator("#booking-code")).to_have_text(booked.code)
    page.get_by_role("button", name="日時を 変更する").click()
    expect(page.locator("h1")).to_have_text("新しい 日を えらぶ")
    pick(page, later)
    expect(page.locator("main")).to_contain_text("いまの 予約")
    page.get_by_role("button", name="この 日時に 変更する").click()
    expect(page.locator("h1")).to_have_text("予約を 変更しました")
    expect(page.locator("#booking-code")).to_have_text(booked.code)
    moved = run_in_transaction(live_site.sessionmaker, store.get_booking, booked.code)
    assert moved.start.date() == later or moved.start.astimezone(live_site.settings.tz).date() == later
    page.get_by_role("link", name="予約を 取り消す").click()
    shoot(page, "resident-cancel")
    page.get_by_role("button", name="取り消す", exact=True).click()
    expect(page.locator("[role=status]")).to_have_text("予約を 取り消しました。")
    assert run_in_transaction(live_site.sessionmaker, store.get_booking, booked.code).status == "cancelled"


def test_the_countdown_runs_out_and_the_place_comes_back(phone_page, short_hold_site):
    day = day_ahead(3)
    slot = release(short_hold_site.sessionmaker, day, capacity=1, times=("09:00-09:30",))[0]
    page = phone_page(short_hold_site)
    identify(page, "1000000003")
    pick(page, day)
    expect(page.locator("#countdown-clock")).to_have_text(re.compile(r"^0分0\d秒$"))
    expired = page.locator("#expired")
    expect(expired).to_be_visible(timeout=(SHORT_HOLD_SECONDS + 15) * 1000)
    expect(expired).to_contain_text("時間が すぎました")
    expect(page.get_by_role("button", name="予約する")).to_be_hidden()
    shoot(page, "resident-expired")
    page.get_by_role("link", name="もう一度 日時を えらぶ").click()
    expect(page.locator(f"a[href='/yoyaku/day/{day.isoformat()}']")).to_be_visible()  # the place is free again
    page.goto("/yoyaku/confirm")  # the server agrees: the hold is over
    expect(page.locator("h1")).to_have_text("時間が すぎました")
    with short_hold_site.sessionmaker() as session:
        row = session.get(Slot, slot.id)
        assert (row.booked, row.held) == (0, 0)


def test_keyboard_only(phone_page, live_site):
    day = day_ahead(6)
    release(live_site.sessionmaker, day)
    page = phone_page(live_site)
    page.goto("/yoyaku/")
    page.keyboard.press("Tab")
    expect(page.locator(".skip")).to_be_focused()
    page.get_by_label("接種券の 番号").focus()
    page.keyboard.type("1000000004")
    for text in ("1950", "4", "1"):
        page.keyboard.press("Tab")
        page.keyboard.type(text)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/yoyaku/calendar$"))
    page.goto(f"/yoyaku/calendar?month={day:%Y-%m}")
    page.locator(f"a[href='/yoyaku/day/{day.isoformat()}']").focus()
    page.keyboard.press("Enter")
    page.locator("button.choice").first.focus()
    page.keyboard.press("Enter")
    page.get_by_role("button", name="予約する").focus()
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("予約が できました")


def test_every_page_passes_axe(browser, live_site):
    day = day_ahead(7)
    release(live_site.sessionmaker, day)
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="ja-JP", timezone_id="Asia/Tokyo",
                                  base_url=live_site.url, bypass_csp=True)  # axe is injected as a script
    page = context.new_page()
    page.set_default_timeout(10_000)
    found = {}
    try:
        page.goto("/yoyaku/")
        found["start"] = axe_violations(page)
        page.get_by_role("button", name="つぎへ").click()
        found["start with errors"] = axe_violations(page)
        identify(page, "1000000005")
        page.goto(f"/yoyaku/calendar?month={day:%Y-%m}")
        found["calendar"] = axe_violations(page)
        page.locator(f"a[href='/yoyaku/day/{day.isoformat()}']").click()
        found["times"] = axe_violations(page)
        page.locator("button.choice").first.click()
        found["confirm"] = axe_violations(page)
        page.get_by_role("button", name="予約する").click()
        found["booking"] = axe_violations(page)
        page.get_by_role("link", name="予約を 取り消す").click()
        found["cancel"] = axe_violations(page)
        page.evaluate("document.querySelector('main').insertAdjacentHTML('beforeend', '<input name=unlabelled>')")
        broken = axe_violations(page)  # the check sees what it is there to see
    finally:
        context.close()
    assert len(found) == 7
    assert "label" in {v["id"] for v in broken}
    assert {name: v for name, v in found.items() if v} == {}


def test_booking_without_javascript(browser, live_site):
    day = day_ahead(9)
    release(live_site.sessionmaker, day)
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="ja-JP", timezone_id="Asia/Tokyo",
                                  base_url=live_site.url, java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        identify(page, "1000000006")
        pick(page, day)
        expect(page.locator("#countdown-clock")).to_have_text(re.compile(r"^[45]分\d\d秒$"))  # as the server wrote it
        page.get_by_role("button", name="予約する").click()
        expect(page.locator("h1")).to_have_text("予約が できました")
        expect(page.locator("#booking-code")).to_have_text(re.compile(r"^\d{8}$"))
        expect(page.get_by_role("button", name="印刷する")).to_be_hidden()  # printing needs the browser's menu
    finally:
        context.close()
