"""AMI framing: text ⇄ messages. Pure: no sockets, no logging.

Asterisk first sends one banner line (`Asterisk Call Manager/10.0.0`); after that every packet is
`Key: Value` lines ending with an empty line. Keys may repeat (`Output`, `Variable`), so a message
keeps its headers in order; `get` returns the first, `getall` every value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Mapping, Sequence, Union

EOL = b"\r\n"
MAX_PACKET = 1 << 20  # a packet larger than 1 MiB means the stream is broken


class AmiProtocolError(ValueError):
    """Malformed AMI input, or an action that cannot be encoded safely."""


@dataclass(frozen=True)
class Banner:
    text: str  # e.g. "Asterisk Call Manager/10.0.0"


@dataclass(frozen=True)
class AmiMessage:
    headers: tuple[tuple[str, str], ...]

    def get(self, key: str, default: str | None = None) -> str | None:
        wanted = key.lower()
        for name, value in self.headers:
            if name.lower() == wanted:
                return value
        return default

    def getall(self, key: str) -> list[str]:
        wanted = key.lower()
        return [value for name, value in self.headers if name.lower() == wanted]

    def as_dict(self) -> dict[str, str]:
        """Headers as a dict (the first value of a repeated key wins)."""
        result: dict[str, str] = {}
        for name, value in self.headers:
            result.setdefault(name, value)
        return result

    @property
    def event(self) -> str | None:
        return self.get("Event")

    @property
    def response(self) -> str | None:
        return self.get("Response")

    @property
    def action_id(self) -> str | None:
        return self.get("ActionID")


Packet = Union[Banner, AmiMessage]


def _check(text: str, what: str) -> str:
    if "\r" in text or "\n" in text:
        raise AmiProtocolError(f"{what} may not contain line breaks")
    return text


def encode_action(name: str, action_id: str, fields: Mapping[str, str | int | Sequence[str]] | None = None) -> bytes:
    """`Action: name`, `ActionID`, then the fields; a list value repeats its key (e.g. `Variable`)."""
    lines = [f"Action: {_check(name, 'action name')}", f"ActionID: {_check(action_id, 'ActionID')}"]
    for key, value in (fields or {}).items():
        _check(key, "field name")
        if ":" in key or not key:
            raise AmiProtocolError(f"bad field name {key!r}")
        values = [value] if isinstance(value, (str, int)) else list(value)
        lines.extend(f"{key}: {_check(str(item), key)}" for item in values)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def decode_packet(block: bytes) -> AmiMessage:
    headers = []
    for raw in block.split(b"\n"):
        line = raw.rstrip(b"\r").decode("utf-8", "replace")
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            # Old `Command` responses put bare output lines in the packet; keep them as Output.
            headers.append(("Output", line))
            continue
        headers.append((name.strip(), value.strip()))
    return AmiMessage(tuple(headers))


class Parser:
    """Incremental parser: `feed(chunk)` yields the banner, then each complete message."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._banner_seen = False

    def feed(self, chunk: bytes) -> Iterator[Packet]:
        self._buffer += chunk
        if not self._banner_seen:
            end = self._buffer.find(b"\n")
            if end < 0:
                self._guard()
                return
            line = bytes(self._buffer[:end]).rstrip(b"\r").decode("utf-8", "replace")
            del self._buffer[: end + 1]
            self._banner_seen = True
            if ":" in line and not line.startswith("Asterisk Call Manager"):
                self._buffer[0:0] = (line + "\r\n").encode()  # no banner: it was a header line
            else:
                yield Banner(line)
        while True:
            end, size = self._packet_end()
            if end < 0:
                self._guard()
                return
            block = bytes(self._buffer[:end])
            del self._buffer[: end + size]
            if block.strip():
                yield decode_packet(block)

    def _packet_end(self) -> tuple[int, int]:
        crlf = self._buffer.find(b"\r\n\r\n")
        lf = self._buffer.find(b"\n\n")
        if crlf >= 0 and (lf < 0 or crlf <= lf):
            return crlf, 4
        return lf, 2

    def _guard(self) -> None:
        if len(self._buffer) > MAX_PACKET:
            raise AmiProtocolError(f"AMI packet larger than {MAX_PACKET} bytes")
