"""The AudioSocket server's per-call lifecycle, driven over loopback TCP by a raw client that speaks
Asterisk's side of the protocol (the real-Asterisk behaviour is in test_asterisk_calls.py)."""

from __future__ import annotations

import asyncio
import logging
import uuid

from telephony.audiosocket.protocol import Audio, Decoder, Dtmf, Hangup, Uuid, encode
from telephony.audiosocket.server import AudioSocketServer, CallConnection

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
        await asyncio.sleep(0.1)
        writer.close()  # Asterisk never sends hangup: it just closes
        for _ in range(100):
            if server.calls_total and server.active_calls == 0:
                break
            await asyncio.sleep(0.02)
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
