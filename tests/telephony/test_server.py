"""The AudioSocket server's per-call lifecycle, driven over loopback TCP by a raw client that speaks
Asterisk's side of the protocol (the real-Asterisk behaviour is in test_asterisk_calls.py)."""

from __future__ import annotations

import asyncio
import logging
import uuid

from telephony.audiosocket.protocol import Audio, Decoder, Dtmf, Hangup, Uuid, encode
from telephony.audiosocket.server import AudioSocketServer, CallConnection
from tests.fixtures.waiting import until

CALL = uuid.UUID("a5ec9ef7-d107-440d-93b9-8399ed6d7e81")


def wire(*messages) -> bytes:
    return b"".join(encode(m, to_asterisk=False) for m in messages)


async def connect(server: AudioSocketServer, first: bytes = wire(Uuid(CALL))):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(first)
    await writer.drain()
    return reader, writer


async def read_messages(reader: asyncio.StreamReader, until) -> list:
    decoder, got = Decoder(), []
    async with asyncio.timeout(5):
        while not until(got):
            chunk = await reader.read(4096)
            if not chunk:
                break
            got.extend(decoder.feed(chunk))
    return got


def test_handler_gets_uuid_messages_and_the_caller_hears_silence_then_speech():
    async def scenario():
        seen: list = []
        done = asyncio.Event()

        async def handler(conn: CallConnection) -> None:
            seen.append(conn.uuid)
            async for message in conn.inbound():
                seen.append(message)
                if isinstance(message, Dtmf):
                    await conn.sender.play(b"\x01\x00" * 160).done()
                    await conn.hangup()
            done.set()

        server = AudioSocketServer(handler, "127.0.0.1", 0)
        await server.start()
        reader, writer = await connect(server, wire(Uuid(CALL), Audio(bytes(320))))
        writer.write(wire(Dtmf("7")))
        heard = await read_messages(reader, lambda got: got and isinstance(got[-1], Hangup))
        await asyncio.wait_for(done.wait(), 5)
        writer.close()
        await server.close()
        return seen, heard

    seen, heard = asyncio.run(scenario())
    assert seen == [CALL, Audio(bytes(320)), Dtmf("7")]
    assert isinstance(heard[-1], Hangup)
    assert Audio(b"\x01\x00" * 160) in heard and heard[0] == Audio(bytes(320))  # silence before speech


def test_caller_hang_up_ends_inbound_and_unfinished_playback():
    async def scenario():
        result = {}

        async def handler(conn: CallConnection) -> None:
            playback = conn.sender.play(bytes(320 * 500))  # 10 s
            result["messages"] = [m async for m in conn.inbound()]
            result["played"] = await playback.done()

        server = AudioSocketServer(handler, "127.0.0.1", 0)
        await server.start()
        _, writer = await connect(server)
        await until(lambda: server.active_calls, "the call reached the handler")
        writer.close()  # Asterisk never sends hangup: it just closes
        await until(lambda: server.calls_total and server.active_calls == 0, "the call ended on the server")
        active = server.active_calls
        await server.close()
        return result, active

    result, active = asyncio.run(scenario())
    assert result == {"messages": [], "played": False} and active == 0


def test_handler_error_is_logged_once_and_other_calls_go_on(caplog):
    async def scenario():
        calls = []

        async def handler(conn: CallConnection) -> None:
            calls.append(conn.uuid)
            if len(calls) == 1:
                raise RuntimeError("boom")
            await conn.hangup()

        server = AudioSocketServer(handler, "127.0.0.1", 0)
        await server.start()
        first_reader, _ = await connect(server)
        leftover = await asyncio.wait_for(first_reader.read(), 5)  # the failing call is closed (EOF)
        assert all(isinstance(m, Audio) for m in Decoder().feed(leftover))
        second_reader, _ = await connect(server, wire(Uuid(uuid.UUID(int=2))))
        heard = await read_messages(second_reader, lambda got: got and isinstance(got[-1], Hangup))
        await server.close()
        return calls, heard, server.handler_errors

    with caplog.at_level(logging.ERROR, logger="telephony.audiosocket.server"):
        calls, heard, errors = asyncio.run(scenario())
    assert len(calls) == 2 and errors == 1 and isinstance(heard[-1], Hangup)
    failures = [r for r in caplog.records if "handler failed" in r.getMessage()]
    assert len(failures) == 1 and CALL.hex[:8] in failures[0].getMessage().replace("-", "")


