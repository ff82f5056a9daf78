"""The SIP callers of bench/peak.py: RTP packets, RFC 4733 key events, the SIP messages and SDP, and one
call against a scripted answering side on loopback (no Asterisk)."""

from __future__ import annotations

import asyncio
import struct

import pytest

from bench.rtp import (KEY_END_REPEATS, KEY_TICKS, PCMU, SAMPLES_PER_TICK, SILENCE_ULAW, RtpStream, from_ulaw,
                       key_event, parse_rtp, rtp_packet, to_ulaw)
from bench.sip_caller import SipCallError, SipDialer
from bench.sip_messages import Dialog, parse_message, parse_sdp_answer, response, sdp_offer, tag_of, uri_of

# -- RTP -----------------------------------------------------------------------------------------


def test_rtp_packet_golden_bytes_and_round_trip():
    packet = rtp_packet(0, 0x1234, 0x01020304, 0xCAFEBABE, b"\xff\xfe", marker=True)
    assert packet == bytes.fromhex("80 80 1234 01020304 cafebabe fffe".replace(" ", ""))
    parsed = parse_rtp(packet)
    assert (parsed.payload_type, parsed.sequence, parsed.timestamp, parsed.ssrc, parsed.marker, parsed.payload) == (
        0, 0x1234, 0x01020304, 0xCAFEBABE, True, b"\xff\xfe")


def test_rtp_parse_skips_csrcs_extension_and_padding():
    header = bytes([0x80 | 0x20 | 0x10 | 2, 8]) + struct.pack("!HII", 7, 160, 99)
    csrcs = struct.pack("!II", 1, 2)
    extension = struct.pack("!HH", 0xBEDE, 1) + b"\0\0\0\0"
    packet = header + csrcs + extension + b"abc" + b"\0\0\3"  # 3 bytes of padding, the last says so
    parsed = parse_rtp(packet)
    assert parsed.payload_type == 8 and parsed.payload == b"abc"


@pytest.mark.parametrize("data", [b"", b"\x80\x00", bytes([0x40]) + bytes(11), bytes([0x80, 200]) + bytes(26)])
def test_rtp_parse_refuses_what_is_not_rtp(data):
    assert parse_rtp(data) is None  # too short, too short, version 1, RTCP sender report


def test_ulaw_silence_and_round_trip():
    assert SILENCE_ULAW == b"\xff" * SAMPLES_PER_TICK
    pcm = struct.pack("<4h", 0, 1000, -1000, 30000)
    back = struct.unpack("<4h", from_ulaw(to_ulaw(pcm)))
    assert [abs(a - b) for a, b in zip(back, (0, 1000, -1000, 30000))] < [9, 40, 40, 1100]


@pytest.mark.parametrize("key, code", [("0", 0), ("9", 9), ("*", 10), ("#", 11), ("a", 12), ("D", 15)])
def test_key_event_payload(key, code):
    assert key_event(key, 800) == bytes([code, 10]) + struct.pack("!H", 800)
    assert key_event(key, 800, end=True)[1] == 0x80 | 10


def test_key_event_refuses_other_characters():
    with pytest.raises(ValueError):
        key_event("x", 160)


def test_stream_audio_advances_sequence_and_clock():
    stream = RtpStream(5, sequence=0xFFFF, timestamp=1000)
    first, second = parse_rtp(stream.next(None)), parse_rtp(stream.next(bytes(320)))
    assert (first.sequence, first.timestamp, first.marker, first.payload) == (0xFFFF, 1000, True, SILENCE_ULAW)
    assert (second.sequence, second.timestamp, second.marker) == (0, 1160, False)
    assert len(second.payload) == 160 and first.payload_type == second.payload_type == PCMU


def test_stream_sends_a_key_in_place_of_audio_then_audio_again():
    stream = RtpStream(5, timestamp=0, event_type=101)
    stream.next(None)
    stream.press("#")
    stream.press("1")
    packets = [parse_rtp(stream.next(bytes(320))) for _ in range(2 * (KEY_TICKS + KEY_END_REPEATS) + 1)]
    hash_key, one, after = (packets[:KEY_TICKS + KEY_END_REPEATS], packets[KEY_TICKS + KEY_END_REPEATS:-1],
                            packets[-1])
    assert all(p.payload_type == 101 and p.timestamp == 160 for p in hash_key)  # the key's first tick
    assert [p.marker for p in hash_key] == [True] + [False] * (KEY_TICKS + KEY_END_REPEATS - 1)
    events = [struct.unpack("!BBH", p.payload) for p in hash_key]
    assert [e[0] for e in events] == [11] * len(events)
    assert [e[2] for e in events] == [160, 320, 480, 640, 800] + [800] * KEY_END_REPEATS
    assert [bool(e[1] & 0x80) for e in events] == [False] * KEY_TICKS + [True] * KEY_END_REPEATS
    assert one[0].timestamp == 160 * (1 + KEY_TICKS + KEY_END_REPEATS) and one[0].payload[0] == 1
    assert not stream.keys_pending
    assert (after.payload_type, after.marker) == (PCMU, True)
    assert after.timestamp == 160 * (1 + 2 * (KEY_TICKS + KEY_END_REPEATS))
    assert [p.sequence for p in packets] == list(range(1, len(packets) + 1))


