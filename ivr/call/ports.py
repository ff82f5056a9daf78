"""What a call is given: the connection, speech in and out, the dialplan, the store.

Protocols name only what the call uses, so a test stand-in needs no more than that. The real ones:
`telephony.audiosocket.server.CallConnection`, `ivr.speech.asr` recognizers,
`ivr.speech.tts.Synthesizer`, `ivr.speech.vad.Endpointer` / `BargeInDetector`,
`ivr.ami.MadoguchiAmi` and `ivr.store_calls.DialogStore.execute`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Protocol

from dialogs.messages import StoreCall, StoreResult
from ivr.speech.asr import AsrResult, Hints
from ivr.speech.vad import SpeechEnd, SpeechStart
from telephony.audiosocket.protocol import Message


class Playback(Protocol):
    async def done(self) -> bool:
        """True once the audio played to its end, False if it was flushed."""


class AudioOut(Protocol):
    """The paced sender towards the caller."""

    def play(self, pcm8k: bytes) -> Playback: ...

    def flush(self) -> int:
        """Drop the audio not yet played (barge-in); returns the frames dropped."""


class Connection(Protocol):
    """One AudioSocket call."""

    uuid: uuid.UUID
    sender: AudioOut

    def inbound(self) -> AsyncIterator[Message]: ...

    async def hangup(self) -> None: ...


class SpeechToText(Protocol):
    async def recognize(self, pcm8k: bytes, hints: Hints) -> AsrResult: ...


class TextToSpeech(Protocol):
    async def render(self, text: str, *, private: bool = False) -> bytes:
        """8 kHz PCM; `private` audio (a caller's own data) is never cached."""


class Endpointing(Protocol):
    """Finds where the caller's utterance starts and ends, one 20 ms frame at a time."""

    hangover_ms: int

    def feed(self, frame: bytes) -> SpeechStart | SpeechEnd | None: ...

    @property
    def trailing_silence_ms(self) -> int: ...

    def utterance_so_far(self) -> bytes: ...


class BargeIn(Protocol):
    """Hears the caller start speaking over a prompt."""

    def feed(self, frame: bytes) -> SpeechStart | None: ...


class CallerLine(Protocol):
    """The dialplan's record of a call: who calls, on which channel."""

    @property
    def caller(self) -> str: ...

    @property
    def channel(self) -> str: ...


class Dialplan(Protocol):
    """Asterisk's side of the call through AMI: which channel it is on, where it goes next."""

    async def wait_call(self, call_uuid: str, timeout: float) -> CallerLine | None: ...

    async def set_var(self, channel: str, name: str, value: str) -> None: ...


class StoreExecutor(Protocol):
    """Runs one `StoreCall` against the slot store (synchronous; called in a worker thread)."""

    def __call__(self, call: StoreCall, *, call_id: str, channel: str) -> StoreResult: ...
