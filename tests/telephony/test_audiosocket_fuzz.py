"""Fuzzing the AudioSocket server over loopback TCP: whatever a peer sends, in whatever pieces (down
to one byte per write), the server hands the handler exactly the messages a reference decoder
reads, then either a clean end or one `ProtocolError` that says what was wrong; it never crashes,
never keeps a call or a buffer around, and serves the next call. The framing alone is fuzzed in
test_audiosocket_protocol.py; here it is the real server, its tasks and its sockets.
"""

from __future__ import annotations

import asyncio
import re
import socket
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telephony.audiosocket.protocol import DEFAULT_MAX_AUDIO, HEADER, Decoder, Hangup, ProtocolError, Uuid, encode
from telephony.audiosocket.server import AudioSocketServer, CallConnection
from tests.fixtures.waiting import until
from tests.telephony.test_audiosocket_protocol import valid_messages

CALL = uuid.UUID("0b7f5a4e-8f0e-4a57-9a43-6c1c5d0e2f11")
#: What a ProtocolError says: the kind byte, a length or the payload at fault, never a bare failure.
CLEAR_ERROR = re.compile(r"kind 0x[0-9a-f]{2}|payload|odd length|bytes")

#: A malformed tail: random bytes, or a header that is wrong in one known way.
malformed = st.one_of(
    st.binary(min_size=1, max_size=24),
    st.sampled_from([b"\x07\x00\x00", b"\x10\xff\xff", b"\x10\x00\x03\x00\x00\x00", b"\x03\x00\x01x",
                     b"\x01\x00\x04" + bytes(4), b"\x00\x00\x05", b"\x03\x00\x02"]),
)
#: How the bytes travel: one byte per write (each its own TCP segment), or cut at random points.
delivery = st.one_of(st.just("bytes"), st.lists(st.integers(1, 64), min_size=1, max_size=8))


def reference(stream: bytes) -> tuple[list, ProtocolError | None]:
    """What a fresh decoder reads from the whole stream: the messages, then the error if any."""
    decoder, got = Decoder(), []
    try:
        for message in decoder.feed(stream):
            got.append(message)
    except ProtocolError as error:
        return got, error
    return got, None


def pieces(stream: bytes, how) -> list[bytes]:
    if how == "bytes":
        return [stream[i:i + 1] for i in range(len(stream))]
    out, at, sizes = [], 0, list(how)
    while at < len(stream):
        size = sizes[len(out) % len(sizes)]
        out.append(stream[at:at + size])
        at += size
    return out


