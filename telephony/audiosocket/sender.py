"""Paced outbound audio for one AudioSocket call.

Asterisk plays server frames the moment they arrive, and drops a call after 2 s without media,
so the sender writes exactly one 320-byte (20 ms) frame per tick on an absolute monotonic
schedule: queued speech when there is some, silence otherwise. `flush()` drops everything queued
(barge-in) and the next tick is silence. Each frame is written header+payload in one write.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Awaitable, Callable, Protocol

from telephony.audiosocket.protocol import Audio, encode

log = logging.getLogger(__name__)

FRAME_BYTES = 320  # 20 ms of 16-bit mono 8 kHz
FRAME_SECONDS = 0.020
SILENCE_FRAME = encode(Audio(bytes(FRAME_BYTES)))
#: Behind schedule by more than this, the sender re-anchors instead of bursting the backlog:
#: Asterisk would play a burst faster than real time.
MAX_BACKLOG_SECONDS = 0.100


class Writer(Protocol):
    def write(self, data: bytes) -> None: ...
    def is_closing(self) -> bool: ...


class Playback:
    """One queued piece of audio; `await done()` is True if it played to the end, False if flushed."""

    def __init__(self, frames: int) -> None:
        self.frames = frames
        self.frames_sent = 0
        self._done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    @property
    def finished(self) -> bool:
        return self._done.done()

    def _finish(self, played: bool) -> None:
        if not self._done.done():
            self._done.set_result(played)

    async def done(self) -> bool:
        return await asyncio.shield(self._done)


def split_frames(pcm: bytes) -> list[bytes]:
    """`pcm` as whole encoded 20 ms frames; the last one is padded with silence."""
    if len(pcm) % 2:
        raise ValueError(f"PCM must be whole 16-bit samples, got {len(pcm)} bytes")
    frames = []
    for start in range(0, len(pcm), FRAME_BYTES):
        chunk = pcm[start:start + FRAME_BYTES]
        frames.append(encode(Audio(chunk.ljust(FRAME_BYTES, b"\0"))))
    return frames


async def pace(tick: Callable[[], bool], *, clock: Callable[[], float], sleep: Callable[[float], Awaitable[None]],
               frame_seconds: float, on_reanchor: Callable[[float], None],
               on_lag: Callable[[float], None] | None = None) -> None:
    """Call `tick()` every `frame_seconds` on an absolute schedule until it returns False.

    Jitter never accumulates: each wake-up aims at anchor + n * frame_seconds. Behind by more than
    MAX_BACKLOG_SECONDS (the process was starved), the schedule is re-anchored instead of bursting.
    """
    anchor = clock()
    ticks = 0
    while tick():
        ticks += 1
        delay = anchor + ticks * frame_seconds - clock()
        if on_lag is not None and ticks > 1:
            on_lag(frame_seconds - delay)  # how late this tick ran against its schedule
        if delay < -MAX_BACKLOG_SECONDS:
            on_reanchor(-delay)
            anchor = clock() - (ticks - 1) * frame_seconds  # the next frame in one frame time
            delay = frame_seconds
        await sleep(max(0.0, delay))


class PacedSender:
    """Owns the outbound side of one call. Driven either by its own `run()` task or by a shared
    `FrameClock` (one timer for every call in the process, far fewer wake-ups under load)."""

    def __init__(
        self,
        writer: Writer,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        frame_seconds: float = FRAME_SECONDS,
        call_id: str = "-",
    ) -> None:
        self._writer = writer
        self._clock = clock
        self._sleep = sleep
        self._frame_seconds = frame_seconds
        self._queue: deque[tuple[bytes, Playback]] = deque()
        self._closed = False
        self._call_id = call_id
        self.frames_written = 0
        self.reanchors = 0

    @property
    def busy(self) -> bool:
        """True while queued audio remains to be sent."""
        return bool(self._queue)

    @property
    def closed(self) -> bool:
        return self._closed

    def play(self, pcm8k: bytes) -> Playback:
        """Queue 8 kHz 16-bit mono PCM after whatever is already queued."""
        frames = split_frames(pcm8k)
        playback = Playback(len(frames))
        if self._closed or not frames:
            playback._finish(not frames and not self._closed)
            return playback
        self._queue.extend((frame, playback) for frame in frames)
        return playback

    def flush(self) -> int:
        """Drop everything queued now (barge-in); the playbacks finish with False. Frames dropped."""
        dropped = len(self._queue)
        while self._queue:
            _, playback = self._queue.popleft()
            playback._finish(False)
        return dropped

    def close(self) -> None:
        """Stop sending at once (no frame is written after this); queued playbacks finish with False."""
        self._closed = True
        self.flush()

    def _next_frame(self) -> bytes:
        if not self._queue:
            return SILENCE_FRAME
        frame, playback = self._queue.popleft()
        playback.frames_sent += 1
        if playback.frames_sent == playback.frames:
            playback._finish(True)
        return frame

    def tick(self) -> bool:
        """Write the next frame (speech or silence) in one write; False once closed."""
        if self._closed or self._writer.is_closing():
            self.close()
            return False
        self._writer.write(self._next_frame())
        self.frames_written += 1
        return True

    def _reanchored(self, behind: float) -> None:
        self.reanchors += 1
        log.debug("call %s: sender %.0f ms behind; re-anchoring", self._call_id, behind * 1000)

    async def run(self) -> None:
        """Pace this sender with its own timer until closed or the writer closes."""
        try:
            await pace(self.tick, clock=self._clock, sleep=self._sleep, frame_seconds=self._frame_seconds,
                       on_reanchor=self._reanchored)
        finally:
            self.close()


class FrameClock:
    """One 20 ms timer that ticks every registered sender: a process with many calls wakes up 50
    times a second instead of 50 times per call. Its task runs while there are senders."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 frame_seconds: float = FRAME_SECONDS) -> None:
        self._clock = clock
        self._sleep = sleep
        self._frame_seconds = frame_seconds
        self._senders: dict[PacedSender, None] = {}
        self._task: asyncio.Task[None] | None = None
        self.reanchors = 0
        self.max_lag = 0.0  # the latest a tick ran against its schedule, in seconds (a diagnostic)

    @property
    def active(self) -> int:
        """Senders being ticked."""
        return len(self._senders)

    def add(self, sender: PacedSender) -> None:
        """Tick `sender` from the next tick on (within 20 ms); it leaves when it closes."""
        if sender.closed:
            return
        self._senders[sender] = None
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="audiosocket-frame-clock")

    def _tick_all(self) -> bool:
        for sender in list(self._senders):
            if not sender.tick():
                del self._senders[sender]
        return bool(self._senders)

    def _reanchored(self, behind: float) -> None:
        self.reanchors += 1
        for sender in self._senders:
            sender.reanchors += 1
        log.debug("frame clock %.0f ms behind; re-anchoring", behind * 1000)

    async def _run(self) -> None:
        await pace(self._tick_all, clock=self._clock, sleep=self._sleep, frame_seconds=self._frame_seconds,
                   on_reanchor=self._reanchored, on_lag=self._lagged)

    def _lagged(self, lag: float) -> None:
        self.max_lag = max(self.max_lag, lag)

    async def close(self) -> None:
        for sender in list(self._senders):
            sender.close()
        self._senders.clear()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
