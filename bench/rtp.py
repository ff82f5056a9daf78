"""RTP for the bench's SIP callers (RFC 3550, G.711 μ-law, RFC 4733 keys): bytes only, no sockets.

`RtpStream` is one caller's outbound stream. It is asked for exactly one packet per 20 ms tick:
audio (PCMU, payload type 0), or, while a key is being pressed, a telephone-event packet in its
place, as a phone does. A key lasts `KEY_TICKS` ticks, all with the timestamp of its first tick and
a growing duration; its end packet is sent three times (RFC 4733 2.5.1.4) and the audio timestamp
goes on from where the clock is.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass

from ivr.speech.audio import ulaw_decode, ulaw_encode

try:  # the C codec is far cheaper per 20 ms frame than numpy's call overhead (Python 3.13 dropped it)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop

    def to_ulaw(pcm: bytes) -> bytes:
        return audioop.lin2ulaw(pcm, 2)

    def from_ulaw(data: bytes) -> bytes:
        return audioop.ulaw2lin(data, 2)
except ImportError:
    to_ulaw, from_ulaw = ulaw_encode, ulaw_decode

PCMU = 0
SAMPLES_PER_TICK = 160  # 20 ms at 8 kHz
KEY_TICKS = 5  # a key sounds 100 ms
KEY_END_REPEATS = 3
KEY_VOLUME = 10  # -10 dBm0
#: RFC 4733 event codes of the keypad
KEY_EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11, "A": 12, "B": 13, "C": 14, "D": 15}
SILENCE_ULAW = to_ulaw(bytes(2 * SAMPLES_PER_TICK))
_HEADER = struct.Struct("!BBHII")


@dataclass(frozen=True)
class RtpPacket:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    marker: bool
    payload: bytes


def rtp_packet(payload_type: int, sequence: int, timestamp: int, ssrc: int, payload: bytes, *,
               marker: bool = False) -> bytes:
    """A version 2 RTP packet without padding, extension or CSRCs."""
    return _HEADER.pack(0x80, (0x80 if marker else 0) | payload_type, sequence & 0xFFFF,
                        timestamp & 0xFFFFFFFF, ssrc) + payload


def parse_rtp(data: bytes) -> RtpPacket | None:
    """The packet in `data`, or None if it is not RTP version 2 (RTCP, STUN, garbage)."""
    if len(data) < _HEADER.size:
        return None
    first, second, sequence, timestamp, ssrc = _HEADER.unpack_from(data)
    if first >> 6 != 2 or 72 <= second & 0x7F <= 76:  # 200-204 with the marker bit: RTCP
        return None
    start = _HEADER.size + 4 * (first & 0x0F)
    if first & 0x10:  # header extension: 4 bytes, then its length in 32-bit words
        if len(data) < start + 4:
            return None
        start += 4 + 4 * struct.unpack_from("!H", data, start + 2)[0]
    end = len(data)
    if first & 0x20 and end > start:  # padding: its length is the last byte
        end -= data[-1]
    if end < start:
        return None
    return RtpPacket(second & 0x7F, sequence, timestamp, ssrc, bool(second & 0x80), data[start:end])


def key_event(key: str, duration: int, *, end: bool = False, volume: int = KEY_VOLUME) -> bytes:
    """The 4-byte RFC 4733 payload: event, E bit and volume, duration in timestamp units."""
    try:
        event = KEY_EVENTS[key.upper()]
    except KeyError:
        raise ValueError(f"not a keypad key: {key!r}") from None
    return struct.pack("!BBH", event, (0x80 if end else 0) | (volume & 0x3F), min(duration, 0xFFFF))


class RtpStream:
    """One outbound stream: `next(pcm)` is the packet for this tick (`pcm` 20 ms of 8 kHz 16-bit audio,
    or None for silence); `press(key)` queues a key; `keys_pending` says whether any is left to send."""

    def __init__(self, ssrc: int, *, sequence: int = 0, timestamp: int = 0, event_type: int = 101) -> None:
        self.ssrc = ssrc
        self.sequence = sequence
        self.timestamp = timestamp
        self.event_type = event_type
        self._keys: deque[str] = deque()
        self._key_ticks = 0  # ticks of the current key sent so far (its end packets included)
        self._key_start = 0
        self._marker = True  # the first packet of a talkspurt

    @property
    def keys_pending(self) -> bool:
        return bool(self._keys)

    def press(self, key: str) -> None:
        key_event(key, 0)  # refuses a key that is not on the keypad now, not at send time
        self._keys.append(key)

    def next(self, pcm: bytes | None) -> bytes:
        packet = self._key_packet() if self._keys else self._audio_packet(pcm)
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.timestamp = (self.timestamp + SAMPLES_PER_TICK) & 0xFFFFFFFF
        return packet

    def _audio_packet(self, pcm: bytes | None) -> bytes:
        payload = SILENCE_ULAW if pcm is None else to_ulaw(pcm)
        marker, self._marker = self._marker, False
        return rtp_packet(PCMU, self.sequence, self.timestamp, self.ssrc, payload, marker=marker)

    def _key_packet(self) -> bytes:
        if self._key_ticks == 0:
            self._key_start = self.timestamp
        self._key_ticks += 1
        ending = self._key_ticks > KEY_TICKS
        duration = SAMPLES_PER_TICK * min(self._key_ticks, KEY_TICKS)
        payload = key_event(self._keys[0], duration, end=ending)
        packet = rtp_packet(self.event_type, self.sequence, self._key_start, self.ssrc, payload,
                            marker=self._key_ticks == 1)
        if self._key_ticks == KEY_TICKS + KEY_END_REPEATS:
            self._keys.popleft()
            self._key_ticks = 0
            self._marker = True  # audio after a key starts a new talkspurt
        return packet