async def send(port: int, parts: list[bytes]) -> bytes:
    """Write `parts` one write and one drain each, close our side, read until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    heard = b""
    try:
        for part in parts:
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(0)
        writer.write_eof()
        async with asyncio.timeout(5):
            while chunk := await reader.read(65536):
                heard += chunk
    except (ConnectionError, OSError):
        pass  # the server may close on bad data before we finish writing
    finally:
        writer.close()
    return heard


class Recorder:
    """A handler that reads every inbound message and keeps what it saw."""

    def __init__(self) -> None:
        self.calls: list[tuple[uuid.UUID, list, ProtocolError | None]] = []

    async def __call__(self, conn: CallConnection) -> None:
        got, error = [], None
        try:
            async for message in conn.inbound():
                got.append(message)
        except ProtocolError as exc:
            error = exc
        self.calls.append((conn.uuid, got, error))


async def until_idle(server: AudioSocketServer) -> None:
    await until(lambda: server.active_calls == 0, "no call left on the server", timeout=5, interval=0.005)


def run_one(stream: bytes, how) -> tuple[Recorder, AudioSocketServer, bytes]:
    async def scenario():
        recorder = Recorder()
        server = AudioSocketServer(recorder, "127.0.0.1", 0, uuid_timeout=2, hangup_grace=2)
        await server.start()
        try:
            heard = await send(server.port, pieces(stream, how))
            await until_idle(server)
            assert server.listening and server.handler_errors == 0
            return recorder, server, heard
        finally:
            await server.close()

    return asyncio.run(scenario())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(valid_messages, max_size=6), st.one_of(st.just(b""), malformed), delivery)
def test_fuzz_a_call_gets_the_messages_then_a_clean_end_or_one_clear_error(messages, tail, how):
    stream = encode(Uuid(CALL), to_asterisk=False) + b"".join(encode(m, to_asterisk=False) for m in messages) + tail
    expected, error = reference(stream)
    recorder, _, heard = run_one(stream, how)
    assert len(recorder.calls) == 1, "the call reached the handler once"
    call_uuid, got, raised = recorder.calls[0]
    assert call_uuid == CALL and got == expected[1:]
    if error is None:
        assert raised is None
    else:
        assert isinstance(raised, ProtocolError) and str(raised) == str(error)
        assert CLEAR_ERROR.search(str(raised)), str(raised)
    Decoder().feed_all(heard)  # what the server sent back is well-formed AudioSocket
    assert all(m.__class__.__name__ in ("Audio", "Hangup") for m in Decoder().feed_all(heard))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=48), delivery)
def test_fuzz_a_connection_that_does_not_open_with_a_uuid_never_reaches_the_handler(stream, how):
    expected, _ = reference(stream)
    opens = bool(expected) and isinstance(expected[0], Uuid)
    recorder, server, _ = run_one(stream, how)
    assert len(recorder.calls) == (1 if opens else 0)
    assert server.calls_total == (1 if opens else 0)


#: An audio frame of any announced length, sent whole: past the limit it must be refused, not kept.
any_length_audio = st.integers(0, 0xFFFF).map(lambda n: b"\x10" + n.to_bytes(2, "big") + bytes(n))


@settings(max_examples=200, deadline=None)
@given(st.lists(valid_messages, max_size=6), st.one_of(st.just(b""), malformed, any_length_audio))
def test_fuzz_byte_by_byte_the_decoder_never_buffers_more_than_one_frame(messages, tail):
    """Nothing grows: at every byte the decoder holds at most one announced message (the first
    bytes one at a time, the rest of a long stream in 499-byte pieces)."""
    stream = b"".join(encode(m, to_asterisk=False) for m in messages) + tail
    cuts = [*range(min(len(stream), 600)), *range(600, len(stream), 499), len(stream)]
    decoder = Decoder()
    try:
        for start, end in zip(cuts, cuts[1:]):
            decoder.feed_all(stream[start:end])
            assert decoder.pending < HEADER.size + DEFAULT_MAX_AUDIO
    except ProtocolError:
        pass


def test_after_a_burst_of_bad_peers_the_server_still_serves_a_call():
    """Garbage, a slow half-sent UUID and an oversized frame leave no call, task or socket behind."""
    async def scenario():
        recorder = Recorder()
        server = AudioSocketServer(recorder, "127.0.0.1", 0, uuid_timeout=0.5, hangup_grace=1)
        await server.start()
        before = len(asyncio.all_tasks())
        try:
            uuid_wire = encode(Uuid(CALL), to_asterisk=False)
            bad = [[b"\xff" * 4096], [b"\x07\x00\x00"], [uuid_wire, b"\x10\xff\xff"], [uuid_wire[:5]],
                   [uuid_wire, b"\x10" + (DEFAULT_MAX_AUDIO + 2).to_bytes(2, "big")]]
            await asyncio.gather(*(send(server.port, parts) for parts in bad))
            # a peer that trickles a UUID slower than uuid_timeout is refused, not waited for
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            try:
                for byte in uuid_wire[:6]:
                    writer.write(bytes([byte]))
                    await asyncio.sleep(0.15)
                async with asyncio.timeout(2):
                    assert await reader.read() == b""
            except ConnectionError:
                pass  # refused while we were still trickling
            assert server.calls_total == 2
            writer.close()
            await until_idle(server)
            assert len(asyncio.all_tasks()) == before, "a refused or broken call left a task behind"
            assert [error is not None for _, _, error in recorder.calls] == [True, True]
            heard = await send(server.port, [uuid_wire, encode(Hangup(), to_asterisk=False)])
            await until_idle(server)
            assert recorder.calls[-1][1:] == ([Hangup()], None)
            assert server.listening and server.handler_errors == 0 and heard
        finally:
            await server.close()

    asyncio.run(scenario())
