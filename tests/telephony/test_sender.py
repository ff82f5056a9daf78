"""The paced sender: whole frames in single writes, silence when idle, flush, absolute schedule."""

from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator

from telephony.audiosocket.protocol import Audio, Decoder
from telephony.audiosocket.sender import FRAME_BYTES, SILENCE_FRAME, FrameClock, PacedSender, split_frames
from tests.fixtures.waiting import until


class FakeWriter:
    def __init__(self, clock=None) -> None:
        self.writes: list[bytes] = []
        self.times: list[float] = []
        self.closing = False
        self._clock = clock

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        if self._clock:
            self.times.append(self._clock())

    def is_closing(self) -> bool:
        return self.closing


class VirtualTime:
    """A clock the fake sleep advances, by the asked delay plus a scripted lateness."""

    def __init__(self, lateness) -> None:
        self.now = 1000.0
        self._lateness = iter(lateness)

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.now += delay + next(self._lateness, 0.0)
        await asyncio.sleep(0)


async def run_virtual(vt: VirtualTime, frames: int) -> tuple[list[float], int]:
    """Run a sender on virtual time until it has written `frames` frames: (write times, re-anchors)."""
    writer = FakeWriter(vt.clock)
    sender = PacedSender(writer, clock=vt.clock, sleep=vt.sleep)
    task = asyncio.create_task(sender.run())
    await until(lambda: len(writer.writes) >= frames, f"{frames} frames written", interval=0)
    sender.close()
    await task
    return writer.times, sender.reanchors


@contextlib.asynccontextmanager
async def running_sender(frame_seconds: float) -> AsyncIterator[tuple[FakeWriter, PacedSender]]:
    """A sender running on the real clock into a FakeWriter; closed (and its task awaited) after."""
    writer = FakeWriter()
    sender = PacedSender(writer, frame_seconds=frame_seconds)
    task = asyncio.create_task(sender.run())
    try:
        yield writer, sender
    finally:
        sender.close()
        await task


def pcm(frames: float, value: int = 1) -> bytes:
    return value.to_bytes(2, "little", signed=True) * int(frames * FRAME_BYTES // 2)


def test_split_frames_pads_the_last_frame_and_encodes_each_whole():
    frames = split_frames(pcm(2.5))
    assert len(frames) == 3 and all(len(f) == 3 + FRAME_BYTES for f in frames)
    assert Decoder().feed_all(frames[2])[0] == Audio(pcm(0.5) + bytes(FRAME_BYTES // 2))


def test_plays_queued_audio_then_silence_one_whole_message_per_write():
    async def scenario():
        async with running_sender(frame_seconds=0.001) as (writer, sender):
            first = sender.play(pcm(3, 7))
            second = sender.play(pcm(2, 9))
            assert sender.busy
            assert await first.done() and await second.done()
            await until(lambda: writer.writes[-1] == SILENCE_FRAME, "silence once the queue is empty")
        return writer.writes

    writes = asyncio.run(scenario())
    decoded = [Decoder().feed_all(w) for w in writes]
    assert all(len(d) == 1 and len(d[0].pcm) == FRAME_BYTES for d in decoded)  # single writes, whole frames
    values = [d[0].pcm[:2] for d in decoded]
    speech = [v for v in values if v != b"\0\0"]
    assert speech == [b"\x07\0"] * 3 + [b"\x09\0"] * 2
    assert writes[-1] == SILENCE_FRAME  # idle: silence keeps Asterisk's 2 s timeout away


def test_flush_drops_queued_audio_and_reports_it():
    async def scenario():
        async with running_sender(frame_seconds=0.005) as (writer, sender):
            long = sender.play(pcm(400, 5))
            await until(lambda: long.frames_sent >= 2, "the playback started")
            dropped = sender.flush()
            assert not sender.busy
            played = await long.done()
            await until(lambda: writer.writes[-1] == SILENCE_FRAME, "silence right after the flush")
        return played, dropped, long, writer.writes

    played, dropped, playback, writes = asyncio.run(scenario())
    assert played is False and dropped > 300 and playback.frames_sent + dropped == 400
    assert sum(1 for w in writes if w != SILENCE_FRAME) == playback.frames_sent


def test_schedule_is_absolute_so_jitter_does_not_accumulate():
    lateness = [0.004, 0.0, 0.007, 0.0, 0.001] * 40
    vt = VirtualTime(lateness)

    times, _ = asyncio.run(run_virtual(vt, 200))
    drift = [t - (times[0] + i * 0.020) for i, t in enumerate(times[:200])]
    assert max(drift) <= 0.0071 and min(drift) >= 0  # each frame only as late as its own wake-up


def test_far_behind_re_anchors_instead_of_bursting():
    vt = VirtualTime([0.0] * 5 + [0.5] + [0.0] * 20)

    times, reanchors = asyncio.run(run_virtual(vt, 20))
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert reanchors == 1
    assert min(gaps) >= 0.0199  # never two frames at once after the stall


def test_one_frame_clock_paces_every_call_and_stops_when_they_end():
    vt = VirtualTime([0.003, 0.0] * 100)

    async def scenario():
        writers = [FakeWriter(vt.clock) for _ in range(3)]
        senders = [PacedSender(w, clock=vt.clock) for w in writers]
        clock = FrameClock(clock=vt.clock, sleep=vt.sleep)
        for sender in senders:
            clock.add(sender)
        speech = senders[1].play(pcm(2, 3))
        await until(lambda: len(writers[0].writes) >= 50, "50 frames written", interval=0)
        senders[0].close()
        count = len(writers[0].writes)
        await until(lambda: len(writers[1].writes) >= 60, "10 more frames to the others", interval=0)
        assert len(writers[0].writes) == count and clock.active == 2  # a closed sender leaves at once
        played = await speech.done()
        await clock.close()
        return writers, played

    writers, played = asyncio.run(scenario())
    assert played
    for writer in writers:
        drift = [t - (writer.times[0] + i * 0.020) for i, t in enumerate(writer.times)]
        assert 0 <= min(drift) and max(drift) <= 0.0031
    assert writers[1].times[:50] == writers[2].times[:50]  # same ticks
