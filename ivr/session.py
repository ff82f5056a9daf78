"""One phone call: AudioSocket connection → VAD/ASR/DTMF → dialog engine → actions.

The only module that joins telephony, speech, dialogs and slots. It never interprets dialog steps:
it plays what the engine says, listens the way the engine asks, runs the engine's store calls in a
worker thread and feeds their results back. What it owns is the call's life: barge-in, timeouts,
the hold released when a call ends unconfirmed, the hand-over to operators, and never leaving the
caller in silence when something breaks.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Protocol

from dialogs.engine import (
    CheckOperators, Digits, Engine, Hangup, Listen, OperatorStatus, Say, Silence, StoreCall, StoreResult, Transfer,
    Utterance,
)
from ivr import events
from ivr.events import EventBus
from ivr.privacy import mask_phone
from ivr.speech.tts import split_stream_pieces

logger = logging.getLogger(__name__)

FRAME_BYTES = 320  # 20 ms of 16-bit 8 kHz mono
HASH_GRACE = 2.0  # seconds after a complete digit string in which a `#` is ignored
KEYPAD_WAIT_FACTOR = 2
APOLOGY_TRANSFER = "申し訳ございません。ただいま自動応答で不具合が発生しました。担当者におつなぎしますので、そのままお待ちください。"
APOLOGY_GOODBYE = "申し訳ございません。ただいま自動応答で不具合が発生しました。恐れ入りますが、時間をおいておかけ直しください。お電話ありがとうございました。"


class StoreExecutor(Protocol):
    """Runs one `StoreCall` against the slot store (synchronous; called in a worker thread)."""

    def __call__(self, call: StoreCall, *, call_id: str, channel: str) -> StoreResult: ...


@dataclass(frozen=True)
class Timing:
    reprompt_silence: float = 5.0  # silence after a prompt before Silence() goes to the engine
    digit_timeout: float = 5.0  # pause that ends a digit string without `#`
    max_utterance: float = 15.0  # an utterance is cut here even if the caller keeps talking
    ami_wait: float = 2.0  # how long to wait for the dialplan's MadoguchiCall event
    max_call: float = 900.0  # a call longer than this is handed over
    preroll_frames: int = 50  # audio kept from before a barge-in is detected (1 s: onsets are quiet)


@dataclass(frozen=True)
class CallRecord:
    """What the call leaves behind: no personal data, digit runs masked."""

    call_id: str
    started_at: datetime
    duration_seconds: float
    outcome: str
    steps: tuple[str, ...]
    confidences: tuple[float, ...]
    turn_latencies: tuple[float, ...]  # end of caller speech → reply audio queued
    caller_masked: str = ""


@dataclass(frozen=True)
class SessionDeps:
    """Shared, per-process resources every call session is built from."""

    recognizer: Any  # ivr.speech.asr recognizer: `await recognize(pcm8k, hints) -> AsrResult`
    synthesizer: Any  # ivr.speech.tts: `await render(text) -> pcm8k`
    engine_factory: Callable[[date], Engine]
    store: StoreExecutor
    bus: EventBus
    endpointer_factory: Callable[[], Any]  # ivr.speech.vad.Endpointer
    barge_in_factory: Callable[[], Any]  # ivr.speech.vad.BargeInDetector
    hints_factory: Callable[[Listen], Any]
    today: Callable[[], date]
    ami: Any | None = None  # telephony.ami.client.AmiClient
    # (someone can take a hand-over now, the staffed hours as read to callers); None: always staffed
    operators: Callable[[], tuple[bool, str]] | None = None
    record_call: Callable[[CallRecord], None] | None = None
    timing: Timing = field(default_factory=Timing)


class CallerGone(Exception):
    """The caller hung up (the AudioSocket closed)."""


@dataclass(frozen=True)
class _Frame:
    pcm: bytes


@dataclass(frozen=True)
class _Key:
    digit: str


@dataclass(frozen=True)
class _Gone:
    pass


def mask_digits(text: str) -> str:
    """Mask runs of four or more digits (ticket numbers, birth dates, phone numbers)."""
    return re.sub(r"\d{4,}", lambda m: "*" * len(m.group()), re.sub(r"(?<=\d)[-‐ー ](?=\d)", "", text))


class CallSession:
    """Runs one call to its end. `await run()` returns the outcome."""

    def __init__(self, conn: Any, deps: SessionDeps) -> None:
        self.conn = conn
        self.deps = deps
        self.call_id: str = str(conn.uuid)
        self.channel = ""
        self.caller = ""
        self.outcome = "completed"
        self._inbox: asyncio.Queue[_Frame | _Key | _Gone] = asyncio.Queue()
        self._keys: deque[str] = deque()
        self._preroll: deque[bytes] = deque(maxlen=deps.timing.preroll_frames)
        self._endpointer: Any | None = None  # set when a barge-in already started an utterance
        self._rendering: dict[int, list[asyncio.Future[bytes]]] = {}
        self._swallow_hash_until = 0.0
        self._barged = False
        self._gone = False
        self._engine: Engine | None = None
        self._step = ""
        self._failures = 0  # the engine's failed turns at the current step, as last published
        self._steps: list[str] = []
        self._confidences: list[float] = []
        self._latencies: list[float] = []
        self._speech_ended_at: float | None = None
        self._hold: tuple[int, int] | None = None  # (hold_id, slot_id) not yet confirmed
        self._started = time.monotonic()
        self._started_at = datetime.now(timezone.utc)
        self._residual = b""

    # -- life -------------------------------------------------------------------------------
    async def run(self) -> str:
        pump = asyncio.create_task(self._pump(), name=f"pump-{self.call_id}")
        try:
            await self._identify()
            self._publish(events.CallStarted(self.call_id, caller=mask_phone(self.caller), channel=self.channel))
            await asyncio.wait_for(self._converse(), self.deps.timing.max_call)
        except CallerGone:
            self.outcome = "abandoned"
        except asyncio.CancelledError:
            self.outcome = "abandoned" if self._gone else "failed"
            raise
        except Exception as exc:  # noqa: BLE001 - a broken call must still end politely
            logger.exception("call %s failed at step %s: %s", self.call_id, self._step, type(exc).__name__)
            self.outcome = "failed"
            await self._apologise()
        finally:
            pump.cancel()
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
            self.caller, self.channel = info.caller or "", info.channel or ""

    async def _converse(self) -> None:
        self._engine = self.deps.engine_factory(self.deps.today())
        await self._execute(self._engine.start())

    async def _finish(self) -> None:
        duration = time.monotonic() - self._started
        self._publish(events.CallEnded(self.call_id, outcome=self.outcome, duration_seconds=round(duration, 3),
                                       last_step=self._step))
        if not self._gone:
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

    # -- inbound ----------------------------------------------------------------------------
    async def _pump(self) -> None:
        try:
            async for message in self.conn.inbound():
                kind = type(message).__name__
                if kind == "Audio":
                    for frame in self._reframe(message.pcm if hasattr(message, "pcm") else message.data):
                        self._inbox.put_nowait(_Frame(frame))
                elif kind == "Dtmf":
                    self._inbox.put_nowait(_Key(message.digit))
                elif kind in ("Hangup", "Error"):
                    break
        finally:
            self._inbox.put_nowait(_Gone())

    def _reframe(self, pcm: bytes) -> list[bytes]:
        data = self._residual + pcm
        cut = len(data) - len(data) % FRAME_BYTES
        self._residual = data[cut:]
        return [data[i:i + FRAME_BYTES] for i in range(0, cut, FRAME_BYTES)]

    async def _next(self, timeout: float | None) -> _Frame | _Key | None:
        try:
            item = await asyncio.wait_for(self._inbox.get(), timeout) if timeout is not None else await self._inbox.get()
        except TimeoutError:
            return None
        if isinstance(item, _Gone):
            self._gone = True
            raise CallerGone
        if isinstance(item, _Key) and item.digit == "#" and time.monotonic() < self._swallow_hash_until:
            self._swallow_hash_until = 0.0
            return await self._next(timeout)
        return item

    # -- actions ----------------------------------------------------------------------------
    async def _execute(self, actions: list[Any]) -> None:
        pending = deque(actions)
        while pending:
            action = pending.popleft()
            self._note_step()
            if isinstance(action, Say):
                self._prefetch(action, pending)
                await self._say(action)
            elif isinstance(action, Listen):
                reply = await self._listen(action)
                pending.extendleft(reversed(self._feed(reply)))
            elif isinstance(action, StoreCall):
                result = await self._store(action)
                pending.extendleft(reversed(self._feed(result)))
            elif isinstance(action, CheckOperators):
                pending.extendleft(reversed(self._feed(self._operator_status())))
            elif isinstance(action, Transfer):
                await self._transfer(action.summary)
                return
            elif isinstance(action, Hangup):
                if self.outcome == "completed" and action.reason in ("booked", "cancelled"):
                    self.outcome = action.reason
                return
            else:
                raise TypeError(f"unknown dialog action {type(action).__name__}")
        self._note_step()

    def _feed(self, value: Any) -> list[Any]:
        assert self._engine is not None
        actions = list(self._engine.handle(value))
        failures = self._engine.failures
        if failures > self._failures:  # not understood or silent: the live page's "needs help"
            self._publish(events.TurnFailed(self.call_id, step=self._engine.step, failures=failures))
        self._failures = failures
        return actions

    def _note_step(self) -> None:
        step = self._engine.step if self._engine is not None else ""
        if step and step != self._step:
            self._step = step
            self._steps.append(step)
            self._publish(events.StepEntered(self.call_id, step=step))

    # -- speaking ---------------------------------------------------------------------------
    async def _say(self, say: Say) -> None:
        interruptible = say.interruptible and say.kind != "code"
        if self._barged and interruptible:
            for task in self._rendering.pop(id(say), []):
                task.cancel()
            return  # the caller already started answering: skip the rest of this turn's prompts
        pieces = self._rendering.pop(id(say), None) or self._render(say)
        first = await pieces[0]
        if self._speech_ended_at is not None:
            self._latencies.append(round(time.monotonic() - self._speech_ended_at, 3))
            self._speech_ended_at = None
        done = asyncio.ensure_future(self._play(first, pieces[1:]))
        detector = self.deps.barge_in_factory() if interruptible else None
        getter: asyncio.Future[Any] | None = None
        try:
            while not done.done():
                getter = asyncio.ensure_future(self._next(None))
                finished, _ = await asyncio.wait({getter, done}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in finished:
                    getter.cancel()
                    break
                item = getter.result()
                if isinstance(item, _Key):
                    if detector is not None:
                        self._keys.append(item.digit)
                        self._interrupt()
                        return
                    continue  # keys pressed during the booking-code read-back are not input
                self._preroll.append(item.pcm)
                if detector is not None and _is_start(detector.feed(item.pcm)):
                    self._interrupt()
                    self._endpointer = self.deps.endpointer_factory()
                    for frame in self._preroll:
                        self._endpointer.feed(frame)
                    return
        finally:
            # A getter left waiting (the session cancelled mid-prompt) would take the inbox's
            # "caller gone" marker for itself and mark a live caller as gone.
            for task in (done, getter, *pieces):
                if task is not None and not task.done():
                    task.cancel()

    def _prefetch(self, say: Say, pending: deque[Any]) -> None:
        """Render the prompts that follow while this one plays, so they come without a gap."""
        for action in [say, *pending]:
            if not isinstance(action, Say):
                break
            if id(action) not in self._rendering:
                self._rendering[id(action)] = self._render(action)

    def _render(self, say: Say) -> list[asyncio.Future[bytes]]:
        """The prompt in pieces rendered at once (the first phrase, then sentences): the fixed head
        of a read-back (予約しました。) is cached and plays while the part with the call's data renders.
        Read-backs hold a caller's data: they are never stored in the prompt cache."""
        synthesizer = self.deps.synthesizer
        private = say.kind != "prompt"
        return [asyncio.ensure_future(synthesizer.render(piece, private=private)) for piece in _pieces(say.text)]

    async def _play(self, first: bytes, rest: list[asyncio.Future[bytes]]) -> bool:
        """Queue each piece as it is ready; True once the last one has played to its end."""
        playback = self.conn.sender.play(first)
        for piece in rest:
            playback = self.conn.sender.play(await piece)
        return await playback.done()

    def _interrupt(self) -> None:
        self.conn.sender.flush()
        self._barged = True

    # -- listening --------------------------------------------------------------------------
    async def _listen(self, listen: Listen) -> Any:
        reply = await self._hear(listen)
        self._barged = False
        return reply

    async def _hear(self, listen: Listen) -> Any:
        timing = self.deps.timing
        if self._keys:
            return await self._digits(listen)
        loop = asyncio.get_running_loop()
        endpointer, speaking = self._endpointer, self._endpointer is not None
        self._endpointer = None
        heard: list[bytes] = list(self._preroll) if speaking else []
        if endpointer is None:
            endpointer = self.deps.endpointer_factory()
        # asked for keys: finding the keypad on a handset takes longer than starting to speak
        deadline = loop.time() + timing.reprompt_silence * (KEYPAD_WAIT_FACTOR if listen.keypad else 1)
        while True:
            now = loop.time()
            if speaking and now - deadline > timing.max_utterance:
                return await self._recognize(b"".join(heard), listen)
            if not speaking and now >= deadline:
                return Silence()
            item = await self._next(max(0.05, deadline - now) if not speaking else timing.max_utterance)
            if item is None:
                continue
            if isinstance(item, _Key):
                self._keys.append(item.digit)
                return await self._digits(listen)
            self._preroll.append(item.pcm)
            event = endpointer.feed(item.pcm)
            if speaking:
                heard.append(item.pcm)
            if _is_start(event) and not speaking:
                speaking, deadline = True, loop.time()
                heard = list(self._preroll)
            elif event is not None and hasattr(event, "pcm"):
                return await self._recognize(event.pcm or b"".join(heard), listen)

    async def _recognize(self, pcm: bytes, listen: Listen) -> Utterance:
        self._speech_ended_at = time.monotonic()
        result = await self.deps.recognizer.recognize(pcm, self.deps.hints_factory(listen))
        nbest = tuple(t for t in (getattr(result, "nbest", ()) or (result.text,)) if t)
        confidence = float(getattr(result, "confidence", 0.0) or 0.0)
        self._confidences.append(round(confidence, 3))
        self._publish(events.UtteranceRecognized(self.call_id, text=mask_digits(nbest[0] if nbest else ""),
                                                 confidence=confidence, step=self._step))
        return Utterance(nbest=nbest, confidence=confidence)

    async def _digits(self, listen: Listen) -> Any:
        max_digits = getattr(listen, "max_digits", None) or 0
        collected = ""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.deps.timing.digit_timeout  # audio keeps flowing: time by the clock
        while True:
            while self._keys:
                key = self._keys.popleft()
                if key == "*":  # the engine repeats the question
                    self._keys.clear()
                    return Digits("*")
                if key == "#":
                    self._keys.clear()
                    return Digits(collected) if collected else Silence()
                collected += key
                if max_digits and len(collected) >= max_digits:
                    self._keys.clear()
                    # a `#` pressed out of habit after a complete number is not the next answer
                    self._swallow_hash_until = time.monotonic() + HASH_GRACE
                    return Digits(collected)
            remaining = deadline - loop.time()
            if remaining <= 0:
                return Digits(collected) if collected else Silence()
            item = await self._next(remaining)
            if isinstance(item, _Key):
                self._keys.append(item.digit)
                deadline = loop.time() + self.deps.timing.digit_timeout

    def _operator_status(self) -> OperatorStatus:
        """A hand-over needs the call's channel and somebody in the queue within staffed hours."""
        staffed, hours = self.deps.operators() if self.deps.operators is not None else (True, "")
        can_ring = self.deps.ami is not None and bool(self.channel)
        return OperatorStatus(staffed and can_ring, hours, caller_known=_phone_number(self.caller) is not None)

    # -- store ------------------------------------------------------------------------------
    async def _store(self, call: StoreCall) -> StoreResult:
        if call.op == "request_callback" and not call.args.get("phone"):
            call = StoreCall(call.op, {**call.args, "phone": _phone_number(self.caller) or ""})
        result = await asyncio.to_thread(self.deps.store, call, call_id=self.call_id, channel="phone")
        value = result.value or {}
        if result.ok and call.op == "hold":
            hold_id, slot_id = _hold_ids(value, call.args)
            if hold_id is not None:
                if self._hold is not None and self._hold[0] != hold_id:
                    await self._release_hold()
                self._hold = (hold_id, slot_id)
                self._publish(events.HoldPlaced(self.call_id, hold_id=hold_id, slot_id=slot_id))
        elif result.ok and call.op == "release_hold":
            if self._hold is not None:
                self._publish(events.HoldReleased(self.call_id, hold_id=self._hold[0]))
            self._hold = None
        elif result.ok and call.op in ("confirm", "reschedule"):
            slot_id = value.get("slot_id") or (self._hold[1] if self._hold else 0)
            self._hold = None
            self.outcome = "booked"
            self._publish(events.BookingMade(self.call_id, slot_id=int(slot_id or 0), service=str(value.get("service", ""))))
        elif result.ok and call.op == "cancel":
            self.outcome = "cancelled"
        return result

    async def _release_hold(self) -> None:
        if self._hold is None:
            return
        hold_id, _ = self._hold
        self._hold = None
        try:
            await asyncio.to_thread(self.deps.store, StoreCall("release_hold", {"hold_id": hold_id}),
                                    call_id=self.call_id, channel="phone")
        except Exception:  # noqa: BLE001 - the hold then simply expires
            logger.exception("call %s: releasing hold %s failed", self.call_id, hold_id)
            return
        self._publish(events.HoldReleased(self.call_id, hold_id=hold_id))

    # -- endings ----------------------------------------------------------------------------
    async def _transfer(self, summary: str) -> None:
        self.outcome = "transferred"
        await self._release_hold()
        self._publish(events.Transferred(self.call_id, summary=mask_digits(summary)))
        if self.deps.ami is None or not self.channel:
            raise RuntimeError("cannot hand over: no AMI channel for this call")
        await self.deps.ami.set_var(self.channel, "IVR_NEXT", "operator")

    async def _apologise(self) -> None:
        if self._gone:
            return
        can_transfer = self.deps.ami is not None and bool(self.channel) and self.outcome != "transferred"
        try:
            self.conn.sender.flush()
            pcm = await self.deps.synthesizer.render(APOLOGY_TRANSFER if can_transfer else APOLOGY_GOODBYE)
            await asyncio.wait_for(self.conn.sender.play(pcm).done(), 30)
            if can_transfer:
                await self.deps.ami.set_var(self.channel, "IVR_NEXT", "operator")
                self._publish(events.Transferred(self.call_id, summary=self._summary()))
                self.outcome = "transferred"
        except Exception:  # noqa: BLE001 - last resort: the hang-up in _finish still happens
            logger.exception("call %s: apology failed", self.call_id)

    def _summary(self) -> str:
        try:
            return mask_digits(self._engine.summary()) if self._engine is not None else ""
        except Exception:  # noqa: BLE001
            return ""

    def _publish(self, event: events.Event) -> None:
        self.deps.bus.publish(event)


def _is_start(event: Any) -> bool:
    return event is not None and type(event).__name__ == "SpeechStart"


def _pieces(text: str) -> list[str]:
    return split_stream_pieces(text) or [text]


def _phone_number(caller: str) -> str | None:
    """The caller ID as a number we can call back (a Japanese number: 10 or 11 digits from 0)."""
    digits = re.sub(r"[\s\-()]", "", caller).removeprefix("+81")
    if digits.isdigit() and not caller.startswith("0") and caller.startswith("+81"):
        digits = "0" + digits
    return digits if digits.isdigit() and digits.startswith("0") and len(digits) in (10, 11) else None


def _hold_ids(value: dict, args: dict) -> tuple[int | None, int]:
    hold_id = value.get("hold_id", value.get("id"))
    slot_id = value.get("slot_id", args.get("slot_id", 0))
    return (int(hold_id) if hold_id is not None else None), int(slot_id or 0)