def test_bad_first_message_or_garbage_is_refused_without_hurting_the_server():
    async def scenario():
        handled = []

        async def handler(conn: CallConnection) -> None:
            handled.append(conn.uuid)
            async for _ in conn.inbound():
                pass

        server = AudioSocketServer(handler, "127.0.0.1", 0, uuid_timeout=1)
        await server.start()
        r1, _ = await connect(server, wire(Audio(bytes(4))))          # no UUID first
        r2, _ = await connect(server, b"\x07\x00\x00")                 # unknown kind
        r3, w3 = await connect(server)                                 # good call, then garbage
        w3.write(b"\x10\xff\xff")
        closed = [await r.read() for r in (r1, r2, r3)]
        await server.close()
        return handled, closed, server.listening

    handled, closed, listening = asyncio.run(scenario())
    assert handled == [CALL] and all(data == b"" or data.startswith(b"\x10") for data in closed)
    assert not listening


def test_reuse_port_lets_two_servers_share_one_port_and_is_off_by_default():
    async def scenario():
        handled: list[str] = []

        def handler_for(name: str):
            async def handler(conn: CallConnection) -> None:
                handled.append(name)
                await conn.hangup()
            return handler

        first = AudioSocketServer(handler_for("first"), "127.0.0.1", 0, reuse_port=True)
        await first.start()
        second = AudioSocketServer(handler_for("second"), "127.0.0.1", first.port, reuse_port=True)
        plain = AudioSocketServer(handler_for("plain"), "127.0.0.1", first.port)
        try:
            await second.start()
            assert first.listening and second.listening and second.port == first.port
            try:
                await plain.start()
            except OSError:
                pass
            else:
                raise AssertionError("a server without reuse_port must not share a busy port")
            for _ in range(8):
                reader, writer = await connect(first)
                assert any(isinstance(m, Hangup) for m in await read_messages(
                    reader, lambda got: any(isinstance(m, Hangup) for m in got)))
                writer.close()
            assert len(handled) == 8 and set(handled) <= {"first", "second"}
        finally:
            await first.close()
            await second.close()
            await plain.close()

    asyncio.run(scenario())


def test_a_peer_faster_than_the_handler_is_back_pressured_and_loses_nothing():
    """Inbound messages wait in a bounded queue; when it is full the server stops reading the socket
    (TCP pushes back on the peer) instead of growing memory, and nothing is dropped."""
    from telephony.audiosocket.server import MAX_INBOUND

    sent = MAX_INBOUND * 6

    async def scenario():
        reading = asyncio.Event()
        conns: list[CallConnection] = []
        got: list = []

        async def handler(conn: CallConnection) -> None:
            conns.append(conn)
            await reading.wait()
            async for message in conn.inbound():
                got.append(message)

        server = AudioSocketServer(handler, "127.0.0.1", 0)
        await server.start()
        reader, writer = await connect(server)
        hearing = asyncio.create_task(reader.read())  # the caller takes the server's silence frames
        for i in range(sent):
            writer.write(wire(Dtmf(str(i % 10)), Audio(bytes(320))))
        await asyncio.sleep(0.5)  # the server has read what it is going to read
        backlog = conns[0]._inbound.qsize()
        reading.set()
        await writer.drain()
        writer.write_eof()  # the caller hangs up once everything is sent
        await asyncio.wait_for(hearing, 10)
        await until(lambda: server.active_calls == 0, "the call ended on the server")
        await server.close()
        return backlog, got

    backlog, got = asyncio.run(scenario())
    assert backlog <= MAX_INBOUND
    assert [m.digit for m in got if isinstance(m, Dtmf)] == [str(i % 10) for i in range(sent)]
    assert sum(isinstance(m, Audio) for m in got) == sent


def test_calls_beyond_max_calls_get_a_hangup_and_never_reach_the_handler():
    async def scenario():
        release = asyncio.Event()
        handled: list[uuid.UUID] = []

        async def handler(conn: CallConnection) -> None:
            handled.append(conn.uuid)
            await release.wait()
            await conn.hangup()

        server = AudioSocketServer(handler, "127.0.0.1", 0, max_calls=1)
        await server.start()
        r1, w1 = await connect(server)
        await until(lambda: handled, "the first call reached the handler", timeout=5)
        r2, w2 = await connect(server, wire(Uuid(uuid.uuid4())))
        refused = await read_messages(r2, lambda got: any(isinstance(m, Hangup) for m in got))
        closed = await asyncio.wait_for(r2.read(), 5)
        release.set()
        await read_messages(r1, lambda got: any(isinstance(m, Hangup) for m in got))
        await until(lambda: server.active_calls == 0, "the first call ended", timeout=5)
        r3, w3 = await connect(server, wire(Uuid(uuid.uuid4())))
        await until(lambda: len(handled) == 2, "the third call reached the handler", timeout=5)
        for writer in (w1, w2, w3):
            writer.close()
        await server.close()
        return handled, refused, closed, server.calls_refused

    handled, refused, closed, calls_refused = asyncio.run(scenario())
    assert handled[0] == CALL and len(handled) == 2  # the second call never reached the handler
    assert [type(m) for m in refused] == [Hangup] and closed == b""
    assert calls_refused == 1
