"""Calls over real SIP and RTP for the bench: a tiny calling phone per caller, all in one asyncio process.

Each call has two UDP sockets of its own (SIP and RTP) on 127.0.0.1, the address the test trunk is
identified by, and dials `sip:<number>@<asterisk>`; the INVITE offers G.711 μ-law and telephone
events. What the caller says goes out as one PCMU packet every 20 ms (silence when it says
nothing, like a phone without silence suppression), keys as RFC 4733 events, all paced by one
shared 20 ms timer (`FrameClock`) for every call. What Asterisk sends is decoded to 8 kHz PCM.

A `SipCall` looks to the bench like the AudioSocket connection of a Local channel caller:
`inbound()` yields `Audio` frames until the call ends, `sender.play(pcm)` queues speech, `press(key)`
sends a key, `hangup()` sends BYE.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from bench.rtp import PCMU, RtpStream, from_ulaw, parse_rtp
from bench.sip_messages import Dialog, SipMessage, SipParseError, parse_message, parse_sdp_answer, response, sdp_offer
from telephony.audiosocket.protocol import Audio
from telephony.audiosocket.sender import SILENCE_FRAME, FrameClock, PacedSender

#: SIP over UDP: a request unanswered is sent again after 0.5, 1, 2, 4 s (RFC 3261 timer A, capped)
RETRANSMIT = (0.5, 1.0, 2.0, 4.0, 4.0, 4.0)
DIALLED = "0312345678"
_EOF = object()


class SipCallError(RuntimeError):
    """The call was refused or never answered."""


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, received: Callable[[bytes, Any], None]) -> None:
        self.received = received

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.received(data, addr)


class _RtpWriter:
    """What the paced sender writes (one AudioSocket-framed 20 ms frame per tick), sent as one RTP
    packet: the frame's PCM after its 3-byte header, or a key's event packet in its place."""

    def __init__(self, call: SipCall) -> None:
        self.call = call

    def write(self, frame: bytes) -> None:
        call = self.call
        packet = call.stream.next(None if frame is SILENCE_FRAME else frame[3:])
        if call.rtp is not None and call.remote_rtp is not None:
            call.rtp.sendto(packet, call.remote_rtp)
        if call.keys_sent is not None and not call.stream.keys_pending:
            call.keys_sent.set()

    def is_closing(self) -> bool:
        return self.call.closed.is_set()


class SipCall:
    def __init__(self, dialog: Dialog, asterisk: tuple[str, int], rtp_port: int) -> None:
        self.dialog = dialog
        self.asterisk = asterisk
        self.rtp_port = rtp_port
        self.sip: asyncio.DatagramTransport | None = None
        self.rtp: asyncio.DatagramTransport | None = None
        self.remote_rtp: tuple[str, int] | None = None
        self.stream = RtpStream(random.getrandbits(32), sequence=random.getrandbits(16),
                                timestamp=random.getrandbits(32))
        self.sender = PacedSender(_RtpWriter(self), call_id=dialog.call_id[:8])
        self.closed = asyncio.Event()
        self.keys_sent: asyncio.Event | None = None
        self.hung_up_by_us = False
        self._inbound: asyncio.Queue[object] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        self._answer: asyncio.Future[SipMessage] = loop.create_future()
        self._bye_answered: asyncio.Future[SipMessage] = loop.create_future()
        self._provisional = asyncio.Event()
        self._ack: bytes | None = None
        self._session = random.randrange(10**6, 10**9)

    # -- SIP ----------------------------------------------------------------------------------
    def _offer(self) -> str:
        return sdp_offer(self.dialog.local.split(":")[0], self.rtp_port, session=self._session)

    async def _send_until(self, message: bytes, answered: Callable[[], bool]) -> None:
        """Send a request, and again on UDP's schedule until `answered()`."""
        for wait in RETRANSMIT:
            if answered() or self.sip is None:
                return
            self.sip.sendto(message, self.asterisk)
            await asyncio.sleep(wait)

    async def dial(self, timeout: float) -> None:
        invite = self.dialog.invite(secrets.token_hex(8), self._offer())
        retransmits = asyncio.create_task(self._send_until(invite, lambda: self._provisional.is_set() or self._answer.done()))
        try:
            answer = await asyncio.wait_for(asyncio.shield(self._answer), timeout)
        except TimeoutError:
            raise SipCallError(f"no answer to the INVITE within {timeout:g} s") from None
        finally:
            retransmits.cancel()
        if not 200 <= answer.status < 300:
            raise SipCallError(f"the INVITE was refused: {answer.start}")
        media = parse_sdp_answer(answer.body)
        if PCMU not in media.codecs:
            raise SipCallError(f"the answer kept no PCMU: {media.codecs}")
        if media.event_type is not None:
            self.stream.event_type = media.event_type
        self.remote_rtp = (media.host, media.port)

    def _on_sip(self, data: bytes, addr: Any) -> None:
        try:
            message = parse_message(data)
        except SipParseError:
            return
        if message.header("call-id") != self.dialog.call_id or self.sip is None:
            return
        if message.is_response:
            self._on_response(message)
        elif message.method == "BYE":
            self.sip.sendto(response(message, 200, "OK"), addr)
            self._end()
        elif message.method == "INVITE":  # a re-INVITE: the same media
            self._session += 1
            self.sip.sendto(response(message, 200, "OK", sdp=self._offer(),
                                     contact=f"sip:{self.dialog.caller_id}@{self.dialog.local}"), addr)
        elif message.method != "ACK":
            self.sip.sendto(response(message, 200, "OK"), addr)

    def _on_response(self, message: SipMessage) -> None:
        assert self.sip is not None
        number, method = message.cseq
        if method == "INVITE":
            if message.status < 200:
                self._provisional.set()
                return
            if self._ack is None or message.status >= 300:
                self.dialog.answered(message)
                self._ack = self.dialog.ack(message, secrets.token_hex(8))
            self.sip.sendto(self._ack, self.asterisk)  # a retransmitted 2xx gets the same ACK again
            if not self._answer.done():
                self._answer.set_result(message)
        elif method == "BYE" and message.status >= 200 and not self._bye_answered.done():
            self._bye_answered.set_result(message)

    # -- RTP ----------------------------------------------------------------------------------
    def _on_rtp(self, data: bytes, addr: Any) -> None:
        if self.closed.is_set():
            return
        if len(data) > 12 and data[0] == 0x80 and data[1] & 0x7F == PCMU:  # a plain PCMU packet: most of them
            payload = data[12:]
        else:
            packet = parse_rtp(data)
            if packet is None or packet.payload_type != PCMU:
                return
            payload = packet.payload
        self._inbound.put_nowait(Audio(from_ulaw(payload)))

    # -- the call, as the bench uses it -------------------------------------------------------
    async def inbound(self) -> AsyncIterator[Audio]:
        while True:
            item = await self._inbound.get()
            if item is _EOF:
                self._inbound.put_nowait(_EOF)
                return
            yield item  # type: ignore[misc]

    async def press(self, key: str) -> None:
        """Send one key (100 ms of events and the end packets); returns when its last packet is out,
        or the call has ended."""
        if self.closed.is_set():
            return
        self.keys_sent = asyncio.Event()
        self.stream.press(key)
        try:
            await asyncio.wait_for(self.keys_sent.wait(), 2.0)
        except TimeoutError:
            pass

    async def hangup(self) -> None:
        """BYE, sent again until answered (at most a few seconds), then the call is over."""
        if self.closed.is_set():
            return
        self.hung_up_by_us = True
        self.sender.close()
        if self._answer.done() and 200 <= self._answer.result().status < 300:
            bye = self.dialog.bye(secrets.token_hex(8))
            for wait in RETRANSMIT[:4]:
                if self.sip is None:
                    break
                self.sip.sendto(bye, self.asterisk)
                try:
                    await asyncio.wait_for(asyncio.shield(self._bye_answered), wait)
                    break
                except TimeoutError:
                    continue
        self._end()

    def _end(self) -> None:
        if not self.closed.is_set():
            self.closed.set()
            if self.keys_sent is not None:
                self.keys_sent.set()
            self.sender.close()
            self._inbound.put_nowait(_EOF)

    def release(self) -> None:
        """Close both sockets (after the call has ended, or to give up on it)."""
        self._end()
        for transport in (self.sip, self.rtp):
            if transport is not None:
                transport.close()
        self.sip = self.rtp = None


