"""When is the IVR talking? A pure tracker over the 20 ms frames the caller hears.

The IVR's side of the line is digital silence between prompts, so a level threshold is enough; a
prompt ends after `gap` seconds without voice (longer than the pauses inside and between the
sentences of one turn, shorter than the IVR's wait for an answer).
"""

from __future__ import annotations

from dataclasses import dataclass

from ivr.speech.audio import level_dbfs

FRAME_SECONDS = 0.020


@dataclass(frozen=True)
class PromptStarted:
    at: float


@dataclass(frozen=True)
class PromptEnded:
    start: float
    end: float  # end of the last voiced frame
    pcm: bytes  # the prompt as heard, from its first to its last voiced frame


class PromptTracker:
    """`feed(frame, now)` → `PromptStarted` / `PromptEnded` / None."""

    def __init__(self, *, gap: float = 1.2, threshold_dbfs: float = -45.0, max_prompt: float = 60.0) -> None:
        self.gap = gap
        self.threshold_dbfs = threshold_dbfs
        self.max_prompt = max_prompt
        self._frames: list[bytes] = []
        self._voiced_len = 0  # frames up to and including the last voiced one
        self._start: float | None = None
        self._last_voice = 0.0
        self.prompts = 0

    @property
    def talking(self) -> bool:
        return self._start is not None

    @property
    def last_voice(self) -> float:
        return self._last_voice

    def feed(self, frame: bytes, now: float) -> PromptStarted | PromptEnded | None:
        voiced = len(frame) > 0 and level_dbfs(frame) > self.threshold_dbfs
        if self._start is None:
            if not voiced:
                return None
            self._start, self._last_voice = now, now
            self._frames, self._voiced_len = [frame], 1
            return PromptStarted(now)
        self._frames.append(frame)
        if voiced:
            self._last_voice = now
            self._voiced_len = len(self._frames)
        if now - self._last_voice >= self.gap or now - self._start >= self.max_prompt:
            return self._end()
        return None

    def flush(self) -> PromptEnded | None:
        """The call ended: a prompt in progress ends here."""
        return self._end() if self._start is not None else None

    def _end(self) -> PromptEnded:
        assert self._start is not None
        ended = PromptEnded(self._start, self._last_voice + FRAME_SECONDS, b"".join(self._frames[: self._voiced_len]))
        self._start, self._frames, self._voiced_len = None, [], 0
        self.prompts += 1
        return ended
