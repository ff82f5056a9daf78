"""The chat in headless Chromium on a phone-sized screen: a booking through the vaccine script by
tapping and typing, and axe-core on the chat page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from slots import store
from slots.db import run_in_transaction
from residentkit import axe_violations, day_ahead, release, shoot

pytestmark = pytest.mark.browser


def answer(page, text: str) -> None:
    page.get_by_label(re.compile("入力")).fill(text)
    page.get_by_role("button", name="送る").click()
    page.wait_for_load_state()


def test_booking_by_chat_through_the_vaccine_script(browser, live_site):
    day = day_ahead(8)
    release(live_site.sessionmaker, day, times=("09:00-10:00",))
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="ja-JP", timezone_id="Asia/Tokyo",
                                  base_url=live_site.url, bypass_csp=True)  # bypass: axe is injected as a script
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto("/chat/")
        expect(page.locator(".log")).to_contain_text("ワクチン予約の窓口です。")
        assert axe_violations(page) == []
        page.get_by_role("button", name="予約する").click()
        expect(page.locator(".log")).to_contain_text("接種券番号をどうぞ。")
        answer(page, "2000000001")
        answer(page, "19500401")
        answer(page, f"{day.month}月{day.day}日")
        expect(page.locator(".log")).to_contain_text("何時がよろしいですか")
        page.get_by_role("button", name="9:30").click()
        expect(page.locator(".log")).to_contain_text("で、予約してよろしいですか")
        page.get_by_role("button", name="はい").click()
        code = page.locator("#chat-code")
        expect(code).to_have_text(re.compile(r"^\d{8}$"))
        shoot(page, "chat-booked")
        assert axe_violations(page) == []
        booking = run_in_transaction(live_site.sessionmaker, store.get_booking, code.text_content())
        assert (booking.channel, booking.status) == ("chat", "confirmed")
        assert booking.start.astimezone(live_site.settings.tz).strftime("%H:%M") == "09:30"
    finally:
        context.close()