# -- SIP and SDP ---------------------------------------------------------------------------------
def dialog() -> Dialog:
    return Dialog(target="sip:0312345678@127.0.0.1:5060", local="127.0.0.1:40000", caller_id="09000000001",
                  call_id="abc@127.0.0.1", from_tag="f1")


def test_invite_carries_the_offer_and_parses_back():
    offer = sdp_offer("127.0.0.1", 41000, session=7)
    invite = parse_message(dialog().invite("b1", offer))
    assert invite.start == "INVITE sip:0312345678@127.0.0.1:5060 SIP/2.0"
    assert invite.method == "INVITE" and invite.cseq == (1, "INVITE")
    assert invite.header("via") == "SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKb1;rport"
    assert tag_of(invite.header("from")) == "f1" and "<sip:09000000001@127.0.0.1>" in invite.header("from")
    assert invite.header("content-length") == str(len(offer)) and invite.body == offer
    assert "m=audio 41000 RTP/AVP 0 101" in offer and "a=rtpmap:101 telephone-event/8000" in offer


def test_ack_of_a_2xx_goes_to_the_contact_in_a_new_transaction_and_bye_follows():
    d = dialog()
    d.invite("b1", "")
    ok = parse_message(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKb1\r\n"
                       b"From: <sip:x@127.0.0.1>;tag=f1\r\nTo: <sip:0312345678@127.0.0.1>;tag=as9\r\n"
                       b"Call-ID: abc@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:127.0.0.1:5060;transport=udp>\r\n"
                       b"Content-Length: 0\r\n\r\n")
    d.answered(ok)
    ack = parse_message(d.ack(ok, "b2"))
    assert ack.start == "ACK sip:127.0.0.1:5060;transport=udp SIP/2.0" and ack.cseq == (1, "ACK")
    assert "branch=z9hG4bKb2" in ack.header("via") and tag_of(ack.header("to")) == "as9"
    bye = parse_message(d.bye("b3"))
    assert bye.start.startswith("BYE sip:127.0.0.1:5060;transport=udp ") and bye.cseq == (2, "BYE")
    assert tag_of(bye.header("to")) == "as9" and tag_of(bye.header("from")) == "f1"


def test_ack_of_a_refusal_reuses_the_invite_branch_and_uri():
    d = dialog()
    d.invite("b1", "")
    busy = parse_message(b"SIP/2.0 486 Busy Here\r\nTo: <sip:0312345678@127.0.0.1>;tag=t\r\nCSeq: 1 INVITE\r\n"
                         b"Call-ID: abc@127.0.0.1\r\n\r\n")
    ack = parse_message(d.ack(busy, "unused"))
    assert ack.start == "ACK sip:0312345678@127.0.0.1:5060 SIP/2.0" and "branch=z9hG4bKb1" in ack.header("via")


def test_parse_compact_and_folded_headers():
    message = parse_message(b"BYE sip:a@b SIP/2.0\r\ni: c1\r\nv: SIP/2.0/UDP h1\r\nVia: SIP/2.0/UDP h2\r\n"
                            b"f: <sip:a@b>;tag=x\r\nt: <sip:c@d>\r\n  ;tag=y\r\nCSeq: 3 BYE\r\n\r\n")
    assert message.method == "BYE" and message.header("call-id") == "c1"
    assert message.all("via") == ["SIP/2.0/UDP h1", "SIP/2.0/UDP h2"]
    assert tag_of(message.header("to")) == "y" and uri_of(message.header("from")) == "sip:a@b"
    answer = parse_message(response(message, 200, "OK"))
    assert answer.status == 200 and answer.all("via") == message.all("via") and answer.cseq == (3, "BYE")


def test_sdp_answer_media_address_and_event_type():
    sdp = ("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=Asterisk\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
           "m=audio 12000 RTP/AVP 0 96\r\nc=IN IP4 127.0.0.1\r\na=rtpmap:0 PCMU/8000\r\n"
           "a=rtpmap:96 telephone-event/8000\r\n")
    answer = parse_sdp_answer(sdp)
    assert (answer.host, answer.port, answer.codecs, answer.event_type) == ("127.0.0.1", 12000, (0, 96), 96)
    plain = parse_sdp_answer(sdp.replace("c=IN IP4 127.0.0.1\r\n", "").replace("a=rtpmap:96 telephone-event/8000\r\n", ""))
    assert (plain.host, plain.event_type) == ("10.0.0.1", None)


