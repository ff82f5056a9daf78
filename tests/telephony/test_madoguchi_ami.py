"""What the IVR adds to the generic AMI client: the calls the dialplan announces and the queue view."""

from __future__ import annotations

import asyncio

from ivr.ami import MadoguchiAmi
from tests.fixtures.scripted_ami import ScriptedAmi, scripted_client
from tests.fixtures.waiting import until

CALL_UUID = "a5ec9ef7-d107-440d-93b9-8399ed6d7e81"


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


def announce(peer: ScriptedAmi, call_uuid: str, channel: str = "Local/x;1") -> None:
    peer.send(f"Event: UserEvent\nChannel: {channel}\nUserEvent: MadoguchiCall\n"
              f"UUID: {call_uuid}\nCallerID: 0312345678\nChannel: {channel}\n")


def test_a_call_is_matched_to_its_announcement_before_or_after_it_arrives():
    async def scenario():
        async with scripted_client(MadoguchiAmi) as (peer, client):
            waiting = asyncio.create_task(client.wait_call(CALL_UUID.upper(), timeout=5))  # any spelling
            peer.send("Event: UserEvent\nUserEvent: MadoguchiCall\nUUID: not-a-uuid\nChannel: Local/bad;1\n")
            peer.send("Event: UserEvent\nUserEvent: SomethingElse\nUUID: 00000000-0000-0000-0000-000000000002\n")
            announce(peer, CALL_UUID)
            before = await waiting
            after = await client.wait_call(CALL_UUID, timeout=0)  # already announced: no waiting
            other = await client.wait_call("00000000-0000-0000-0000-000000000002", timeout=0.1)
        return before, after, other

    before, after, other = run(scenario())
    assert (before.uuid, before.caller, before.channel) == (CALL_UUID, "0312345678", "Local/x;1")
    assert after == before
    assert other is None  # another UserEvent is no announcement


def test_the_queue_view_is_loaded_after_every_login():
    async def scenario():
        async with scripted_client(MadoguchiAmi, backoff_initial=0.05, backoff_cap=0.2) as (peer, client):
            await until(lambda: client.queues.refreshed == 1, "the queue view was loaded after the login")
            loaded = client.queues.snapshot()
            peer.send("Event: QueueMemberRemoved\nQueue: operators\nStateInterface: PJSIP/op1\n")
            await until(lambda: client.queues.snapshot()["operators"].logged_in == 0, "the operator left")
            peer.drop_connections()
            await until(lambda: client.queues.refreshed == 2, "the queue view was loaded again after the reconnect")
            reloaded = client.queues.snapshot()
        return loaded, reloaded

    loaded, reloaded = run(scenario())
    assert (loaded["operators"].logged_in, loaded["operators"].available) == (1, 1)
    assert reloaded == loaded  # rebuilt from QueueStatus and QueueSummary, not the events seen before