class SipDialer:
    """Places the bench's calls on the trunk of the Asterisk at `asterisk` (host, SIP port)."""

    def __init__(self, asterisk: tuple[str, int], *, host: str = "127.0.0.1", dialled: str = DIALLED,
                 answer_timeout: float = 60.0) -> None:
        self.asterisk = asterisk
        self.host = host
        self.dialled = dialled
        self.answer_timeout = answer_timeout
        self.clock = FrameClock()

    async def connect(self, caller_id: str) -> SipCall:
        loop = asyncio.get_running_loop()
        holder: list[SipCall] = []
        rtp, _ = await loop.create_datagram_endpoint(
            lambda: _Datagrams(lambda data, addr: holder and holder[0]._on_rtp(data, addr)), local_addr=(self.host, 0))
        sip, _ = await loop.create_datagram_endpoint(
            lambda: _Datagrams(lambda data, addr: holder and holder[0]._on_sip(data, addr)), local_addr=(self.host, 0))
        host, port = self.asterisk
        dialog = Dialog(target=f"sip:{self.dialled}@{host}:{port}",
                        local=f"{self.host}:{sip.get_extra_info('sockname')[1]}", caller_id=caller_id,
                        call_id=f"{uuid.uuid4().hex}@{self.host}", from_tag=secrets.token_hex(6))
        call = SipCall(dialog, self.asterisk, rtp.get_extra_info("sockname")[1])
        call.sip, call.rtp = sip, rtp
        holder.append(call)
        try:
            await call.dial(self.answer_timeout)
        except BaseException:
            call.release()
            raise
        self.clock.add(call.sender)
        return call

    async def close(self) -> None:
        await self.clock.close()
