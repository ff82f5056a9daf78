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


class PacedSender:
    """Owns the outbound side of one call; `run()` is its task (started by the connection)."""

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
        """Stop sending (the run task ends at its next tick); queued playbacks finish with False."""
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

    async def run(self) -> None:
        """Write one frame per tick until closed or the writer closes."""
        anchor = self._clock()
        tick = 0
        try:
            while not self._closed and not self._writer.is_closing():
                self._writer.write(self._next_frame())
                self.frames_written += 1
                tick += 1
                delay = anchor + tick * self._frame_seconds - self._clock()
                if delay < -MAX_BACKLOG_SECONDS:
                    self.reanchors += 1
                    log.debug("call %s: sender %.0f ms behind; re-anchoring", self._call_id, -delay * 1000)
                    anchor = self._clock() - (tick - 1) * self._frame_seconds  # next frame in 20 ms
                    delay = self._frame_seconds
                await self._sleep(max(0.0, delay))
        finally:
            self.close()
