"""The line's admission with the real IVR: `max_calls` 2, an Asterisk with two seats, one waiting place.

Two callers book by keys and take both seats; a third arrives, waits in queue madoguchi-line, hears
its position, and is served (and books) when a seat frees; a fourth, beyond the waiting limit,
hears the busy message and leaves a call-back request by key, which the API lists and the
dashboard shows in Chromium. No place is booked twice and no hold is left.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
import uvicorn
from playwright.sync_api import expect

from ivr.app import create_app
from ivr.events import CallbackRequested, LineAdmission
from ivr.simulator.scenario import parse_scenario
from ivr.simulator.transcript import format_result
from slots import store
from tests.e2e.conftest import Stack, keyed_date, running_stack
from tests.fixtures.asterisk import running_asterisk
from tests.fixtures.browser import chromium
from tests.fixtures.ports import free_port
from tests.fixtures.waiting import until, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.asterisk, pytest.mark.models, pytest.mark.timeout(900)]

BIRTH = date(1965, 5, 6)
LINE = {"line_seats": 2, "line_max_waiting": 1, "line_max_wait_minutes": 5, "line_call_seconds": 90}
STAFF_TOKEN = "staff-token-for-the-line-test-0123"
BUSY_CALLER = "0312340004"


@pytest.fixture(scope="module")
def line_stack(tmp_path_factory) -> Iterator[Stack]:
    with running_asterisk(f"pytest-e2e-line-{os.getpid()}", **LINE) as line:
        with running_stack(line, tmp_path_factory.mktemp("e2e-line"), max_calls=2, call_timeout=420,
                           api_tokens=f"staff:{STAFF_TOKEN}", session_secret="line-test-session-secret",
                           line_max_waiting=1, line_max_wait_minutes=5, line_call_seconds=90) as built:
            yield built


def _booking_by_keys(ticket: str, day: date, *, wait_for_the_line: bool = False) -> dict:
    first = [{"leave_queue": "madoguchi-line"}, {"press": "1", "after": "start"}] if wait_for_the_line \
        else [{"press": "1", "after": "start"}]
    return {"turns": [
        *first,
        {"press": ticket + "#", "after": "start"},
        {"press": BIRTH.strftime("%Y%m%d"), "after": "start"},
        {"press": keyed_date(day), "after": "start"},
        {"press": "1030", "expect": "何時|時間|空き"},
        {"press": "1", "expect": "よろしいですか"},
    ]}


def _line_results(stack: Stack, since: datetime) -> list[LineAdmission]:
    return [e for e in stack.bus.recent() if isinstance(e, LineAdmission) and e.at >= since]


def _count(stack: Stack, since: datetime, result: str) -> int:
    return sum(e.result == result for e in _line_results(stack, since))


def test_a_third_caller_waits_and_is_served_and_a_fourth_leaves_a_callback_request(line_stack):
    stack = line_stack
    day = stack.today() + timedelta(days=5)
    slots = stack.slots(day, ("10:00-11:00",), capacity=3)
    tickets = ("5172839461", "6283941572", "7394152683")
    since = datetime.now(UTC)

    async def rush():
        def call(name: str, scenario: dict, caller_id: str):
            parsed = parse_scenario({"name": name, "caller_id": caller_id, **scenario})
            return asyncio.create_task(stack.sim.call(parsed, record=stack.records / f"{name}.wav"))

        first = call("seat-a", _booking_by_keys(tickets[0], day), "0312340001")
        await until(lambda: _count(stack, since, "admitted") >= 1, "the first caller took a seat", timeout=30)
        second = call("seat-b", _booking_by_keys(tickets[1], day), "0312340002")
        await until(lambda: _count(stack, since, "admitted") >= 2, "the second caller took a seat", timeout=30)
        waiting = call("waits", _booking_by_keys(tickets[2], day, wait_for_the_line=True), "0312340003")
        await until(lambda: _count(stack, since, "waiting") >= 1, "the third caller waits", timeout=30)
        busy = call("busy", {"turns": [{"press": "1", "after": "start"}]}, BUSY_CALLER)
        return await asyncio.gather(first, second, waiting, busy)

    results = stack.run(rush(), timeout=600)
    for result in results:
        print(format_result(result))
    stack.print_recognized(since)

    line = [(e.result, e.position) for e in _line_results(stack, since)]
    assert line.count(("admitted", 0)) == 3 and ("waiting", 1) in line and ("busy", 0) in line, line
    assert "番目" in results[2].ivr_text(), "the waiting caller heard its position"
    assert re.search("折り返|おり返", results[3].ivr_text()), "the busy caller heard its call-back request taken"

    booked = [stack.tx(store.find_active_booking, stack.person(t, BIRTH), "vaccine") for t in tickets]
    assert all(b is not None and b.status == "confirmed" for b in booked), [r.ivr_text() for r in results[:3]]
    assert [b.slot_id for b in booked] == [slots[1].id] * 3  # 10:30, three places
    view = {s.id: s for s in stack.day_view(day)}
    assert all(s.booked <= s.capacity and s.held == 0 for s in view.values()), view
    assert sum(s.booked for s in view.values()) == 3 and view[slots[1].id].booked == 3

    requested = [e for e in stack.bus.recent() if isinstance(e, CallbackRequested) and e.at >= since]
    assert [e.ok for e in requested] == [True], requested
    _the_request_is_listed_and_shown(stack)


def _the_request_is_listed_and_shown(stack: Stack) -> None:
    app = create_app(stack.settings, sessionmaker=stack.sessionmaker, bus=stack.bus, ami=stack.runtime.ami)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, name="line-test-server", daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), "the dashboard started", timeout=20)
        base = f"http://127.0.0.1:{port}"
        listed = httpx.get(f"{base}/api/v1/callbacks", headers={"Authorization": f"Bearer {STAFF_TOKEN}"}).json()
        assert [(i["reason"], i["status"], i["service"]) for i in listed["items"]] == [("busy", "open", "vaccine")]
        assert listed["items"][0]["phone"] == BUSY_CALLER  # staff see the number to call back
        with chromium() as browser:
            page = browser.new_page(base_url=base, locale="ja-JP")
            page.goto("/login")
            page.fill("input[name=token]", STAFF_TOKEN)
            page.click("button[type=submit]")
            page.goto("/callbacks")
            expect(page.locator("body")).to_contain_text("回線混雑")
            expect(page.locator("body")).to_contain_text(BUSY_CALLER[-4:])
    finally:
        server.should_exit = True
        thread.join(10)
