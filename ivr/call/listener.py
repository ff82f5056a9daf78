"""What hears the caller: inbound frames and keys, end of speech, early decoding, barge-in.

`CallListener` owns the connection's inbound side. It plays a prompt while watching for the caller
to speak or press a key over it (barge-in flushes the audio), and hears one answer: keys, speech
decoded by the recognizer, or silence. It knows nothing of dialogs: what an answer means is the
session's business.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ivr.call.ports import BargeIn, Connection, Endpointing, SpeechToText
from ivr.call.timing import Timing
from ivr.speech.asr import AsrError, AsrResult, Hints, Priority
from ivr.speech.vad import SpeechEnd, SpeechStart
from telephony.audiosocket.protocol import Audio, Dtmf, Error, Hangup

logger = logging.getLogger(__name__)

FRAME_BYTES = 320  # 20 ms of 16-bit 8 kHz mono
HASH_GRACE = 2.0  # seconds after a complete digit string in which a `#` is ignored
KEYPAD_WAIT_FACTOR = 2
EARLY_DECODE_AFTER_MS = 240  # into the caller's pause: start decoding what they said so far
EARLY_END_AFTER_MS = 450  # a pause this long ends the answer if the engine understands it (phrase pauses are shorter)
DIGIT_PAUSE_MS = 160  # a pause at least this long between two stretches of speech: one digit read out


class CallerGone(Exception):
    """The caller hung up (the AudioSocket closed)."""


@dataclass(frozen=True)
class Keys:
    digits: str  # as pressed; `*` alone asks for the question again


@dataclass(frozen=True)
class Quiet:
    """Nothing said or pressed in time."""


@dataclass(frozen=True)
class Speech:
    result: AsrResult | None  # None: the recognizer failed on it
    ended_at: float  # time.monotonic() when the caller stopped speaking


Heard = Keys | Quiet | Speech


class CallListener:
    """Hears one caller. `start()` begins reading the connection, `stop()` ends it."""

    def __init__(self, conn: Connection, *, call_id: str, recognizer: SpeechToText,
                 endpointer_factory: Callable[[], Endpointing], barge_in_factory: Callable[[], BargeIn],
                 timing: Timing) -> None:
        self.conn = conn
        self.call_id = call_id
        self.recognizer = recognizer
        self.endpointer_factory = endpointer_factory
        self.barge_in_factory = barge_in_factory
        self.timing = timing
        self.gone = False
        self.barged = False  # the caller spoke or pressed a key over the prompts of this turn
        self._inbox: asyncio.Queue[Audio | Dtmf | Hangup] = asyncio.Queue()  # 20 ms frames, keys, the end
        self._keys: deque[str] = deque()
        self._preroll: deque[bytes] = deque(maxlen=timing.preroll_frames)
        self._endpointer: Endpointing | None = None  # set when a barge-in already started an utterance
        self._swallow_hash_until = 0.0
        self._residual = b""
        self._pump: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._pump = asyncio.create_task(self._read(), name=f"pump-{self.call_id}")

    def stop(self) -> None:
        if self._pump is not None:
            self._pump.cancel()

    # -- inbound ----------------------------------------------------------------------------
    async def _read(self) -> None:
        try:
            async for message in self.conn.inbound():
                if isinstance(message, Audio):
                    for frame in self._reframe(message.pcm):
                        self._inbox.put_nowait(Audio(frame))
                elif isinstance(message, Dtmf):
                    self._inbox.put_nowait(message)
                elif isinstance(message, (Hangup, Error)):
                    break
        finally:
            self._inbox.put_nowait(Hangup())

    def _reframe(self, pcm: bytes) -> list[bytes]:
        data = self._residual + pcm
        cut = len(data) - len(data) % FRAME_BYTES
        self._residual = data[cut:]
        return [data[i:i + FRAME_BYTES] for i in range(0, cut, FRAME_BYTES)]

    async def _next(self, timeout: float | None) -> Audio | Dtmf | None:
        try:
            item = await asyncio.wait_for(self._inbox.get(), timeout) if timeout is not None else await self._inbox.get()
        except TimeoutError:
            return None
        if isinstance(item, Hangup):
            self.gone = True
            raise CallerGone
        if isinstance(item, Dtmf) and item.digit == "#" and time.monotonic() < self._swallow_hash_until:
            self._swallow_hash_until = 0.0
            return await self._next(timeout)
        return item

    # -- while a prompt plays ---------------------------------------------------------------
    async def play(self, first: bytes, rest: list[asyncio.Future[bytes]], *, interruptible: bool) -> None:
        """Play the prompt's pieces as they are ready; an interruptible one stops when the caller
        speaks or presses a key over it (what they said so far is kept for the next answer)."""
        done = asyncio.ensure_future(self._play(first, rest))
        detector = self.barge_in_factory() if interruptible else None
        getter: asyncio.Future[Audio | Dtmf | None] | None = None
        try:
            while not done.done():
                getter = asyncio.ensure_future(self._next(None))
                finished, _ = await asyncio.wait({getter, done}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in finished:
                    getter.cancel()
                    break
                item = getter.result()
                if isinstance(item, Dtmf):
                    if detector is not None:
                        self._keys.append(item.digit)
                        self._interrupt()
                        return
                    continue  # keys pressed during the booking-code read-back are not input
                assert item is not None  # no timeout: a frame or a key
                self._preroll.append(item.pcm)
                if detector is not None and isinstance(detector.feed(item.pcm), SpeechStart):
                    self._interrupt()
                    self._endpointer = self.endpointer_factory()
                    for frame in self._preroll:
                        self._endpointer.feed(frame)
                    return
        finally:
            # A getter left waiting (the session cancelled mid-prompt) would take the inbox's
            # "caller gone" marker for itself and mark a live caller as gone.
            for task in (done, getter, *rest):
                if task is not None and not task.done():
                    task.cancel()

    async def _play(self, first: bytes, rest: list[asyncio.Future[bytes]]) -> bool:
        """Queue each piece as it is ready; True once the last one has played to its end."""
        playback = self.conn.sender.play(first)
        for piece in rest:
            playback = self.conn.sender.play(await piece)
        return await playback.done()

    def _interrupt(self) -> None:
        self.conn.sender.flush()
        self.barged = True

    # -- one answer -------------------------------------------------------------------------
    async def hear(self, hints: Hints, *, keypad: bool, max_digits: int,
                   understands: Callable[[AsrResult], bool], number_length: int = 0) -> Heard:
        """The caller's answer. `keypad`: they were asked for keys (they get longer to start);
        `understands`: whether an early decoding is an answer the dialog acts on; `number_length`:
        the digits of the number asked for (0: not a number)."""
        heard = await self._hear(hints, keypad=keypad, max_digits=max_digits, understands=understands,
                                 number_length=number_length)
        self.barged = False
        return heard

    async def _hear(self, hints: Hints, *, keypad: bool, max_digits: int,
                    understands: Callable[[AsrResult], bool], number_length: int) -> Heard:
        timing = self.timing
        if self._keys:
            return await self._digits(max_digits)
        loop = asyncio.get_running_loop()
        endpointer, speaking = self._endpointer, self._endpointer is not None
        self._endpointer = None
        heard: list[bytes] = list(self._preroll) if speaking else []
        if endpointer is None:
            endpointer = self.endpointer_factory()
        early = _EarlyDecoding(self.recognizer, hints, understands, digits=number_length)
        # asked for keys: finding the keypad on a handset takes longer than starting to speak
        deadline = loop.time() + timing.reprompt_silence * (KEYPAD_WAIT_FACTOR if keypad else 1)
        try:
            while True:
                now = loop.time()
                if speaking and now - deadline > timing.max_utterance:
                    return await self._recognize(b"".join(heard), hints, quiet_ms=0)
                if not speaking and now >= deadline:
                    return Quiet()
                item = await self._next(max(0.05, deadline - now) if not speaking else timing.max_utterance)
                if item is None:
                    continue
                if isinstance(item, Dtmf):
                    self._keys.append(item.digit)
                    return await self._digits(max_digits)
                self._preroll.append(item.pcm)
                event = endpointer.feed(item.pcm)
                if speaking:
                    heard.append(item.pcm)
                if isinstance(event, SpeechStart) and not speaking:
                    speaking, deadline = True, loop.time()
                    heard = list(self._preroll)
                elif isinstance(event, SpeechEnd):
                    quiet_ms = endpointer.hangover_ms
                    ended_at = _ended(quiet_ms)  # before waiting for the early decoding to finish
                    if (result := await early.result()) is not None:
                        return Speech(result, ended_at)
                    return await self._recognize(event.pcm or b"".join(heard), hints, quiet_ms=quiet_ms)
                elif speaking and (result := early.follow(endpointer)) is not None:
                    return Speech(result, _ended(endpointer.trailing_silence_ms))
        finally:
            early.drop()

    async def _recognize(self, pcm: bytes, hints: Hints, *, quiet_ms: int) -> Speech:
        ended_at = _ended(quiet_ms)
        try:
            result: AsrResult | None = await self.recognizer.recognize(pcm, hints)
        except AsrError as exc:  # one utterance the recognizer failed on: the dialog asks again
            logger.warning("call %s: recognition failed (%s); asking again", self.call_id, exc)
            result = None
        return Speech(result, ended_at)

    async def _digits(self, max_digits: int) -> Keys | Quiet:
        collected = ""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timing.digit_timeout  # audio keeps flowing: time by the clock
        while True:
            while self._keys:
                key = self._keys.popleft()
                if key == "*":  # the dialog repeats the question
                    self._keys.clear()
                    return Keys("*")
                if key == "#":
                    self._keys.clear()
                    return Keys(collected) if collected else Quiet()
                collected += key
                if max_digits and len(collected) >= max_digits:
                    self._keys.clear()
                    # a `#` pressed out of habit after a complete number is not the next answer
                    self._swallow_hash_until = time.monotonic() + HASH_GRACE
                    return Keys(collected)
            remaining = deadline - loop.time()
            if remaining <= 0:
                return Keys(collected) if collected else Quiet()
            item = await self._next(remaining)
            if isinstance(item, Dtmf):
                self._keys.append(item.digit)
                deadline = loop.time() + self.timing.digit_timeout


class _EarlyDecoding:
    """The answer decoded while the caller's pause is still being waited out.

    Decoding starts `EARLY_DECODE_AFTER_MS` into a pause, so the recognizer's queue and decode
    overlap the end-of-utterance hang-over. The caller going on drops it, and the next pause must be
    twice as long to start another: a caller reading digits one by one pauses 0.4-0.5 s after each,
    and a decoding per digit would be wasted work. Asked for a number of `digits` digits, the caller
    who has paused once after each of them but the last is on the last one: the next pause is
    decoded early again. Staying quiet keeps it as the answer, and when the dialog already
    understands it the pause ends at `EARLY_END_AFTER_MS` instead of at the hang-over.
    """

    def __init__(self, recognizer: SpeechToText, hints: Hints, understands: Callable[[AsrResult], bool],
                 *, digits: int = 0) -> None:
        self._recognizer, self._hints, self._understands = recognizer, hints, understands
        self._task: asyncio.Future[AsrResult] | None = None
        self._taken: bool | None = None  # whether the dialog understands the finished decoding
        self._after_ms = EARLY_DECODE_AFTER_MS
        self._pauses_to_last_digit = digits - 1
        self._pause_ms = 0

    def follow(self, endpointer: Endpointing) -> AsrResult | None:
        """After each frame of speech: the decoding, once it is an answer the dialog understands."""
        quiet = endpointer.trailing_silence_ms
        if quiet == 0:
            if self._pause_ms >= DIGIT_PAUSE_MS:
                self._pauses_to_last_digit -= 1
            if self._pauses_to_last_digit == 0:
                self._after_ms = EARLY_DECODE_AFTER_MS
            elif self._task is not None:  # the caller went on
                self._after_ms *= 2
            self._pause_ms = 0
            self.drop()
            return None
        self._pause_ms = quiet
        if self._task is None:
            if quiet >= self._after_ms:
                self._task = asyncio.ensure_future(
                    self._recognizer.recognize(endpointer.utterance_so_far(), speculative(self._hints)))
        elif quiet >= EARLY_END_AFTER_MS and (result := self._finished()) is not None:
            if self._taken is None:
                self._taken = self._understands(result)
            return result if self._taken else None
        return None

    async def result(self) -> AsrResult | None:
        """At the end of the hang-over: the decoding of this pause, or None (then decode afresh)."""
        if self._task is None:
            return None
        with contextlib.suppress(Exception):
            await asyncio.shield(self._task)
        return self._finished()

    def _finished(self) -> AsrResult | None:
        task = self._task
        if task is None or not task.done() or task.cancelled() or task.exception() is not None:
            return None
        return task.result()

    def drop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task, self._taken = None, None


def speculative(hints: Hints) -> Hints:
    """An early decoding waits behind every other utterance, except a yes/no answer's (urgent)."""
    if hints.priority is Priority.URGENT:
        return hints
    return dataclasses.replace(hints, priority=Priority.SPECULATIVE)


def _ended(quiet_ms: int) -> float:
    """When the caller stopped speaking, `quiet_ms` ago."""
    return time.monotonic() - quiet_ms / 1000
