"""Calls through the real Asterisk: Local/...@test-caller originated into the inbound context."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import AsyncIterator, Awaitable, Callable

import pytest

from telephony.ami.client import AmiClient
from telephony.ami.protocol import AmiMessage
from telephony.audiosocket.protocol import Audio, Dtmf
from telephony.audiosocket.server import AudioSocketServer, CallConnection
from tests.fixtures.ports import free_port
from tests.fixtures.waiting import until
from tests.telephony.audio import frames_found, match_ratio, noise, read_wav, samples

pytestmark = [pytest.mark.asterisk, pytest.mark.timeout(420)]  # the first test may build the chroot (~45 s, more on a slow mirror)

CALLER = "0312345678"


def run(coro: Awaitable[None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 60))


@contextlib.asynccontextmanager
async def serving(handler: Callable[[CallConnection], Awaitable[None]]) -> AsyncIterator[AudioSocketServer]:
    server = AudioSocketServer(handler, "127.0.0.1", 0)
    await server.start()
    try:
        yield server
    finally:
        await server.close()


class EventLog:
    """Every AMI event a test saw, with a way to wait for one."""

    def __init__(self, ami: AmiClient) -> None:
        self.events: list[AmiMessage] = []
        self._changed = asyncio.Event()
        ami.on("*", self._add)

    def _add(self, message: AmiMessage) -> None:
        self.events.append(message)
        self._changed.set()

    async def wait(self, predicate: Callable[[AmiMessage], bool], timeout: float = 15.0) -> AmiMessage:
        async with asyncio.timeout(timeout):
            while True:
                for message in self.events:
                    if predicate(message):
                        return message
                self._changed.clear()
                await self._changed.wait()


def user_event(name: str, call_uuid: str) -> Callable[[AmiMessage], bool]:
    return lambda m: m.event == "UserEvent" and m.get("UserEvent") == name and m.get("UUID") == call_uuid


async def wait_file_stable(path, timeout: float = 10.0) -> None:
    """MixMonitor finishes its file shortly after the channel hangs up."""
    deadline, last = time.monotonic() + timeout, -1
    while time.monotonic() < deadline:
        size = path.stat().st_size if path.exists() else -1
        if size > 44 and size == last:
            return
        last = size
        await asyncio.sleep(0.3)
    raise AssertionError(f"recording {path} did not appear")


def test_call_reaches_server_with_uuid_caller_channel_audio_and_dtmf(asterisk):
    caller_pcm = noise(frames=50, seed=1)  # 1 s of noise: every sample must arrive unchanged
    wav = asterisk.write_wav("caller-noise", caller_pcm)

    async def scenario() -> None:
        got: dict = {}
        finished = asyncio.Event()

        async def handler(conn: CallConnection) -> None:
            got["uuid"] = conn.uuid
            got["messages"] = [message async for message in conn.inbound()]  # ends at caller hang-up
            got["hung_up_by_us"] = conn.hung_up_by_us
            finished.set()

        async with serving(handler) as server, asterisk.ami() as ami:
            events = EventLog(ami)
            await asterisk.point_audiosocket(ami, "127.0.0.1", server.port)
            await asterisk.call(ami, "play", caller_id=CALLER, CALLER_WAIT="0.2", CALLER_WAV=wav,
                                CALLER_DTMF="159*#", CALLER_HOLD="0.3")
            await asyncio.wait_for(finished.wait(), 20)
            info = await ami.wait_call(got["uuid"], timeout=5)
            call_event = await events.wait(user_event("MadoguchiCall", str(got["uuid"])))
            await until(lambda: server.active_calls == 0, "the call ended on the server", timeout=2.5)
            assert server.handler_errors == 0

        assert info is not None, "no MadoguchiCall UserEvent for the AudioSocket UUID"
        assert info.uuid == str(got["uuid"])
        assert info.caller == CALLER
        assert info.channel.startswith("Local/play@test-caller-") and info.channel.endswith(";1")
        assert call_event.get("Channel") == info.channel
        assert not got["hung_up_by_us"]
        messages = got["messages"]
        received = b"".join(m.pcm for m in messages if isinstance(m, Audio))
        assert caller_pcm in received, "the caller's WAV did not arrive sample for sample"
        assert [m.digit for m in messages if isinstance(m, Dtmf)] == list("159*#")

    run(scenario())


def test_what_the_server_sends_is_heard_by_the_caller(asterisk):
    prompt = noise(frames=50, seed=2)
    record, heard_path = asterisk.recording_path()

    async def scenario() -> None:
        async def handler(conn: CallConnection) -> None:
            await asyncio.sleep(0.3)
            assert await conn.sender.play(prompt).done()
            await asyncio.sleep(0.3)
            await conn.hangup()

        async with serving(handler) as server, asterisk.ami() as ami:
            events = EventLog(ami)
            await asterisk.point_audiosocket(ami, "127.0.0.1", server.port)
            await asterisk.call(ami, "play", caller_id=CALLER, CALLER_RECORD=record, CALLER_HOLD="20")
            await events.wait(lambda m: m.event == "Hangup" and (m.get("Channel") or "").endswith(";2"), 20)
            await wait_file_stable(heard_path)

    run(scenario())
    heard = read_wav(heard_path)
    expected = samples(prompt)
    assert len(heard) > len(expected)
    assert frames_found(heard, expected) > 0.95, "the caller did not hear what the server sent"
    assert match_ratio(heard, expected) > 0.5  # and mostly in one piece


def test_our_hangup_continues_the_dialplan(asterisk):
    async def scenario() -> None:
        uuids: list[str] = []

        async def handler(conn: CallConnection) -> None:
            uuids.append(str(conn.uuid))
            await asyncio.sleep(2.5)  # nothing to say for longer than Asterisk's 2 s idle timeout:
            await conn.hangup()       # the sender's silence keeps the call up

        async with serving(handler) as server, asterisk.ami() as ami:
            events = EventLog(ami)
            await asterisk.point_audiosocket(ami, "127.0.0.1", server.port)
            started = time.monotonic()
            await asterisk.call(ami, "play", caller_id=CALLER, CALLER_HOLD="20")
            call = await events.wait(lambda m: m.event == "UserEvent" and m.get("UserEvent") == "MadoguchiCall")
            after = await events.wait(user_event("MadoguchiNext", call.get("UUID") or ""))
            hangup = await events.wait(lambda m: m.event == "Hangup" and m.get("Channel") == call.get("Channel"))
            assert time.monotonic() - started < 10  # not the caller's 20 s hold: our hang-up ended it
        assert uuids == [call.get("UUID")]
        assert after.get("Next") == ""  # not "operator": the session ended normally, not by a failure
        assert int(after.get("Priority") or 0) > int(call.get("Priority") or 0)
        assert hangup.get("Cause-txt") == "Normal Clearing"

    run(scenario())


def test_transfer_puts_the_call_in_the_operators_queue(asterisk):
    async def scenario() -> None:
        async with asterisk.ami() as ami:
            async def handler(conn: CallConnection) -> None:
                info = await ami.wait_call(conn.uuid)
                assert info is not None
                await ami.set_var(info.channel, "IVR_NEXT", "operator")
                await conn.hangup()

            async with serving(handler) as server:
                events = EventLog(ami)
                await asterisk.point_audiosocket(ami, "127.0.0.1", server.port)
                await asterisk.call(ami, "play", caller_id=CALLER, CALLER_HOLD="3")
                call = await events.wait(lambda m: m.event == "UserEvent" and m.get("UserEvent") == "MadoguchiCall")
                after = await events.wait(user_event("MadoguchiNext", call.get("UUID") or ""))
                assert after.get("Next") == "operator"
                await events.wait(lambda m: m.event == "QueueCallerJoin" and m.get("Queue") == "operators")
                waiting = ami.queues.snapshot()["operators"]
                assert [(c.position, c.caller, c.channel) for c in waiting.callers] == [(1, CALLER, call.get("Channel"))]
                # The caller gives up after its 3 s hold: the view empties again.
                await events.wait(lambda m: m.event == "QueueCallerAbandon", 15)
                assert ami.queues.snapshot()["operators"].callers == ()
                # The live view agrees with Asterisk's own listing.
                summary = await ami.action_list("QueueSummary", Queue="operators")
                assert summary[0].get("Callers") == "0"
                assert int(summary[0].get("LoggedIn") or 0) == ami.queues.snapshot()["operators"].logged_in

    run(scenario())


def test_caller_hang_up_ends_our_handler_mid_prompt(asterisk):
    async def scenario():
        result: dict = {}
        finished = asyncio.Event()

        async def handler(conn: CallConnection) -> None:
            started = time.monotonic()
            result["played"] = await conn.sender.play(noise(frames=500, seed=3)).done()  # a 10 s prompt
            result["seconds"] = time.monotonic() - started
            result["closed"] = conn.closed.is_set()
            finished.set()

        async with serving(handler) as server, asterisk.ami() as ami:
            await asterisk.point_audiosocket(ami, "127.0.0.1", server.port)
            await asterisk.call(ami, "play", caller_id=CALLER, CALLER_HOLD="1")
            await asyncio.wait_for(finished.wait(), 15)
            await until(lambda: server.active_calls == 0, "the call ended on the server", timeout=2.5)
        return result

    result = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert result["played"] is False and result["closed"] and result["seconds"] < 8


def test_unreachable_ivr_sends_the_caller_to_an_operator(asterisk):
    async def scenario() -> None:
        async with asterisk.ami() as ami:
            events = EventLog(ami)
            await ami.set_global("MADOGUCHI_AUDIOSOCKET", f"127.0.0.1:{free_port()}")  # nobody listens
            await asterisk.call(ami, "play", caller_id=CALLER, CALLER_HOLD="2")
            call = await events.wait(lambda m: m.event == "UserEvent" and m.get("UserEvent") == "MadoguchiCall")
            after = await events.wait(user_event("MadoguchiNext", call.get("UUID") or ""))
            assert after.get("Next") == "operator"
            # (the caller first waits for an IVR seat in queue madoguchi-line, then joins the operators)
            join = await events.wait(lambda m: m.event == "QueueCallerJoin" and m.get("Queue") == "operators")
            assert join.get("Channel") == call.get("Channel")

    run(scenario())


def test_ami_call_control_play_dtmf_to_the_caller_and_hang_up(asterisk):
    """PlayDTMF on the IVR's channel reaches the caller (a probe AudioSocket on the caller side);
    AMI Hangup ends both sides."""

    async def scenario():
        probe_heard: list = []
        probe_done, ivr_done = asyncio.Event(), asyncio.Event()
        ivr_result: dict = {}

        async def caller(conn: CallConnection) -> None:
            async for message in conn.inbound():
                if isinstance(message, Dtmf):
                    probe_heard.append(message.digit)
            probe_done.set()

        async with asterisk.ami() as ami:
            async def ivr(conn: CallConnection) -> None:
                info = await ami.wait_call(conn.uuid, timeout=5)
                assert info is not None
                for digit in "42":
                    await ami.play_dtmf(info.channel, digit)
                    await asyncio.sleep(0.4)
                await asyncio.sleep(0.5)
                await ami.hangup(info.channel)
                ivr_result["messages"] = [m async for m in conn.inbound()]  # ends: the channel is gone
                ivr_done.set()

            async with serving(ivr) as ivr_server, serving(caller) as probe_server:
                await asterisk.point_audiosocket(ami, "127.0.0.1", ivr_server.port)
                await asterisk.call(ami, "probe", caller_id=CALLER, CALLER_UUID=str(uuid.uuid4()),
                                    CALLER_AUDIOSOCKET=f"127.0.0.1:{probe_server.port}")
                await asyncio.wait_for(asyncio.gather(probe_done.wait(), ivr_done.wait()), 20)
        return probe_heard

    assert asyncio.run(asyncio.wait_for(scenario(), 60)) == ["4", "2"]
