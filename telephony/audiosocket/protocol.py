"""AudioSocket framing: bytes in, typed messages out, and back. Pure: no sockets, no logging.

Each message is one kind byte, a 2-byte big-endian payload length, then the payload:

    0x00 hangup (no payload)       0x01 UUID (16 bytes)      0x03 DTMF (one ASCII byte)
    0x10 audio (signed 16-bit little-endian mono 8 kHz)      0xff error (optional 1-byte code)

Asterisk accepts only audio and hangup from the server, so `encode` refuses anything else
unless `to_asterisk=False` (used by tests and simulators that play Asterisk's side).
"""

from __future__ import annotations

import struct
import uuid as uuid_module
from dataclasses import dataclass
from typing import Iterator, Union

KIND_HANGUP = 0x00
KIND_UUID = 0x01
KIND_DTMF = 0x03
KIND_AUDIO = 0x10
KIND_ERROR = 0xFF

HEADER = struct.Struct(">BH")
MAX_PAYLOAD = 0xFFFF
#: Audio larger than this is refused by the decoder: Asterisk sends 20 ms frames (320 bytes);
#: a few hundred ms is plenty of slack and keeps a broken peer from making us buffer 64 KiB frames.
DEFAULT_MAX_AUDIO = 8000
DTMF_DIGITS = frozenset("0123456789*#ABCD")
#: Largest payload each kind may announce (audio: the decoder's `max_audio`).
_LIMITS = {KIND_HANGUP: 0, KIND_UUID: 16, KIND_DTMF: 1, KIND_AUDIO: MAX_PAYLOAD, KIND_ERROR: 16}


class ProtocolError(ValueError):
    """Malformed or oversized AudioSocket input (or a message the server may not send)."""


@dataclass(frozen=True)
class Uuid:
    value: uuid_module.UUID


@dataclass(frozen=True)
class Audio:
    pcm: bytes  # signed 16-bit little-endian mono 8 kHz

    def __repr__(self) -> str:  # never dump audio into logs or test output
        return f"Audio({len(self.pcm)} bytes)"


@dataclass(frozen=True)
class Dtmf:
    digit: str


@dataclass(frozen=True)
class Hangup:
    pass


@dataclass(frozen=True)
class Error:
    code: int | None = None


Message = Union[Uuid, Audio, Dtmf, Hangup, Error]


def _payload(message: Message) -> tuple[int, bytes]:
    if isinstance(message, Audio):
        if len(message.pcm) % 2:
            raise ProtocolError(f"audio payload must be whole 16-bit samples, got {len(message.pcm)} bytes")
        return KIND_AUDIO, message.pcm
    if isinstance(message, Hangup):
        return KIND_HANGUP, b""
    if isinstance(message, Uuid):
        return KIND_UUID, message.value.bytes
    if isinstance(message, Dtmf):
        if message.digit not in DTMF_DIGITS or len(message.digit) != 1:
            raise ProtocolError(f"not a DTMF digit: {message.digit!r}")
        return KIND_DTMF, message.digit.encode("ascii")
    if isinstance(message, Error):
        return KIND_ERROR, b"" if message.code is None else bytes([message.code])
    raise ProtocolError(f"not an AudioSocket message: {type(message).__name__}")


def encode(message: Message, *, to_asterisk: bool = True) -> bytes:
    """One message as bytes (header and payload together, ready for a single write)."""
    kind, payload = _payload(message)
    if to_asterisk and kind not in (KIND_AUDIO, KIND_HANGUP):
        raise ProtocolError(f"Asterisk accepts only audio and hangup from the server, not {type(message).__name__}")
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    return HEADER.pack(kind, len(payload)) + payload


def _decode_one(kind: int, payload: bytes) -> Message:
    if kind == KIND_AUDIO:
        if len(payload) % 2:
            raise ProtocolError(f"audio payload of odd length {len(payload)}")
        return Audio(payload)
    if kind == KIND_HANGUP:
        return Hangup()
    if kind == KIND_UUID:
        if len(payload) != 16:
            raise ProtocolError(f"UUID payload must be 16 bytes, got {len(payload)}")
        return Uuid(uuid_module.UUID(bytes=payload))
    if kind == KIND_DTMF:
        digit = payload[:1].decode("ascii", "replace")
        if len(payload) != 1 or digit not in DTMF_DIGITS:
            raise ProtocolError(f"bad DTMF payload {payload!r}")
        return Dtmf(digit)
    if kind == KIND_ERROR:
        return Error(payload[0] if payload else None)
    raise ProtocolError(f"unknown message kind 0x{kind:02x}")


class Decoder:
    """Incremental decoder: `feed(chunk)` yields every whole message the bytes so far complete.

    After a `ProtocolError` the stream is out of step and the decoder refuses further input.
    """

    def __init__(self, max_audio: int = DEFAULT_MAX_AUDIO) -> None:
        self._buffer = bytearray()
        self._max_audio = max_audio
        self._broken: ProtocolError | None = None

    @property
    def pending(self) -> int:
        """Bytes received that do not yet make a whole message."""
        return len(self._buffer)

    def feed(self, chunk: bytes) -> Iterator[Message]:
        if self._broken is not None:
            raise self._broken
        self._buffer += chunk
        while len(self._buffer) >= HEADER.size:
            kind, length = HEADER.unpack_from(self._buffer)
            if kind not in _LIMITS:
                self._broken = ProtocolError(f"unknown message kind 0x{kind:02x}")
                raise self._broken
            limit = self._max_audio if kind == KIND_AUDIO else _LIMITS[kind]
            if length > limit:
                self._broken = ProtocolError(f"message kind 0x{kind:02x} announces {length} bytes (limit {limit})")
                raise self._broken
            end = HEADER.size + length
            if len(self._buffer) < end:
                return
            payload = bytes(self._buffer[HEADER.size:end])
            del self._buffer[:end]
            try:
                message = _decode_one(kind, payload)
            except ProtocolError as exc:
                self._broken = exc
                raise
            yield message

    def feed_all(self, chunk: bytes) -> list[Message]:
        return list(self.feed(chunk))
