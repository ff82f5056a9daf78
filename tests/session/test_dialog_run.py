"""`DialogRun`: the engine's actions carried out through a side, and the hold followed from the
engine (what the call session gives back when the caller leaves)."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from dialogs.engine import Engine, Input, StoreCall, StoreResult, Transfer
from ivr.call.dialog import DialogRun, Hold, HoldChange
from tests.dialogs.helpers import ScriptedCaller, fail, keys, ok, slot
from tests.session.test_session import BIRTH, SCRIPT, TICKET

TODAY = date(2026, 11, 24)
DAY = TODAY + timedelta(days=3)
TO_HOLD = [keys("1"), keys(TICKET + "#"), keys(BIRTH), keys(f"{DAY:%m%d}#"), keys("1030")]


class Store:
    """One open place at 10:30; holds numbered from 7; `release_fails`: the store refuses releases."""

    def __init__(self, *, release_fails: bool = False) -> None:
        self.calls: list[StoreCall] = []
        self.release_fails = release_fails

    def __call__(self, call: StoreCall) -> StoreResult:
        self.calls.append(call)
        if call.op == "find_available":
            return ok(call.op, slots=[slot(1, "10:30", day=DAY.isoformat())])
        if call.op == "hold":
            return ok(call.op, hold_id=7, slot_id=1)
        if call.op == "release_hold":
            return fail(call.op, "db_unavailable") if self.release_fails else ok(call.op)
        raise AssertionError(f"unexpected {call!r}")


class Recording(ScriptedCaller):
    def __init__(self, answers, store) -> None:
        super().__init__(answers, store)
        self.changes: list[HoldChange] = []

    def took(self, value: Input, change: HoldChange) -> None:
        if change.placed or change.let_go:
            self.changes.append(change)


def _run(answers, store):
    dialog, caller = DialogRun(Engine(SCRIPT, today=TODAY)), Recording(answers, store)
    ending = asyncio.run(dialog.run(caller))
    return dialog, caller, ending


def test_a_caller_who_leaves_after_the_hold_has_it_to_give_back():
    dialog, caller, ending = _run(TO_HOLD, Store())
    assert ending is None  # the answers ran out: the caller left at the read-back
    assert caller.changes == [HoldChange(placed=Hold(7, 1))]
    hold, release = dialog.give_back()
    assert hold == Hold(7, 1) and release == StoreCall("release_hold", {"hold_id": 7})
    assert dialog.give_back() is None  # given back once


def test_a_hold_the_engine_released_is_not_given_back_again():
    dialog, caller, ending = _run([*TO_HOLD, keys("0")], Store())  # the operator key: released, then handed over
    assert isinstance(ending, Transfer)
    assert caller.changes == [HoldChange(placed=Hold(7, 1)), HoldChange(let_go=Hold(7, 1))]
    assert dialog.give_back() is None


def test_a_release_the_store_refused_leaves_the_hold_to_give_back():
    dialog, caller, ending = _run([*TO_HOLD, keys("0")], Store(release_fails=True))
    assert isinstance(ending, Transfer) and caller.changes == [HoldChange(placed=Hold(7, 1))]
    assert dialog.give_back()[0] == Hold(7, 1)
