"""Voice activity on 20 ms 8 kHz frames: endpointing (the caller finished) and barge-in (the caller
started speaking over a prompt).

A frame counts as speech when the WebRTC VAD says so *and* it is loud enough: the level floor keeps
line noise out, and the barge-in floor (higher, and optionally relative to what we are playing)
keeps the echo of our own prompt out. Decisions are smoothed over a short window, and the end of an
utterance needs `hangover_ms` of non-speech.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import webrtcvad

from ivr.speech.audio import FRAME_MS, PHONE_RATE, frame_bytes, level_dbfs

ECHO_SPAN_MS = 100  # how far back a played frame can still echo


@dataclass(frozen=True)
class SpeechStart:
    at: float  # seconds from the first frame fed, start of the first speech frame


@dataclass(frozen=True)
class SpeechEnd:
    pcm: bytes  # the utterance with `pre_roll_ms` before and `tail_ms` after it
    start: float
    end: float  # end of the last speech frame


@dataclass(frozen=True)
class VadConfig:
    aggressiveness: int = 3
    min_level_dbfs: float = -42.0  # quieter frames are never speech (line noise, hiss, faint echo)
    onset_ms: int = 100  # speech within the onset window needed to declare a start
    onset_window_ms: int = 160
    hangover_ms: int = 800  # end-of-utterance silence
    pre_roll_ms: int = 200
    tail_ms: int = 200
    max_utterance_s: float = 20.0
    echo_return_loss_db: float = 18.0  # with a `played` reference: the weakest echo loss we expect
    echo_margin_db: float = 6.0  # and how much louder than that echo the caller must be


@dataclass(frozen=True)
class BargeInConfig:
    aggressiveness: int = 3
    min_level_dbfs: float = -34.0  # our prompt's echo sits well below this at normal phone levels
    echo_return_loss_db: float = 18.0
    echo_margin_db: float = 6.0
    onset_ms: int = 200
    onset_window_ms: int = 300


class VadError(ValueError):
    """A frame of the wrong size was fed."""


class FrameClassifier:
    """WebRTC VAD plus a level floor, for 8 kHz 20 ms frames."""

    def __init__(
        self, aggressiveness: int, min_level_dbfs: float, echo_floor_db: float = 5.0, rate: int = PHONE_RATE
    ) -> None:
        self._vad = webrtcvad.Vad(aggressiveness)
        self.min_level_dbfs = min_level_dbfs
        self.echo_floor_db = echo_floor_db  # return loss minus margin: echo is at most this far below `played`
        self._played: deque[float] = deque(maxlen=ECHO_SPAN_MS // FRAME_MS)  # echo arrives a little late
        self.rate = rate
        self.size = frame_bytes(rate)

    def is_speech(self, frame: bytes, played: bytes | None = None) -> bool:
        if len(frame) != self.size:
            raise VadError(f"expected {self.size}-byte frames ({FRAME_MS} ms at {self.rate} Hz), got {len(frame)}")
        level = level_dbfs(frame)
        self._played.append(level_dbfs(played) if played else float("-inf"))
        if level < self.min_level_dbfs or level < max(self._played) - self.echo_floor_db:
            return False
        return self._vad.is_speech(frame, self.rate)


class _Onset:
    """At least `need` speech frames within the last `window` frames."""

    def __init__(self, need_ms: int, window_ms: int) -> None:
        self.need = max(1, need_ms // FRAME_MS)
        self.recent: deque[bool] = deque(maxlen=max(self.need, window_ms // FRAME_MS))

    def push(self, speech: bool) -> bool:
        self.recent.append(speech)
        return sum(self.recent) >= self.need

    def first_speech_offset(self) -> int:
        """How many frames back the first speech frame of the window lies."""
        for back, speech in enumerate(self.recent):
            if speech:
                return len(self.recent) - back
        return 0


class Endpointer:
    """feed(frame) -> SpeechStart when the caller starts, SpeechEnd(pcm) when they finish, else None."""

    def __init__(self, config: VadConfig = VadConfig()) -> None:
        self.config = config
        self._classifier = FrameClassifier(
            config.aggressiveness, config.min_level_dbfs, config.echo_return_loss_db - config.echo_margin_db
        )
        self._frame_s = FRAME_MS / 1000
        self.reset()

    def reset(self) -> None:
        self._onset = _Onset(self.config.onset_ms, self.config.onset_window_ms)
        self._frames: deque[bytes] = deque()
        self._history: deque[bytes] = deque(maxlen=max(1, self.config.pre_roll_ms // FRAME_MS) + 16)
        self._index = 0
        self._start_index: int | None = None
        self._last_speech = 0
        self._silent = 0

    @property
    def in_speech(self) -> bool:
        return self._start_index is not None

    @property
    def hangover_ms(self) -> int:
        return self.config.hangover_ms

    @property
    def trailing_silence_ms(self) -> int:
        """How long the caller has been quiet inside the current utterance (0 outside one)."""
        return self._silent * FRAME_MS if self.in_speech else 0

    def utterance_so_far(self) -> bytes:
        """The current utterance as it would end if the caller stayed quiet (its pause included)."""
        return b"".join(self._frames) if self.in_speech else b""

    def feed(self, frame: bytes, played: bytes | None = None) -> SpeechStart | SpeechEnd | None:
        """`played`: the frame we sent at about the same time, if any (its echo is not speech)."""
        speech = self._classifier.is_speech(frame, played)
        index, self._index = self._index, self._index + 1
        if self._start_index is None:
            self._history.append(frame)
            if not self._onset.push(speech):
                return None
            back = self._onset.first_speech_offset()
            self._start_index = index + 1 - back
            keep = back + self.config.pre_roll_ms // FRAME_MS
            self._frames = deque(list(self._history)[-keep:])
            self._last_speech, self._silent = index, 0
            return SpeechStart(self._start_index * self._frame_s)
        self._frames.append(frame)
        if speech:
            self._last_speech, self._silent = index, 0
        else:
            self._silent += 1
        too_long = (index - self._start_index) * self._frame_s >= self.config.max_utterance_s
        if self._silent * FRAME_MS >= self.config.hangover_ms or too_long:
            return self._finish()
        return None

    def _finish(self) -> SpeechEnd:
        extra = max(0, self._silent - self.config.tail_ms // FRAME_MS)
        frames = list(self._frames)
        pcm = b"".join(frames[: len(frames) - extra] if extra else frames)
        end = SpeechEnd(pcm, self._start_index * self._frame_s, (self._last_speech + 1) * self._frame_s)
        self._restart()
        return end

    def _restart(self) -> None:
        """Ready for the next utterance; times keep counting from the first frame ever fed."""
        index = self._index
        self.reset()
        self._index = index


class BargeInDetector:
    """Caller speech over our prompt: feed(frame, played=None) -> SpeechStart once, then None until reset().

    `played` is the frame we sent at about the same time; when given, the caller must also be
    clearly louder than the echo that frame can cause.
    """

    def __init__(self, config: BargeInConfig = BargeInConfig()) -> None:
        self.config = config
        self._classifier = FrameClassifier(
            config.aggressiveness, config.min_level_dbfs, config.echo_return_loss_db - config.echo_margin_db
        )
        self.reset()

    def reset(self) -> None:
        self._onset = _Onset(self.config.onset_ms, self.config.onset_window_ms)
        self._index = 0
        self.fired = False

    def feed(self, frame: bytes, played: bytes | None = None) -> SpeechStart | None:
        speech = self._classifier.is_speech(frame, played)
        index, self._index = self._index, self._index + 1
        if self.fired or not self._onset.push(speech):
            return None
        self.fired = True
        return SpeechStart((index + 1 - self._onset.first_speech_offset()) * FRAME_MS / 1000)