# -- one call on loopback against a scripted answering side --------------------------------------
class Callee(asyncio.DatagramProtocol):
    """Answers an INVITE (100, then 200 with SDP), records ACKs, RTP and BYEs; can hang up."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.requests: list = []
        self.rtp: list = []
        self.caller = None
        self.invite = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data, addr) -> None:
        message = parse_message(data)
        self.requests.append(message)
        if message.method == "INVITE" and not message.is_response:
            self.invite, self.caller = message, addr
            self.transport.sendto(response(message, 100, "Trying"), addr)
            if self.refuse:
                self.transport.sendto(response(message, 503, "Service Unavailable"), addr)
                return
            port = self.transport.get_extra_info("sockname")[1] + 1
            sdp = f"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio {port} RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
            ok = response(message, 200, "OK", sdp=sdp, contact="sip:s@127.0.0.1")
            ok = ok.replace(b"\r\nCall-ID", b";tag=callee\r\nCall-ID", 1)  # the To of the answer gets a tag
            self.transport.sendto(ok, addr)
        elif message.method == "BYE" and not message.is_response:
            self.transport.sendto(response(message, 200, "OK"), addr)

    def bye(self) -> None:
        self.transport.sendto((f"BYE sip:{self.invite.header('contact')[5:-1]} SIP/2.0\r\n"
                               f"Via: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKx\r\nFrom: {self.invite.header('to')};tag=callee\r\n"
                               f"To: {self.invite.header('from')}\r\nCall-ID: {self.invite.header('call-id')}\r\n"
                               "CSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n").encode(), self.caller)


class Recorder(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.packets: list = []

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data, addr) -> None:
        self.packets.append((parse_rtp(data), addr))


async def _callee(refuse: bool = False):
    loop = asyncio.get_running_loop()
    for _ in range(20):  # an even port whose next is free, for the callee's RTP
        sip, callee = await loop.create_datagram_endpoint(lambda: Callee(refuse), local_addr=("127.0.0.1", 0))
        port = sip.get_extra_info("sockname")[1]
        try:
            rtp, recorder = await loop.create_datagram_endpoint(Recorder, local_addr=("127.0.0.1", port + 1))
            return sip, callee, rtp, recorder, port
        except OSError:
            sip.close()
    raise RuntimeError("no free pair of ports")


def test_a_call_on_loopback_audio_keys_and_the_callee_hanging_up():
    async def scenario():
        sip, callee, rtp, recorder, port = await _callee()
        dialer = SipDialer(("127.0.0.1", port), answer_timeout=5)
        try:
            call = await dialer.connect("09000000001")
            assert callee.invite.header("from").startswith('"Peak" <sip:09000000001@127.0.0.1>')
            ack = next(m for m in callee.requests if m.start.startswith("ACK "))
            assert ack.start == "ACK sip:s@127.0.0.1 SIP/2.0" and tag_of(ack.header("to")) == "callee"
            # what the callee sends comes out as 8 kHz PCM
            await asyncio.sleep(0.1)
            caller_rtp = recorder.packets[0][1]
            rtp.sendto(rtp_packet(0, 1, 0, 9, to_ulaw(struct.pack("<160h", *([1000] * 160)))), caller_rtp)
            rtp.sendto(rtp_packet(101, 2, 0, 9, key_event("1", 160)), caller_rtp)  # not audio: left out
            heard = []
            reader = asyncio.create_task(_collect(call, heard))
            assert await call.sender.play(bytes(640)).done()
            await call.press("5")
            callee.bye()
            await asyncio.wait_for(reader, 2)
            assert len(heard) == 1 and len(heard[0]) == 320 and abs(struct.unpack_from("<h", heard[0])[0] - 1000) < 40
            kinds = [p.payload_type for p, _ in recorder.packets]
            assert PCMU in kinds and 101 in kinds and kinds[0] == PCMU
            events = [p.payload for p, _ in recorder.packets if p.payload_type == 101]
            assert len(events) == KEY_TICKS + KEY_END_REPEATS and all(e[0] == 5 for e in events)
            assert call.closed.is_set()
            await call.hangup()  # after the callee's BYE: nothing more is sent
            assert not any(m.start.startswith("BYE ") for m in callee.requests)
            call.release()
        finally:
            await dialer.close()
            sip.close()
            rtp.close()

    asyncio.run(scenario())


async def _collect(call, heard):
    async for message in call.inbound():
        heard.append(message.pcm)


def test_the_caller_hanging_up_sends_bye_and_a_refusal_raises():
    async def scenario():
        sip, callee, rtp, _, port = await _callee()
        dialer = SipDialer(("127.0.0.1", port), answer_timeout=5)
        try:
            call = await dialer.connect("09000000002")
            await call.hangup()
            bye = next(m for m in callee.requests if m.start.startswith("BYE "))
            assert bye.cseq == (2, "BYE") and call.closed.is_set() and call.hung_up_by_us
            call.release()
        finally:
            sip.close()
            rtp.close()
        sip, callee, rtp, _, port = await _callee(refuse=True)
        try:
            with pytest.raises(SipCallError, match="503"):
                await SipDialer(("127.0.0.1", port), answer_timeout=5).connect("09000000003")
            assert any(m.start.startswith("ACK sip:0312345678@") for m in callee.requests)
        finally:
            await dialer.close()
            sip.close()
            rtp.close()

    asyncio.run(scenario())
