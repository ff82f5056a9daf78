"""Table helpers for dialog tests: compact expected actions, slot fixtures, a scripted caller."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from dialogs.engine import (
    CheckOperators, Digits, Engine, Hangup, Listen, OperatorStatus, Say, Silence, StoreCall, StoreResult, Transfer,
    Utterance,
)
from dialogs.messages import Action
from ivr.call.dialog import DialogRun, DialogSide


def said(text: str) -> Utterance:
    return Utterance((text,), 0.9)


def keys(digits: str) -> Digits:
    return Digits(digits)


SILENCE = Silence()
OPERATORS_IN = OperatorStatus(True)
NOBODY_IN = OperatorStatus(False, hours="平日の午前八時半から午後五時十五分まで", caller_known=True)


def ok(op: str, **value) -> StoreResult:
    return StoreResult(op, True, value, None)


def fail(op: str, reason: str, **value) -> StoreResult:
    return StoreResult(op, False, value, reason)


def slot(id_: int, at: str, available: int = 2, day: str = "2026-12-03", site: str = "市役所本庁舎") -> dict:
    return {"id": id_, "date": day, "time": at, "site": site, "available": available}


DAY = [slot(1, "09:00"), slot(2, "09:30", 0), slot(3, "14:00", 0), slot(4, "14:30", 3), slot(5, "15:00", 1)]
BOOKING = {"code": "40912345", "status": "confirmed", "service": "vaccine", "site": "市役所本庁舎", "slot_id": 9,
           "date": "2026-12-01", "time": "10:00"}


def matches(action, token: str) -> bool:
    """`say~text` (Say containing text), `listen:kind`, `store:op` or `store:op key=value`,
    `check-operators`, `transfer`, `hangup:reason`, `keypad:kind` (a keypad-only Listen)."""
    if token.startswith("say~"):
        return isinstance(action, Say) and token[4:] in action.text
    if token.startswith("listen:"):
        return isinstance(action, Listen) and action.kind == token[7:]
    if token.startswith("store:"):
        op, *pairs = token[6:].split()
        if not isinstance(action, StoreCall) or action.op != op:
            return False
        return all(str(action.args.get(k)) == v for k, v in (p.split("=", 1) for p in pairs))
    if token.startswith("keypad:"):
        return isinstance(action, Listen) and action.kind == token[7:] and action.keypad
    if token == "check-operators":
        return isinstance(action, CheckOperators)
    if token == "transfer":
        return isinstance(action, Transfer)
    if token.startswith("hangup:"):
        return isinstance(action, Hangup) and action.reason == token[7:]
    raise ValueError(f"bad token {token!r}")


def play(engine, turns):
    """Run (input, expected tokens) turns; `None` input means `start()`. Returns every action."""
    everything = []
    for number, (event, expected) in enumerate(turns):
        actions = engine.start() if event is None else engine.handle(event)
        everything += actions
        shown = [repr(a) for a in actions]
        assert len(actions) == len(expected), f"turn {number} {event!r}: {shown} vs {expected}"
        for action, token in zip(actions, expected):
            assert matches(action, token), f"turn {number} {event!r}: {action!r} does not match {token!r}"
    return everything


def assert_covered(script, flows, today):
    """Every step entered and every `next` edge (step -> step per outcome) taken by some flow."""
    from dialogs.engine import Engine

    steps, edges = set(), set()
    for turns in flows.values():
        engine = Engine(script, today=today)
        for event, _ in turns:
            engine.start() if event is None else engine.handle(event)
        steps.update(engine.history)
        edges.update(zip(engine.history, engine.history[1:]))
    needed = {(name, target) for name, step in script.steps.items() for target in step.next.values()}
    missing_steps, missing_edges = set(script.steps) - steps, needed - edges
    assert not missing_steps, f"steps never entered: {sorted(missing_steps)}"
    assert not missing_edges, f"outcomes never taken (step -> next step): {sorted(missing_edges)}"


class ScriptedCaller(DialogSide):
    """Answers from a list and leaves when it runs out; store calls go to `store`."""

    def __init__(self, answers: Sequence[Utterance | Digits | Silence], store: Callable[[StoreCall], StoreResult]):
        self.answers, self._store = list(answers), store
        self.spoken: list[str] = []
        self.last: Action | None = None  # the action the dialog stopped at

    def entering(self, action: Action) -> None:
        self.last = action

    async def say(self, say: Say, coming: Sequence[Action]) -> None:
        self.spoken.append(say.text)

    async def listen(self, listen: Listen) -> Utterance | Digits | Silence | None:
        return self.answers.pop(0) if self.answers else None

    async def store(self, call: StoreCall) -> StoreResult:
        return self._store(call)


def converse(engine: Engine, answers, store: Callable[[StoreCall], StoreResult]) -> ScriptedCaller:
    """Run the dialog as a call does (`ivr.call.dialog.DialogRun`) until it ends or the answers run out."""
    caller = ScriptedCaller(answers, store)
    asyncio.run(DialogRun(engine).run(caller))
    return caller
