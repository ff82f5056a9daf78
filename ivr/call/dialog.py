"""One caller's dialog: the loop that drives the engine, and the hold the engine keeps in the store.

`DialogRun.run(side)` plays the engine's actions through a `DialogSide` (a phone call, a terminal,
a test) until the engine transfers or hangs up, feeding back what the caller answers and what the
store and the operator queue say. The engine decides when a place is held, given back or booked;
the run only notices, after each store result, whether the engine's hold changed, and remembers
the last hold the store said is live so that a caller who leaves can have it given back.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from dialogs.engine import Engine
from dialogs.messages import (
    Action, CheckOperators, Digits, Hangup, Input, Listen, OperatorStatus, Say, Silence, StoreCall, StoreResult,
    Transfer, Utterance,
)


@dataclass(frozen=True)
class Hold:
    hold_id: int
    slot_id: int


@dataclass(frozen=True)
class HoldChange:
    placed: Hold | None = None  # the engine holds this place now
    let_go: Hold | None = None  # the engine no longer holds this one (given back, or booked)


NO_CHANGE = HoldChange()


class DialogSide:
    """Who the dialog talks to. `listen` and `store` are the side's own; the rest may stay as they are."""

    def entering(self, action: Action) -> None:
        """Before each action is carried out."""

    async def say(self, say: Say, coming: Sequence[Action]) -> None:
        """Speak; `coming` are the actions queued after this one (prompts to prepare)."""

    async def listen(self, listen: Listen) -> Utterance | Digits | Silence | None:
        """The caller's answer; None once the caller has left."""
        raise NotImplementedError

    async def store(self, call: StoreCall) -> StoreResult:
        raise NotImplementedError

    async def operators(self) -> OperatorStatus:
        """Whether a hand-over reaches somebody now; always, unless the side knows better."""
        return OperatorStatus(True)

    def took(self, value: Input, change: HoldChange) -> None:
        """After the engine took an input (and, for a store result, how its hold changed)."""


class DialogRun:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.hold: Hold | None = None

    async def run(self, side: DialogSide) -> Transfer | Hangup | None:
        """Carry out the engine's actions until it ends the dialog (None: the caller left)."""
        pending: deque[Action] = deque(self.engine.start())
        while pending:
            action = pending.popleft()
            side.entering(action)
            if isinstance(action, (Transfer, Hangup)):
                return action
            if isinstance(action, Say):
                await side.say(action, pending)
                continue
            if isinstance(action, Listen):
                answer: Input | None = await side.listen(action)
            elif isinstance(action, StoreCall):
                answer = await side.store(action)
            elif isinstance(action, CheckOperators):
                answer = await side.operators()
            else:
                raise TypeError(f"unknown dialog action {type(action).__name__}")
            if answer is None:
                return None
            pending.extendleft(reversed(self.engine.handle(answer)))
            side.took(answer, self._settle(answer) if isinstance(answer, StoreResult) else NO_CHANGE)
        return None

    def _settle(self, result: StoreResult) -> HoldChange:
        """How the engine's hold changed with this store result. A failed store call changed nothing
        in the store, so the hold it had is still live even when the engine let go of it."""
        held = self.engine.values.get("hold")
        known = self.hold.hold_id if self.hold is not None else None
        if not result.ok or held == known:
            return NO_CHANGE
        let_go = self.hold
        self.hold = Hold(int(held), int(result.value.get("slot_id", 0))) if held is not None else None  # type: ignore[call-overload]
        return HoldChange(placed=self.hold, let_go=let_go)

    def give_back(self) -> tuple[Hold, StoreCall] | None:
        """The hold still live as the call ends, and the store call that frees it (then forgotten)."""
        hold, self.hold = self.hold, None
        return None if hold is None else (hold, StoreCall("release_hold", {"hold_id": hold.hold_id}))
