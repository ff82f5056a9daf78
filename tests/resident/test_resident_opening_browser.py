"""Opening time in headless Chromium on a phone-sized screen, against a live server on the real clock:
before the batch opens the calendar says when and its days look unlike full days (and pass axe-core);
a resident who reloads once the opening time has passed sees the places and holds one."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from ivr.opening import opening_notice
from slots import store
from slots.db import run_in_transaction
from residentkit import axe_violations, day_ahead, person, release, shoot

pytestmark = pytest.mark.browser
WAIT = 6  # seconds from the release to the opening: long enough to see the page before it


def identify(page, ticket: str) -> None:
    page.goto("/yoyaku/")
    page.get_by_label("接種券の 番号").fill(ticket)
    page.get_by_label("年").fill("1950")
    page.get_by_label("月", exact=True).fill("4")
    page.get_by_label("日", exact=True).fill("1")
    page.get_by_role("button", name="つぎへ").click()
    page.wait_for_load_state()


def background(cell) -> str:
    return cell.evaluate("e => getComputedStyle(e).backgroundColor")


def test_before_the_opening_then_at_it(browser, live_site):
    later, full = day_ahead(16), day_ahead(17)
    key = live_site.settings.person_key_bytes()
    for i, slot in enumerate(release(live_site.sessionmaker, full, capacity=1)):
        run_in_transaction(live_site.sessionmaker, store.book, slot.id, person(key, f"20000001{i:02d}"),
                           channel="phone", now=datetime.now(UTC))
    opens = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=WAIT)
    release(live_site.sessionmaker, later, opens_at=opens)
    notice = opening_notice(opens, ZoneInfo("Asia/Tokyo"))
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="ja-JP", timezone_id="Asia/Tokyo",
                                  base_url=live_site.url, bypass_csp=True)  # axe is injected as a script
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        identify(page, "2000000200")
        page.goto(f"/yoyaku/calendar?month={later:%Y-%m}")
        expect(page.get_by_role("status")).to_contain_text(notice)
        soon = page.locator("td.soon").filter(has_text="受付前")
        expect(soon).to_have_count(1)
        expect(soon.locator(".date")).to_have_text(str(later.day))
        expect(page.locator(f"a[href='/yoyaku/day/{later.isoformat()}']")).to_have_count(0)
        shoot(page, "resident-before-opening")
        violations = axe_violations(page)
        if full.month == later.month:  # both days on one page: not yet open is not full
            closed = page.locator("td.closed").filter(has=page.locator(".date", has_text=re.compile(rf"^{full.day}$")))
            expect(closed).to_have_count(1)
            assert "空きなし" in closed.text_content() and "受付前" not in closed.text_content()
            assert background(closed) != background(soon)

        time.sleep(max(0.0, (opens - datetime.now(UTC)).total_seconds()) + 0.2)
        page.reload()
        link = page.locator(f"a[href='/yoyaku/day/{later.isoformat()}']")
        expect(link).to_have_count(1)
        expect(page.locator("td.soon")).to_have_count(0)
        link.click()
        page.locator("button.choice").first.click()
        expect(page.locator("h1")).to_have_text("この 内容で よろしいですか")
    finally:
        context.close()
    assert violations == []
