"""One phone call: AudioSocket connection → VAD/ASR/DTMF → dialog engine → actions.

The only module that joins telephony, speech, dialogs and slots. It never interprets dialog steps:
it plays what the engine says, listens the way the engine asks (`ivr.call.listener` hears the
caller), runs the engine's store calls in a worker thread and feeds their results back. What it
owns is the call's life: timeouts, the hold released when a call ends unconfirmed, the hand-over
to operators, and never leaving the caller in silence when something breaks.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from dialogs.engine import Engine
from dialogs.messages import (
    Action, Digits, Hangup, Input, Listen, OperatorStatus, Say, Silence, StoreCall, StoreResult, Utterance,
)
from ivr import events
from ivr.call.dialog import DialogRun, DialogSide, HoldChange
from ivr.call.listener import CallerGone, CallListener, Heard, Keys, Quiet
from ivr.call.ports import BargeIn, Connection, Dialplan, Endpointing, SpeechToText, StoreExecutor, TextToSpeech
from ivr.call.timing import Timing
from ivr.events import EventBus
from ivr.privacy import mask_phone, mask_text, sanitize_caller_id
from ivr.speech.asr import AsrResult, Hints
from ivr.speech.tts import split_stream_pieces
from slots.outcomes import CallOutcome

__all__ = ["APOLOGY_GOODBYE", "APOLOGY_TRANSFER", "CallRecord", "CallSession", "SessionDeps", "Timing"]
logger = logging.getLogger(__name__)

APOLOGY_TRANSFER = "申し訳ございません。ただいま自動応答で不具合が発生しました。担当者におつなぎしますので、そのままお待ちください。"
APOLOGY_GOODBYE = "申し訳ございません。ただいま自動応答で不具合が発生しました。恐れ入りますが、時間をおいておかけ直しください。お電話ありがとうございました。"
_OUTCOMES = {"confirm": CallOutcome.BOOKED, "reschedule": CallOutcome.BOOKED, "cancel": CallOutcome.CANCELLED}


@dataclass(frozen=True)
class CallRecord:
    """What the call leaves behind: no personal data, digit runs masked."""

    call_id: str
    started_at: datetime
    duration_seconds: float
    outcome: CallOutcome
    steps: tuple[str, ...]
    confidences: tuple[float, ...]
    turn_latencies: tuple[float, ...]  # end of caller speech → reply audio queued
    caller_masked: str = ""


@dataclass(frozen=True)
class SessionDeps:
    """Shared, per-process resources every call session is built from."""

    recognizer: SpeechToText
    synthesizer: TextToSpeech
    engine_factory: Callable[[date], Engine]
    store: StoreExecutor
    bus: EventBus
    endpointer_factory: Callable[[], Endpointing]
    barge_in_factory: Callable[[], BargeIn]
    hints_factory: Callable[[Listen], Hints]
    today: Callable[[], date]
    ami: Dialplan | None = None
    # (someone can take a hand-over now, the staffed hours as read to callers); None: always staffed
    operators: Callable[[], tuple[bool, str]] | None = None
    record_call: Callable[[CallRecord], None] | None = None
    timing: Timing = field(default_factory=Timing)


class CallSession(DialogSide):
    """Runs one call to its end. `await run()` returns the outcome."""

    def __init__(self, conn: Connection, deps: SessionDeps) -> None:
        self.conn = conn
        self.deps = deps
        self.call_id: str = str(conn.uuid)
        self.channel = ""
        self.caller = ""
        self.outcome = CallOutcome.COMPLETED
        self.listener = CallListener(conn, call_id=self.call_id, recognizer=deps.recognizer,
                                     endpointer_factory=deps.endpointer_factory,
                                     barge_in_factory=deps.barge_in_factory, timing=deps.timing)
        self._rendering: dict[int, list[asyncio.Future[bytes]]] = {}
        self._dialog: DialogRun | None = None
        self._step = ""
        self._failures = 0  # the engine's failed turns at the current step, as last published
        self._steps: list[str] = []
        self._confidences: list[float] = []
        self._latencies: list[float] = []
        self._speech_ended_at: float | None = None
        self._started = time.monotonic()
        self._started_at = datetime.now(timezone.utc)

    # -- life -------------------------------------------------------------------------------
    async def run(self) -> CallOutcome:
        self.listener.start()
        try:
            await self._identify()
            await self._tell_dialplan("operator")  # if this process dies mid-call, a person takes over
            self._publish(events.CallStarted(self.call_id, caller=mask_phone(self.caller), channel=self.channel))
            await asyncio.wait_for(self._converse(), self.deps.timing.max_call)
        except CallerGone:
            self.outcome = CallOutcome.ABANDONED
        except asyncio.CancelledError:
            self.outcome = CallOutcome.ABANDONED if self.listener.gone else CallOutcome.FAILED
            raise
        except Exception as exc:  # noqa: BLE001 - a broken call must still end politely
            logger.exception("call %s failed at step %s: %s", self.call_id, self._step, type(exc).__name__)
            self.outcome = CallOutcome.FAILED
            await self._apologise()
        finally:
            self.listener.stop()
            for pieces in self._rendering.values():
                for task in pieces:
                    task.cancel()
            await self._release_hold()
            await self._finish()
        return self.outcome

    async def _identify(self) -> None:
        ami = self.deps.ami
        if ami is None:
            return
        try:
            info = await ami.wait_call(self.call_id, timeout=self.deps.timing.ami_wait)
        except Exception:  # noqa: BLE001 - AMI down: the call goes on without caller id
            logger.warning("call %s: AMI lookup failed", self.call_id)
            return
        if info is not None:
            self.caller, self.channel = sanitize_caller_id(info.caller), info.channel

    async def _converse(self) -> None:
        self._dialog = DialogRun(self.deps.engine_factory(self.deps.today()))
        ending = await self._dialog.run(self)
        if isinstance(ending, Hangup):
            if self.outcome is CallOutcome.COMPLETED and ending.reason in (CallOutcome.BOOKED, CallOutcome.CANCELLED):
                self.outcome = CallOutcome(ending.reason)
        elif ending is not None:
            await self._transfer(ending.summary)

    async def _finish(self) -> None:
        duration = time.monotonic() - self._started
        self._publish(events.CallEnded(self.call_id, outcome=self.outcome, duration_seconds=round(duration, 3),
                                       last_step=self._step))
        if not self.listener.gone:
            await self._mark_ended_here()
            try:
                await self.conn.hangup()
            except Exception:  # noqa: BLE001 - the socket may already be gone
                pass
        if self.deps.record_call is not None:
            record = CallRecord(self.call_id, self._started_at, round(duration, 3), self.outcome, tuple(self._steps),
                                tuple(self._confidences), tuple(self._latencies), mask_phone(self.caller))
            try:
                await asyncio.to_thread(self.deps.record_call, record)
            except Exception:  # noqa: BLE001
                logger.exception("call %s: storing the call record failed", self.call_id)
        logger.info("call %s ended: %s after %.1f s", self.call_id, self.outcome, duration)

    # -- the dialog's side of the call ---------------------------------------------------------
    def entering(self, action: Action) -> None:
        step = self._dialog.engine.step if self._dialog is not None else ""
        if step and step != self._step:
            self._step = step
            self._steps.append(step)
            self._publish(events.StepEntered(self.call_id, step=step))

    def took(self, value: Input, change: HoldChange) -> None:
        if isinstance(value, StoreResult):
            self._settled(value, change)
        assert self._dialog is not None
        engine = self._dialog.engine
        if engine.failures > self._failures:  # not understood or silent: the live page's "needs help"
            self._publish(events.TurnFailed(self.call_id, step=engine.step, failures=engine.failures))
        self._failures = engine.failures

    # -- speaking ---------------------------------------------------------------------------
    async def say(self, say: Say, coming: Sequence[Action]) -> None:
        self._prefetch(say, coming)
        interruptible = say.interruptible and say.kind != "code"
        if self.listener.barged and interruptible:
            for task in self._rendering.pop(id(say), []):
                task.cancel()
            return  # the caller already started answering: skip the rest of this turn's prompts
        pieces = self._rendering.pop(id(say), None) or self._render(say)
        first = await pieces[0]
        if self._speech_ended_at is not None:
            self._latencies.append(round(time.monotonic() - self._speech_ended_at, 3))
            self._speech_ended_at = None
        await self.listener.play(first, pieces[1:], interruptible=interruptible)

    def _prefetch(self, say: Say, coming: Sequence[Action]) -> None:
        """Render the prompts that follow while this one plays, so they come without a gap."""
        for action in [say, *coming]:
            if not isinstance(action, Say):
                break
            if id(action) not in self._rendering:
                self._rendering[id(action)] = self._render(action)

    def _render(self, say: Say) -> list[asyncio.Future[bytes]]:
        """The prompt in pieces rendered at once (the first phrase, then sentences): the fixed head
        of a read-back (予約しました。) is cached and plays while the part with the call's data renders.
        Read-backs hold a caller's data: they are never stored in the prompt cache."""
        synthesizer = self.deps.synthesizer
        private = say.kind != "prompt" or say.private
        return [asyncio.ensure_future(synthesizer.render(piece, private=private)) for piece in _pieces(say.text)]

    # -- listening --------------------------------------------------------------------------
    async def listen(self, listen: Listen) -> Utterance | Digits | Silence:
        heard = await self.listener.hear(self.deps.hints_factory(listen), keypad=listen.keypad,
                                         max_digits=listen.max_digits or 0, understands=self._understands,
                                         number_length=(listen.max_digits or 0) if listen.kind == "digits" else 0)
        return self._as_input(heard)

    def _as_input(self, heard: Heard) -> Utterance | Digits | Silence:
        if isinstance(heard, Keys):
            return Digits(heard.digits)
        if isinstance(heard, Quiet):
            return Silence()
        self._speech_ended_at = heard.ended_at
        return self._utterance(heard.result)

    def _utterance(self, result: AsrResult | None) -> Utterance:
        """What the engine hears; nothing (it asks again) when the recognizer failed."""
        utterance = _as_utterance(result) if result is not None else Utterance(nbest=(), confidence=0.0)
        self._confidences.append(round(utterance.confidence, 3))
        self._publish(events.UtteranceRecognized(self.call_id, text=mask_text(next(iter(utterance.nbest), "")),
                                                 confidence=utterance.confidence, step=self._step))
        return utterance

    def _understands(self, result: AsrResult) -> bool:
        """Whether the engine would act on this decoding as the answer (asks, changes nothing)."""
        return self._dialog is not None and self._dialog.engine.understands(_as_utterance(result))

    async def operators(self) -> OperatorStatus:
        """A hand-over needs the call's channel and somebody in the queue within staffed hours."""
        staffed, hours = self.deps.operators() if self.deps.operators is not None else (True, "")
        can_ring = self.deps.ami is not None and bool(self.channel)
        return OperatorStatus(staffed and can_ring, hours, caller_known=_phone_number(self.caller) is not None)

    # -- store ------------------------------------------------------------------------------
    async def store(self, call: StoreCall) -> StoreResult:
        if call.op == "request_callback" and not call.args.get("phone"):
            call = StoreCall(call.op, {**call.args, "phone": _phone_number(self.caller) or ""})
        result = await asyncio.to_thread(self.deps.store, call, call_id=self.call_id, channel="phone")
        if call.op == "request_callback":  # counted with the line's busy-message requests (ivr.line)
            self._publish(events.CallbackRequested(self.call_id, service=str(call.args.get("service", "")),
                                                   reason=str(call.args.get("reason", "")), ok=result.ok))
        return result

    def _settled(self, result: StoreResult, change: HoldChange) -> None:
        """What a store result means for the call: its outcome, and the events the live pages show."""
        outcome = _OUTCOMES.get(result.op) if result.ok else None
        if outcome is not None:
            self.outcome = outcome
        if change.let_go is not None and outcome is not CallOutcome.BOOKED:
            self._publish(events.HoldReleased(self.call_id, hold_id=change.let_go.hold_id))
        if change.placed is not None:
            self._publish(events.HoldPlaced(self.call_id, hold_id=change.placed.hold_id,
                                            slot_id=change.placed.slot_id))
        if outcome is CallOutcome.BOOKED:
            slot_id = result.value.get("slot_id") or (change.let_go.slot_id if change.let_go else 0)
            self._publish(events.BookingMade(self.call_id, slot_id=int(slot_id or 0),
                                             service=str(result.value.get("service", ""))))

    async def _release_hold(self) -> None:
        held = self._dialog.give_back() if self._dialog is not None else None
        if held is None:
            return
        hold, release = held
        try:
            await asyncio.to_thread(self.deps.store, release, call_id=self.call_id, channel="phone")
        except Exception:  # noqa: BLE001 - the hold then simply expires
            logger.exception("call %s: releasing hold %s failed", self.call_id, hold.hold_id)
            return
        self._publish(events.HoldReleased(self.call_id, hold_id=hold.hold_id))

    # -- endings ----------------------------------------------------------------------------
    async def _transfer(self, summary: str) -> None:
        self.outcome = CallOutcome.TRANSFERRED
        await self._release_hold()
        self._publish(events.Transferred(self.call_id, summary=mask_text(summary, keep_dates=True)))
        if self.deps.ami is None or not self.channel:
            raise RuntimeError("cannot hand over: no AMI channel for this call")
        await self.deps.ami.set_var(self.channel, "IVR_NEXT", "operator")

    async def _mark_ended_here(self) -> None:
        """A call the dialog ended itself (a goodbye) takes back the IVR_NEXT=operator set at its start;
        a failed one keeps it, so the caller reaches a person."""
        if self.outcome not in (CallOutcome.TRANSFERRED, CallOutcome.FAILED):
            await self._tell_dialplan("hangup")

    async def _tell_dialplan(self, next_step: str) -> None:
        """IVR_NEXT on the call's channel: where the dialplan sends the caller once the socket closes,
        however it closes (the dialplan goes on to Queue(operators) only for `operator`)."""
        if self.deps.ami is None or not self.channel:
            return
        try:
            await asyncio.wait_for(self.deps.ami.set_var(self.channel, "IVR_NEXT", next_step), 2.0)
        except Exception:  # noqa: BLE001 - AMI down: the call goes on; the dialplan's default applies
            logger.warning("call %s: could not set IVR_NEXT=%s", self.call_id, next_step)

    async def _apologise(self) -> None:
        if self.listener.gone:
            return
        ami = self.deps.ami
        can_transfer = ami is not None and bool(self.channel) and self.outcome is not CallOutcome.TRANSFERRED
        try:
            self.conn.sender.flush()
            pcm = await self.deps.synthesizer.render(APOLOGY_TRANSFER if can_transfer else APOLOGY_GOODBYE)
            await asyncio.wait_for(self.conn.sender.play(pcm).done(), 30)
            if ami is not None and can_transfer:
                await ami.set_var(self.channel, "IVR_NEXT", "operator")
                self._publish(events.Transferred(self.call_id, summary=self._summary()))
                self.outcome = CallOutcome.TRANSFERRED
        except Exception:  # noqa: BLE001 - last resort: the hang-up in _finish still happens
            logger.exception("call %s: apology failed", self.call_id)

    def _summary(self) -> str:
        try:
            return mask_text(self._dialog.engine.summary(), keep_dates=True) if self._dialog is not None else ""
        except Exception:  # noqa: BLE001
            return ""

    def _publish(self, event: events.Event) -> None:
        self.deps.bus.publish(event)


def _as_utterance(result: AsrResult) -> Utterance:
    nbest = tuple(t for t in (result.nbest or (result.text,)) if t)
    return Utterance(nbest=nbest, confidence=result.confidence)


def _pieces(text: str) -> list[str]:
    return split_stream_pieces(text) or [text]


def _phone_number(caller: str) -> str | None:
    """The caller ID as a number we can call back (a Japanese number: 10 or 11 digits from 0)."""
    digits = re.sub(r"[\s\-()]", "", caller).removeprefix("+81")
    if digits.isdigit() and not caller.startswith("0") and caller.startswith("+81"):
        digits = "0" + digits
    return digits if digits.isdigit() and digits.startswith("0") and len(digits) in (10, 11) else None
