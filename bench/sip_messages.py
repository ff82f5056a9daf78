"""SIP for the bench's callers: the few messages a calling phone needs (RFC 3261 over UDP), text only.

A caller sends INVITE with an SDP offer (PCMU and telephone-event), ACKs the answer, answers the
requests Asterisk sends in the dialog (BYE, a re-INVITE, OPTIONS) and ends with BYE. Building and
parsing are apart from the sockets (`bench/sip_caller.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: compact header names (RFC 3261 7.3.3) and the full ones they stand for
COMPACT = {"i": "call-id", "f": "from", "t": "to", "v": "via", "m": "contact", "l": "content-length",
           "c": "content-type", "k": "supported"}
USER_AGENT = "madoguchi-bench"


class SipParseError(ValueError):
    """Not a SIP message."""


@dataclass(frozen=True)
class SipMessage:
    start: str  # "SIP/2.0 200 OK" or "BYE sip:... SIP/2.0"
    headers: tuple[tuple[str, str], ...]  # (lower-case full name, value), in order
    body: str = ""

    @property
    def is_response(self) -> bool:
        return self.start.startswith("SIP/2.0 ")

    @property
    def status(self) -> int:
        return int(self.start.split()[1]) if self.is_response else 0

    @property
    def method(self) -> str:
        return self.start.split()[0] if not self.is_response else self.cseq[1]

    @property
    def cseq(self) -> tuple[int, str]:
        number, _, method = self.header("cseq").partition(" ")
        return int(number or 0), method.strip()

    def header(self, name: str) -> str:
        return next((value for key, value in self.headers if key == name), "")

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]


def parse_message(data: bytes) -> SipMessage:
    text = data.decode("utf-8", "replace")
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    start = lines[0].strip()
    if not (start.startswith("SIP/2.0 ") or start.endswith(" SIP/2.0")):
        raise SipParseError(f"not a SIP start line: {start[:60]!r}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # a folded line continues the header before it
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        if not colon:
            continue
        name = name.strip().lower()
        headers.append((COMPACT.get(name, name), value.strip()))
    return SipMessage(start, tuple(headers), body)


def tag_of(value: str) -> str:
    """The tag parameter of a From or To value."""
    match = re.search(r";\s*tag=([^;\s>]+)", value.rsplit(">", 1)[-1] if ">" in value else value)
    return match.group(1) if match else ""


def uri_of(value: str) -> str:
    """The URI inside a Contact (or From, To) value."""
    match = re.search(r"<([^>]+)>", value)
    return match.group(1) if match else value.split(";", 1)[0].strip()


def _message(start: str, headers: list[tuple[str, str]], body: str = "", content_type: str = "") -> bytes:
    lines = [start, *(f"{name}: {value}" for name, value in headers)]
    if body:
        lines.append(f"Content-Type: {content_type}")
    lines.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


@dataclass
class Dialog:
    """One call's SIP state on the calling side."""

    target: str  # the Request-URI of the INVITE: sip:number@host:port
    local: str  # our host:port for SIP
    caller_id: str
    call_id: str
    from_tag: str
    to_tag: str = ""
    remote_target: str = ""  # the Contact of the answer: where in-dialog requests go
    cseq: int = 1
    branches: dict[int, str] = field(default_factory=dict)  # CSeq -> the Via branch of our request

    def _via(self, branch: str) -> str:
        return f"SIP/2.0/UDP {self.local};branch=z9hG4bK{branch};rport"

    def _from(self) -> str:
        return f'"Peak" <sip:{self.caller_id}@{self.local.split(":")[0]}>;tag={self.from_tag}'

    def _to(self) -> str:
        return f"<{self.target}>" + (f";tag={self.to_tag}" if self.to_tag else "")

    def invite(self, branch: str, sdp: str) -> bytes:
        self.branches[self.cseq] = branch
        return _message(f"INVITE {self.target} SIP/2.0", [
            ("Via", self._via(branch)), ("Max-Forwards", "70"), ("From", self._from()), ("To", self._to()),
            ("Call-ID", self.call_id), ("CSeq", f"{self.cseq} INVITE"),
            ("Contact", f"<sip:{self.caller_id}@{self.local}>"), ("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS"),
            ("User-Agent", USER_AGENT)], sdp, "application/sdp")

    def answered(self, response: SipMessage) -> None:
        """Take the callee's tag and contact from a response to the INVITE."""
        self.to_tag = self.to_tag or tag_of(response.header("to"))
        if contact := response.header("contact"):
            self.remote_target = uri_of(contact)

    def ack(self, response: SipMessage, branch: str) -> bytes:
        """ACK a final response to the INVITE: a 2xx in a new transaction to the remote target; any
        other on the INVITE's own branch and Request-URI (RFC 3261 17.1.1.3)."""
        number = response.cseq[0]
        success = 200 <= response.status < 300
        uri = (self.remote_target or self.target) if success else self.target
        via_branch = branch if success else self.branches.get(number, branch)
        to = response.header("to") or self._to()
        return _message(f"ACK {uri} SIP/2.0", [
            ("Via", self._via(via_branch)), ("Max-Forwards", "70"), ("From", self._from()), ("To", to),
            ("Call-ID", self.call_id), ("CSeq", f"{number} ACK"), ("User-Agent", USER_AGENT)])

    def bye(self, branch: str) -> bytes:
        self.cseq += 1
        self.branches[self.cseq] = branch
        return _message(f"BYE {self.remote_target or self.target} SIP/2.0", [
            ("Via", self._via(branch)), ("Max-Forwards", "70"), ("From", self._from()), ("To", self._to()),
            ("Call-ID", self.call_id), ("CSeq", f"{self.cseq} BYE"), ("User-Agent", USER_AGENT)])


