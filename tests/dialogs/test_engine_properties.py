"""Model-based checks of the engine: random callers against a random but consistent store.

Whatever the caller says or presses and whatever the store answers, every action list ends with
exactly one thing to wait for, the engine never holds two places at once nor forgets one, nothing
is held back at the menu, and when it ends the call itself no place it held is left behind.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialogs.engine import CheckOperators, Engine, Hangup, Listen, OperatorStatus, StoreCall, StoreResult, Transfer
from dialogs.script import load_script
from tests.dialogs.helpers import BOOKING, DAY, SILENCE, keys, said, slot

SCRIPTS = Path(__file__).resolve().parents[2] / "dialogs" / "scripts"
TODAY = date(2026, 11, 25)
# Mostly sensible answers for the question asked, so that callers get deep into the dialog.
GOOD = {
    "choice": [said("予約"), keys("1"), keys("1"), said("市役所"), said("確認"), said("キャンセル"), said("変更"),
               keys("2"), keys("3"), keys("4"), said("日にち"), said("時間"), said("やめます"), said("このまま")],
    "digits": [said("1234567890"), said("01234567890"), keys("1234567890#"), keys("01234567890#")],
    "birthdate": [said("昭和40年5月6日"), keys("19650506")],
    "date": [said("12月3日"), said("12月3日の2時半"), said("12月4日の10時"), keys("1203")],
    "time": [said("2時"), said("午前9時"), said("3時"), said("2時半"), keys("1430")],
    "yesno": [said("はい"), keys("1"), said("はい"), said("いいえ"), keys("2")],
}
ANSWERS = [
    said("予約"), said("確認"), said("キャンセル"), said("変更"), said("1234567890"), said("01234567890"),
    said("昭和40年5月6日"), said("12月3日"), said("12月3日の2時半"), said("2時"), said("午前9時"), said("3時"),
    said("はい"), said("いいえ"), said("えーと"), said("もう一度"), said("最初から"), said("日にち"), said("時間"),
    said("やめます"), said("市役所"), said("このまま"), keys("1"), keys("2"), keys("3"), keys("4"), keys("*"),
    keys("1234567890#"), keys("19650506"), keys("1203"), keys("1430"), keys("0"), SILENCE,
]


class FakeStore:
    """Answers store calls from a stream of choices and tracks which holds are live."""

    def __init__(self, choices):
        self.choices, self.live, self.next_id = choices, set(), 100

    def pick(self, n):
        return self.choices.draw(st.integers(0, n - 1))

    def answer(self, call: StoreCall) -> StoreResult:
        op = call.op
        if op == "find_available":
            return [StoreResult(op, True, {"slots": DAY}),
                    StoreResult(op, True, {"slots": [], "alternatives": [slot(8, "10:00", day="2026-12-04")]}),
                    StoreResult(op, True, {"slots": [], "alternatives": []})][self.pick(3)]
        if op == "hold":
            assert not self.live, "a second hold while one is live"
            if self.pick(3) == 0:
                return StoreResult(op, False, {"alternatives": [slot(1, "09:00")]}, "slot_full")
            self.next_id += 1
            self.live.add(self.next_id)
            return StoreResult(op, True, {"hold_id": self.next_id})
        if op == "release_hold":
            self.live.discard(call.args["hold_id"])
            return StoreResult(op, True, {})
        if op in ("confirm", "reschedule"):
            outcome = self.pick(3)
            if outcome == 0:
                self.live.discard(call.args["hold_id"])
                return StoreResult(op, True, {**BOOKING, "code": "40912345"})
            if outcome == 1:
                self.live.discard(call.args["hold_id"])
                return StoreResult(op, False, {}, "hold_expired")
            return StoreResult(op, False, {}, "already_booked" if op == "confirm" else "slot_full")
        if op == "lookup":
            return [StoreResult(op, True, dict(BOOKING)), StoreResult(op, False, {}, "not_found")][self.pick(2)]
        if op == "cancel":
            return StoreResult(op, True, dict(BOOKING))
        if op == "request_callback":
            return [StoreResult(op, True, {"id": 1}), StoreResult(op, False, {}, "invalid_phone"),
                    StoreResult(op, False, {}, "db_unavailable")][self.pick(3)]
        raise AssertionError(f"unexpected store call {op}")


def check_actions(actions):
    assert actions, "an empty action list"
    *body, last = actions
    waits = (Listen, StoreCall, CheckOperators, Transfer, Hangup)
    assert isinstance(last, waits), last
    assert not any(isinstance(a, waits) for a in body), actions


@pytest.mark.parametrize("name", ["vaccine.yaml", "checkup.yaml"])
def test_random_callers_and_store_answers(name):
    script = load_script(SCRIPTS / name)

    @settings(max_examples=600, derandomize=True, database=None, deadline=None)
    @given(st.data())
    def run(data):
        store = FakeStore(data)
        engine = Engine(script, today=TODAY)
        actions = engine.start()
        for _ in range(80):
            check_actions(actions)
            last = actions[-1]
            if isinstance(last, (Transfer, Hangup)):
                assert engine.done and not store.live, "the engine ended with a place still held"
                reached.update(engine.history)
                return
            if isinstance(last, StoreCall):
                actions = engine.handle(store.answer(last))
            elif isinstance(last, CheckOperators):
                actions = engine.handle(OperatorStatus(data.draw(st.booleans()), caller_known=data.draw(st.booleans())))
            else:
                pool = GOOD.get(last.kind, ANSWERS) if data.draw(st.integers(0, 9)) < 8 else ANSWERS
                actions = engine.handle(data.draw(st.sampled_from(pool)))
            assert len(store.live) <= 1
            releasing = {actions[-1].args["hold_id"]} if isinstance(actions[-1], StoreCall) and \
                actions[-1].op == "release_hold" else set()
            assert store.live <= {engine.values.get("hold")} | releasing, "a place held that the engine forgot"
            if isinstance(actions[-1], Listen) and engine.step in (script.start, script.restart):
                assert not store.live, "back at the menu with a place still held"
        reached.update(engine.history)

    reached: set[str] = set()
    run()
    assert reached >= {"hold", "confirm"}, "random callers never got to a hold"
