"""Engine inputs and actions: frozen dataclasses, dispatched on the class."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_SECRET_ARGS = ("ticket", "birthdate", "phone", "callback_phone")


@dataclass(frozen=True)
class Utterance:
    nbest: tuple[str, ...]
    confidence: float = 1.0


@dataclass(frozen=True)
class Digits:
    digits: str  # keys as pressed; a trailing `#` is ignored, `*` repeats the question


@dataclass(frozen=True)
class Silence:
    pass


@dataclass(frozen=True)
class OperatorStatus:
    """Whether a hand-over can reach a person now, answered by the session to `CheckOperators`."""

    available: bool
    hours: str = ""  # the staffed hours as they are read to the caller: 平日の午前八時半から午後五時十五分まで
    caller_known: bool = False  # the caller's number came with the call (a call-back needs no typing)


@dataclass(frozen=True)
class StoreResult:
    op: str
    ok: bool
    value: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None


@dataclass(frozen=True)
class Say:
    text: str
    interruptible: bool = True
    kind: str = "prompt"  # prompt | readback | code
    private: bool = False  # carries a caller's own data: never stored in a prompt cache


@dataclass(frozen=True)
class Listen:
    kind: str
    hints: tuple[str, ...] = ()  # words for the recognizer's prompt: the step's words and what is offered
    max_digits: int | None = None
    grammar: tuple[str, ...] = ()  # a closed step's phrases, for recognizers that take a grammar (Vosk)
    keypad: bool = False  # the caller was asked to use the keypad (after two misses)


@dataclass(frozen=True)
class StoreCall:
    op: str
    args: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # never show a ticket number or a birth date in logs
        shown = {k: ("***" if k in _SECRET_ARGS else v) for k, v in self.args.items()}
        return f"StoreCall(op={self.op!r}, args={shown!r})"


@dataclass(frozen=True)
class CheckOperators:
    """Before a hand-over: is anybody there to answer? The session replies with `OperatorStatus`."""


@dataclass(frozen=True)
class Transfer:
    summary: str


@dataclass(frozen=True)
class Hangup:
    reason: str


Input = Utterance | Digits | Silence | StoreResult | OperatorStatus
Action = Say | Listen | StoreCall | CheckOperators | Transfer | Hangup
