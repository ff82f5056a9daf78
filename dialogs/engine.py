"""The dialog engine: a pure state machine from inputs to actions.

No I/O, no clock, no database: `today` is passed in and store results come back as inputs. Each
list of actions ends with what the engine waits for: `Listen` (the caller), `StoreCall` (the
session runs it and feeds back a `StoreResult`), or a terminal `Transfer` / `Hangup`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import date, datetime, time

from dialogs import normalize as nlu
from dialogs.messages import (
    Action, CheckOperators, Digits, Hangup, Input, Listen, OperatorStatus, Say, Silence, StoreCall, StoreResult,
    Transfer, Utterance,
)
from dialogs import understand
from dialogs.readings import birthdate_reading, date_reading, digits_reading, masked, time_reading
from dialogs.render import render
from dialogs.script import Script, Step, placeholders

__all__ = [
    "Engine", "EngineError", "Utterance", "Digits", "Silence", "StoreResult", "OperatorStatus",
    "Say", "Listen", "StoreCall", "CheckOperators", "Transfer", "Hangup",
]
log = logging.getLogger(__name__)

REASON_OUTCOMES = {
    "slot_full": "full", "slot_closed": "full", "not_open_yet": "full", "hold_expired": "expired",
    "already_booked": "already_booked", "not_found": "not_found", "identity_mismatch": "not_found",
    "invalid_phone": "invalid",
}
_MAX_DIGITS = {"date": 8, "time": 4, "birthdate": 8, "yesno": 1, "choice": 1}
# A few offered values in the recognizer's prompt help; a long list of every date and time word
# does not (see ../shared/speech-facts.md).
_OFFERED_HINTS = 6
_PHONE_DIGITS = 11
_ALTERNATIVES = 3
_ANY_TIME = ("一番早い", "いちばん早い", "一番はやい", "早い時間", "早いほう", "何時でも", "なんじでも", "いつでも", "どこでも")
_LABELS = {"mode": "用件", "site": "会場"}  # how remembered choices are named for the operator


class EngineError(Exception):
    """An input arrived that the engine is not waiting for."""


class Engine:
    def __init__(self, script: Script, *, today: date, open_days: Sequence[date] = ()):
        self.script = script
        self.today = today
        self.open_days = tuple(open_days)  # dates with open places: a doubtful date answer prefers these
        self._steps = {**callback_steps(script), **script.steps}
        self._confirming: object | None = None  # a doubtful answer at the current step, being confirmed
        self._confirm_asked = 0
        self._handover_reason = ""
        self.step = script.start
        self.done = False
        self.values: dict[str, object] = {}
        self.history: list[str] = []  # every step entered, in order
        self._labels: dict[str, str] = {}
        self._failed: list[str] = []
        self._fails = 0
        self._silences = 0
        self._last_says: list[Say] = []
        self._pending: tuple[str, Callable[[StoreResult], list[Action]]] | None = None
        self._listening = False

    # ------------------------------------------------------------------ public

    @property
    def failures(self) -> int:
        """Failed turns at the current step: answers not understood plus silences (0 on entering a step)."""
        return self._fails + self._silences

    def start(self) -> list[Action]:
        return self._enter(self.script.start)

    def handle(self, event: Input) -> list[Action]:
        if self.done:
            raise EngineError("the dialog has ended")
        if isinstance(event, (StoreResult, OperatorStatus)):
            waiting = "operators" if isinstance(event, OperatorStatus) else event.op
            if self._pending is None or self._pending[0] != waiting:
                expected = self._pending[0] if self._pending else "caller input"
                raise EngineError(f"got a result for {waiting!r}, waiting for {expected}")
            _, then = self._pending
            self._pending = None
            return then(event)
        if not self._listening:
            raise EngineError(f"waiting for the result of {self._pending[0] if self._pending else '?'}")
        step = self._steps[self.step]
        if self._confirming is not None:
            return self._confirmed(step, event)
        if isinstance(event, Silence):
            return self._silence(step)
        if isinstance(event, Digits):
            pressed = event.digits.rstrip("#")
            if "*" in pressed:
                return self._repeat(step)
            if pressed == self.script.operator_key:
                return self._operator()
            value = understand.from_keys(step, pressed, today=self.today, yes=self.script.yes_key, no=self.script.no_key)
            return self._fail(step) if value is None else self._accept(step, value)
        if not isinstance(event, Utterance):
            raise EngineError(f"unknown input {event!r}")
        intent, heard = self._hear(step, event)
        if intent == nlu.intents.OPERATOR:
            return self._operator()
        if intent == nlu.intents.RESTART:
            return self._restart()
        if intent == nlu.intents.REPEAT:
            return self._repeat(step)
        if heard is None or (not heard.certain and step.ask == "yesno"):
            return self._fail(step)  # a doubtful yes is asked again, never confirmed by another yes
        if not heard.certain:
            return self._confirm(step, heard.value)
        return self._accept(step, heard.value)

    def understands(self, event: Utterance) -> bool:
        """Whether `handle(event)` would act on this answer now (a value or yes/no taken as certain,
        a number of the step's whole length even if it is to be confirmed, or a global intent)
        instead of asking again. Changes nothing: the session asks it of a decoding made early in
        the caller's pause, to end that pause without waiting it out."""
        if self.done or not self._listening or not event.nbest:
            return False
        if self._confirming is not None:
            if nlu.parse_intent(event.nbest[0]) is not None:
                return True
            heard = understand.interpret(_YESNO, event.nbest, today=self.today)
            return heard is not None and heard.certain
        values = dict(self.values)
        try:
            intent, heard = self._hear(self._steps[self.step], event)
        finally:
            self.values.clear()
            self.values.update(values)
        if intent is not None:
            return True
        step = self._steps[self.step]
        if heard is not None and step.ask == "digits" and step.length:
            return True  # every digit is there: the caller has no more to say, whether or not it is confirmed
        return heard is not None and heard.certain

    def _hear(self, step: Step, event: Utterance) -> tuple[str | None, understand.Heard | None]:
        """(global intent, None) or (None, what was heard): an intent in the top hypothesis wins,
        then a value from any hypothesis, then an intent further down the n-best list."""
        nbest = tuple(event.nbest)
        if nbest and (intent := nlu.parse_intent(nbest[0])) is not None:
            return intent, None
        heard = None
        if event.confidence >= self.script.min_confidence:  # below: too unsure to act on
            heard = understand.interpret(step, nbest, today=self.today, expected=self._expected(step))
            if heard is None:
                heard = self._offered_or_earliest(step, nbest)
        if heard is None:
            return next((i for i in map(nlu.parse_intent, nbest[1:]) if i is not None), None), None
        if event.confidence < self.script.confirm_below:
            heard = understand.Heard(heard.value, certain=False)
        self.values.pop("time_hint", None)
        if step.ask == "date" and (mentioned := understand.time_mentioned(nbest[0])) is not None:
            self.values["time_hint"] = mentioned.value  # 12月3日の2時半: no need to ask the time
            if not mentioned.certain:  # あさっての中時: 「…の午前十時ですね。」
                heard = understand.Heard(heard.value, certain=False)
        return None, heard

    def _offered_or_earliest(self, step: Step, nbest: Sequence[str]) -> understand.Heard | None:
        for text in nbest:
            value = self._offered_day(text) if step.ask == "date" else None
            if value is None and step.ask == "time" and step.among:
                value = self._earliest(step, text)
            if value is not None:
                return understand.Heard(value, certain=text == nbest[0])
        return None

    def _expected(self, step: Step) -> understand.Expected | None:
        """The step's closed set: the times open on the chosen day, or the open dates."""
        if step.ask == "time" and step.among:
            slots = [s for s in self.values.get(step.among) or [] if s.get("available", 0) > 0]  # type: ignore[union-attr]
            return understand.offered_times([time.fromisoformat(s["time"]) for s in slots])
        if step.ask == "date":
            offered = {date.fromisoformat(s["date"]) for s in self.values.get("alternatives") or [] if s.get("date")}  # type: ignore[union-attr]
            days = [d for d in {*self.open_days, *offered} if d >= self.today]
            return understand.open_dates(days, today=self.today) if days else None
        return None

    # ------------------------------------------------------------------ doubtful answers

    def _confirm(self, step: Step, value: object) -> list[Action]:
        """「十二月三日の午前十時ですね。」: one short yes/no question before a doubtful value is used."""
        self._confirming, self._confirm_asked = value, 1
        heard = self.script.messages["confirm"].replace("{heard}", self._heard_text(step, value))
        say = Say(heard, kind="readback")
        self._last_says = [say]
        return [say, self._listen_yesno()]

    def _confirmed(self, step: Step, event: Input) -> list[Action]:
        value, answer = self._confirming, None
        if isinstance(event, Digits):
            if "*" in event.digits:
                return [*self._last_says, self._listen_yesno()]
            if event.digits.rstrip("#") == self.script.operator_key:
                self._confirming = None
                return self._operator()
            answer = understand.from_keys(_YESNO, event.digits.rstrip("#"), today=self.today,
                                          yes=self.script.yes_key, no=self.script.no_key)
        elif isinstance(event, Utterance):
            intent = nlu.parse_intent(event.nbest[0]) if event.nbest else None
            if intent == nlu.intents.OPERATOR:
                self._confirming = None
                return self._operator()
            if intent == nlu.intents.REPEAT:
                return [*self._last_says, self._listen_yesno()]
            heard = understand.interpret(_YESNO, event.nbest, today=self.today)
            answer = heard.value if heard is not None and heard.certain else None
        if answer is True:
            self._confirming = None
            return self._accept(step, value)
        if answer is None and self._confirm_asked < 2:
            self._confirm_asked += 1
            return [*self._last_says, self._listen_yesno()]
        self._confirming = None  # "no", or no clear answer twice: that value was not what was said
        return self._fail(step)

    def _heard_text(self, step: Step, value: object) -> str:
        if step.ask == "birthdate" and isinstance(value, date):
            return birthdate_reading(value)
        if isinstance(value, date):
            wanted = self.values.get("time_hint")
            text = date_reading(value, weekday=False)
            return f"{text}の{time_reading(wanted)}" if isinstance(wanted, time) else text
        if isinstance(value, time):
            return time_reading(value)
        if step.ask == "digits":
            return digits_reading(str(value))
        if step.ask == "choice":
            return next((o.words[0] for o in step.options if o.key == value and o.words), str(value))
        return str(value)

    def _listen_yesno(self) -> Listen:
        return Listen("yesno", hints=_YESNO.hints, max_digits=1, grammar=_YESNO.hints)

    def _earliest(self, step: Step, text: str) -> time | None:
        """「一番早い時間」「何時でもいい」: the first open time of the day."""
        if not any(word in text for word in _ANY_TIME):
            return None
        slots = [s for s in self.values.get(step.among) or [] if s.get("available", 0) > 0]  # type: ignore[union-attr]
        return min((time.fromisoformat(s["time"]) for s in slots), default=None)

    def _offered_day(self, text: str) -> date | None:
        """「9時半で」 after alternatives on other days were offered: the one day offering that time."""
        wanted = nlu.parse_time(text)
        offered = self.values.get("alternatives") or []
        if wanted is None or not offered:
            return None
        days = {s["date"] for s in offered if s.get("date") and s["time"] == f"{wanted:%H:%M}"}  # type: ignore[union-attr]
        return date.fromisoformat(days.pop()) if len(days) == 1 else None

    def summary(self) -> str:
        """One line for the operator: what the caller said so far, personal data masked."""
        parts = [self.script.title]
        parts += [f"{_LABELS.get(name, name)}: {label}" for name, label in self._labels.items()]
        if ticket := self.values.get("ticket"):
            parts.append(f"番号: {masked(str(ticket))}")
        if self.values.get("birthdate"):
            parts.append("生年月日: 聞き取り済み")
        if isinstance(self.values.get("date"), date):
            parts.append(f"希望日: {self.values['date']:%m/%d}")
        if isinstance(self.values.get("time"), time):
            parts.append(f"希望時刻: {self.values['time']:%H:%M}")
        if self.values.get("hold"):
            parts.append("仮押さえ中")
        if booking := self.values.get("booking"):
            parts.append(f"既存予約: {booking.get('date', '')} {booking.get('time', '')}".rstrip())
        if self.values.get("code") and not self.values.get("booking"):
            parts.append("予約済み")
        if self._failed:
            parts.append("聞き取れなかった質問: " + ", ".join(self._failed))
        parts.append(f"最後の質問: {self.step}")
        return " / ".join(parts)

    # ------------------------------------------------------------------ steps

    def _enter(self, name: str) -> list[Action]:
        actions: list[Action] = []
        for _ in range(len(self._steps) + 1):
            step = self._steps[name]
            self.history.append(name)
            self.step, self._fails, self._silences, self._listening = name, 0, 0, False
            says = [self._say(step.say, step)] if step.say else []
            actions += says
            if step.ask == "time" and step.among and "time_hint" in self.values:
                actions = actions[: len(actions) - len(says)]  # answered already: skip the question
                name = _target(step, self._pick_slot(step, self.values.pop("time_hint")))  # type: ignore[arg-type]
                continue
            if step.ask:
                self._last_says, self._listening = says, True
                return actions + [self._listen(step)]
            if step.do == "transfer":
                return actions[: len(actions) - len(says)] + self._hand_over(step.say)
            if step.do == "hangup":
                return actions + self._finish(Hangup("completed"))
            if step.do:
                return actions + self._store(step)
            if step.branch:
                target = step.next.get(str(self.values.get(step.branch)))
                if target is None:
                    return actions + self._error()
                name = target
                continue
            name = step.next["next"]
        raise EngineError(f"steps loop without a question from {name!r}")

    def _accept(self, step: Step, value: object) -> list[Action]:
        outcome = "next"
        if step.ask == "yesno":
            outcome = "yes" if value else "no"
        elif step.ask == "choice":
            option = next(o for o in step.options if o.key == value)
            outcome = option.key
            if step.store_as:
                self.values[step.store_as] = option.value or option.key
                self._labels[step.store_as] = option.words[0]
        elif step.ask == "time" and step.among:
            outcome = self._pick_slot(step, value)  # type: ignore[arg-type]
        else:
            self.values[step.store_as or step.ask or "value"] = value
        return self._enter(_target(step, outcome) or step.next[outcome])

    def _pick_slot(self, step: Step, wanted: time) -> str:
        slots = [s for s in self.values.get(step.among) or [] if s.get("available", 0) > 0]  # type: ignore[union-attr]
        self.values["time"] = wanted
        for slot in slots:
            if slot["time"] == wanted.strftime("%H:%M"):
                self.values["slot"], self.values["site"] = slot, slot.get("site", "")
                if slot.get("date"):
                    self.values["date"] = date.fromisoformat(slot["date"])
                return "ok"

        self.values["alternatives"] = _nearest(slots, wanted)
        return "full" if self.values["alternatives"] else "none"

    def _fail(self, step: Step) -> list[Action]:
        """The recovery ladder: an example first, then the keypad alone, then a person."""
        self._fails += 1
        if self.failures >= self.script.max_failures:
            self._failed.append(step.name)
            self._handover_reason = "not_understood"
            return self._give_up(step)
        if self.failures < self.script.max_failures - 1:
            text = step.reprompt or f"{self.script.messages['reprompt']}{step.say}"
            return [self._say(text, step), self._listen(step)]
        return self._keypad(step, lead=self.script.messages["reprompt"])

    def _silence(self, step: Step) -> list[Action]:
        self._silences += 1
        if self.failures >= self.script.max_failures:
            if self.script.on_silence == "transfer":
                self._handover_reason = "silence"
                return self._give_up(step)
            return [Say(self.script.messages["goodbye"])] + self._finish(Hangup("silence"))
        if self.failures < self.script.max_failures - 1:
            text = step.reprompt or f"{self.script.messages['no_input']}{step.say}"  # the help, as after a miss
            return [self._say(text, step), self._listen(step)]
        return self._keypad(step, lead=self.script.messages["no_input"])

    def _give_up(self, step: Step) -> list[Action]:
        """A person, unless this is already the call-back offer made because nobody was there."""
        if step.name in _CALLBACK_NAMES:
            return [Say(self.script.messages["goodbye"])] + self._finish(Hangup("no_operator"))
        return self._hand_over()

    def _keypad(self, step: Step, *, lead: str) -> list[Action]:
        say = self._say(keypad_prompt(self.script, step, lead), step)
        self._last_says = [say]
        return [say, self._listen(step, keypad=True)]

    def _repeat(self, step: Step) -> list[Action]:
        return [*self._last_says, self._listen(step)]

    def _operator(self) -> list[Action]:
        self._handover_reason = "asked"
        return self._hand_over()

    def _hand_over(self, say: str = "") -> list[Action]:
        """A person takes over if one is there to answer; if not, the caller may ask to be called back."""
        def answered(status: OperatorStatus) -> list[Action]:
            if status.available:
                return [Say(say or self.script.messages["transfer"])] + self._finish(None)
            self.values["operator_hours"] = status.hours
            self.values["caller_known"] = status.caller_known
            notice = self.script.messages["no_operator"]
            if status.hours:
                notice += self.script.messages["operator_hours"].replace("{operator_hours}", status.hours)
            if self.values.get("hold"):
                return [Say(notice)] + self._release(lambda _: self._enter(CALLBACK_STEP))
            return [Say(notice)] + self._enter(CALLBACK_STEP)

        self._listening = False
        self._pending = ("operators", answered)  # type: ignore[assignment]
        return [CheckOperators()]

    def _restart(self) -> list[Action]:
        def fresh(_: StoreResult | None = None) -> list[Action]:
            self.values.clear()
            self._labels.clear()
            return self._enter(self.script.restart)

        if self.values.get("hold"):
            return self._release(fresh)
        return fresh()

    def _error(self) -> list[Action]:
        self._handover_reason = "error"
        return [Say(self.script.messages["error"])] + self._hand_over()

    def _finish(self, final: Hangup | None) -> list[Action]:
        """End the dialog (a hang-up, or None for a transfer), releasing an unconfirmed hold first."""
        self._listening = False
        if self.values.get("hold"):
            return self._release(lambda _: self._final(final))
        return self._final(final)

    def _final(self, final: Hangup | None) -> list[Action]:
        self.done = True
        return [final or Transfer(self.summary())]  # the summary once the hold is given back

    # ------------------------------------------------------------------ store

    def _release(self, then: Callable[[StoreResult], list[Action]]) -> list[Action]:
        hold_id = self.values.pop("hold")

        def released(result: StoreResult) -> list[Action]:
            return then(result)

        return self._call("release_hold", {"hold_id": hold_id}, released)

    def _call(self, op: str, args: dict, then: Callable[[StoreResult], list[Action]]) -> list[Action]:
        self._listening = False
        self._pending = (op, then)
        return [StoreCall(op, args)]

    def _store(self, step: Step) -> list[Action]:
        op = step.do or ""
        if op == "hold" and self.values.get("hold"):
            return self._release(lambda _: self._store(step))
        if op == "release_hold":
            if not self.values.get("hold"):
                return self._enter(step.next["next"])
            return self._release(lambda _: self._enter(step.next["next"]))
        return self._call(op, self._args(op), lambda result: self._after(step, result))

    def _args(self, op: str) -> dict:
        v, service = self.values, self.script.service
        person = {"ticket": v.get("ticket"), "birthdate": _iso(v.get("birthdate"))}
        if op == "find_available":
            return {"service": service, "date": _iso(v.get("date")), "site": v.get("site")}
        if op == "hold":
            return {"service": service, "slot_id": v["slot"]["id"]}  # type: ignore[index]
        if op == "confirm":
            return {"service": service, "hold_id": v.get("hold"), **person}
        if op == "lookup":
            return {"service": service, **person}
        if op == "cancel":
            return {"service": service, "code": v["booking"]["code"], **person}  # type: ignore[index]
        if op == "reschedule":
            return {"service": service, "code": v["booking"]["code"], "slot_id": v["slot"]["id"],  # type: ignore[index]
                    "hold_id": v.get("hold"), **person}
        if op == "request_callback":  # no number typed: the session supplies the caller's own
            return {"service": service, "reason": self._handover_reason or "asked", "phone": v.get("callback_phone")}
        raise EngineError(f"no arguments for store action {op!r}")

    def _after(self, step: Step, result: StoreResult) -> list[Action]:
        outcome = self._apply(step, result)
        target = _target(step, outcome) or step.next.get("error")
        if target is None:
            log.warning("store action %s failed (%s) and the script names no outcome for it", step.do, result.reason)
            return self._error()
        return self._enter(target)

    def _apply(self, step: Step, result: StoreResult) -> str:
        op, value = step.do or "", result.value or {}
        if not result.ok:
            if op in ("hold", "reschedule") and result.reason in ("slot_full", "slot_closed", "not_open_yet"):
                store_alternatives = value.get("alternatives") or []
                self._mark_taken(store_alternatives)
                wanted = self.values.get("time")
                self.values["alternatives"] = store_alternatives or (
                    _nearest(self.values["day_slots"], wanted) if isinstance(wanted, time) else [])  # type: ignore[arg-type]
                if not self.values["alternatives"]:
                    return "none"
            return REASON_OUTCOMES.get(result.reason or "", "error")
        if "alternatives" in value:
            self.values["alternatives"] = value["alternatives"]
        if op == "find_available":
            slots = [s for s in value.get("slots", []) if s.get("available", 0) > 0]
            self.values["day_slots"] = slots
            if not slots and value.get("opens") and "not_open" in step.next:
                self.values["opens"] = datetime.fromisoformat(value["opens"])
                self.values["open_elsewhere"] = bool(value.get("alternatives"))
                return "not_open"
            return "ok" if slots else "full" if value.get("alternatives") else "none"
        if op == "hold":
            self.values["hold"] = value["hold_id"]
        elif op in ("confirm", "reschedule"):
            self.values.pop("hold", None)
            self.values["code"] = value.get("code", self.values.get("code"))
        elif op == "lookup":
            self.values["booking"] = value
            self.values["code"] = value.get("code")
        return "ok"

    def _mark_taken(self, alternatives: list[dict]) -> None:
        """The chosen slot went while the caller talked: drop it, add the store's fresh alternatives
        for the same day, so the next answer is matched against what is really open."""
        chosen = self.values.get("slot") or {}
        day_slots = [s for s in self.values.get("day_slots") or [] if s.get("id") != chosen.get("id")]  # type: ignore[union-attr]
        known = {s.get("id") for s in day_slots}
        day_slots += [s for s in alternatives if s.get("date") == chosen.get("date") and s.get("id") not in known]
        self.values["day_slots"] = sorted(day_slots, key=lambda s: s["time"])

    # ------------------------------------------------------------------ speaking

    def _listen(self, step: Step, *, keypad: bool = False) -> Listen:
        """What the recognizer is told to expect: the step's words (from the script), the option
        words and a few of the offered values; a grammar of them where the step's set is closed."""
        kind = step.ask or "text"
        expected = self._expected(step) if kind == "time" else None
        forms = expected.forms if expected else ()
        words = [*step.hints, *(word for option in step.options for word in option.words)]
        hints = tuple(dict.fromkeys([*words, *(phrases[0] for _, phrases in forms[:_OFFERED_HINTS])]))
        closed = kind in ("choice", "yesno") or bool(forms)
        grammar = tuple(dict.fromkeys([*words, *(p for _, phrases in forms for p in phrases)])) if closed else ()
        max_digits = (step.length or _PHONE_DIGITS) if kind == "digits" else _MAX_DIGITS.get(kind)
        return Listen(kind, hints, max_digits, grammar=grammar, keypad=keypad)

    def _say(self, text: str, step: Step) -> Say:
        kind = "code" if "{code}" in text else step.kind
        private = kind != "prompt" or not set(placeholders(text)) <= PUBLIC_PLACEHOLDERS
        return Say(render(text, self.values, self.script), interruptible=step.interruptible and kind != "code", kind=kind,
                   private=private)


def keypad_prompt(script: Script, step: Step, lead: str) -> str:
    """The second miss: `lead` (not understood / not heard), then how to answer on the keypad."""
    instruction = step.keypad or script.messages[f"keypad_{step.ask}"]
    if step.ask == "choice" and not step.keypad:
        instruction += step.say  # the menu names its keys
    return lead + instruction


CALLBACK_STEP = "callback_offer"
# Placeholders whose values are the same for every caller (the script's own words, what is on
# offer); a prompt with any other value (a code, the caller's booking, a number) is private.
PUBLIC_PLACEHOLDERS = frozenset({"title", "operator_key", "yes_key", "no_key", "date", "day", "time", "site",
                                 "alternatives", "open_times", "places", "operator_hours", "opens"})
_CALLBACK_NAMES = (CALLBACK_STEP, "callback_number")
_YESNO = Step(name="confirm", line=0, ask="yesno", hints=("はい", "いいえ"))


def callback_steps(script: Script) -> dict[str, Step]:
    """The steps every script has for a caller nobody can take: a call-back request, then goodbye."""
    m = script.messages
    steps = (
        Step(CALLBACK_STEP, 0, say=m["callback_offer"], ask="yesno", hints=_YESNO.hints,
             next={"yes": "callback_route", "no": "callback_declined"}),
        Step("callback_route", 0, branch="caller_known", next={"True": "callback_request", "False": "callback_number"}),
        Step("callback_number", 0, say=m["callback_number"], ask="digits", store_as="callback_phone",
             hints=("電話番号",), next={"next": "callback_request"}),
        Step("callback_request", 0, do="request_callback",
             next={"ok": "callback_done", "invalid": "callback_number", "error": "callback_failed"}),
        Step("callback_done", 0, say=m["callback_done"] + m["goodbye"], do="hangup"),
        Step("callback_declined", 0, say=m["goodbye"], do="hangup"),
        Step("callback_failed", 0, say=m["error"] + m["goodbye"], do="hangup"),
    )
    return {step.name: step for step in steps}


def _nearest(slots: list[dict], wanted: time) -> list[dict]:
    """Up to three open slots nearest to the wanted time, in time order."""

    def distance(slot: dict) -> int:
        at = time.fromisoformat(slot["time"])
        return abs((at.hour * 60 + at.minute) - (wanted.hour * 60 + wanted.minute))

    open_slots = [s for s in slots if s.get("available", 0) > 0]
    return sorted(sorted(open_slots, key=distance)[:_ALTERNATIVES], key=lambda s: s["time"])


def _target(step: Step, outcome: str) -> str | None:
    """The next step for an outcome; a day with nothing left (`none`) falls back to `full`."""
    if outcome == "none" and "none" not in step.next:
        outcome = "full"
    return step.next.get(outcome)


def _iso(value: object) -> str | None:
    return value.isoformat() if isinstance(value, date) else None