def response(request: SipMessage, status: int, reason: str, *, sdp: str = "", contact: str = "") -> bytes:
    """Our answer to a request Asterisk sent: its Via, From, To, Call-ID and CSeq copied."""
    headers = [("Via", via) for via in request.all("via")]
    headers += [("From", request.header("from")), ("To", request.header("to")),
                ("Call-ID", request.header("call-id")), ("CSeq", request.header("cseq"))]
    if contact:
        headers.append(("Contact", f"<{contact}>"))
    headers.append(("User-Agent", USER_AGENT))
    return _message(f"SIP/2.0 {status} {reason}", headers, sdp, "application/sdp")


def sdp_offer(host: str, rtp_port: int, *, session: int, event_type: int = 101) -> str:
    """G.711 μ-law and telephone events, 20 ms packets, both directions."""
    lines = ["v=0", f"o=- {session} {session} IN IP4 {host}", f"s={USER_AGENT}", f"c=IN IP4 {host}", "t=0 0",
             f"m=audio {rtp_port} RTP/AVP 0 {event_type}", "a=rtpmap:0 PCMU/8000",
             f"a=rtpmap:{event_type} telephone-event/8000", f"a=fmtp:{event_type} 0-16", "a=ptime:20", "a=sendrecv"]
    return "\r\n".join(lines) + "\r\n"


@dataclass(frozen=True)
class MediaAnswer:
    host: str
    port: int
    codecs: tuple[int, ...]  # payload types on the m= line, in the answer's order
    event_type: int | None  # telephone-event's payload type, if the answer kept it


def parse_sdp_answer(sdp: str) -> MediaAnswer:
    """Where to send RTP, and with which payload types (the audio stream's c= before the session's)."""
    session_host, media_host, port, codecs, event_type = "", "", 0, (), None
    in_audio = False
    for line in sdp.replace("\r\n", "\n").split("\n"):
        kind, _, value = line.strip().partition("=")
        if kind == "m":
            parts = value.split()
            in_audio = parts[:1] == ["audio"]
            if in_audio and not port:
                port, codecs = int(parts[1]), tuple(int(p) for p in parts[3:] if p.isdigit())
        elif kind == "c":
            host = value.split()[-1].split("/")[0]
            if in_audio:
                media_host = media_host or host
            elif not port:
                session_host = host
        elif kind == "a" and in_audio and value.lower().startswith("rtpmap:"):
            number, _, name = value[len("rtpmap:"):].partition(" ")
            if name.lower().startswith("telephone-event/8000"):
                event_type = int(number)
    if not port:
        raise SipParseError("the SDP answer has no audio stream")
    return MediaAnswer(media_host or session_host, port, codecs, event_type)
