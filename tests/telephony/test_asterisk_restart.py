"""Asterisk restarted under a running IVR side (AudioSocket server + the IVR's own AMI user): the call
in progress ends cleanly, AMI logs in again, the queue view is rebuilt from what the new Asterisk
says (the operator logged in before is gone, not remembered), and a new call is served end to end:
identified from its UserEvent over the new connection and handed to the queue.

Named to sort before test_asterisk_runtime.py and after the call tests: a restart resets Asterisk
for the tests that come after it (the fixture restarts it with the AudioSocket target last set).
"""

from __future__ import annotations

import asyncio

import pytest

from telephony.audiosocket.server import AudioSocketServer, CallConnection
from tests.fixtures.asterisk import OPERATOR_QUEUE
from tests.fixtures.waiting import until

pytestmark = [pytest.mark.asterisk, pytest.mark.timeout(420)]

CALLER = "0312345678"


def test_asterisk_restart_mid_call_then_ami_reconnects_queue_view_is_rebuilt_and_new_calls_are_served(asterisk):
    async def scenario() -> None:
        calls: dict[str, dict] = {}

        async def handler(conn: CallConnection) -> None:
            """The IVR's part: identify the call over AMI; the second caller asks for a person."""
            call = calls.setdefault(str(conn.uuid), {"ended": asyncio.Event()})
            info = await ivr.wait_call(conn.uuid, timeout=5)
            call["channel"] = info.channel if info else None
            if len(calls) > 1 and info is not None:
                await ivr.set_var(info.channel, "IVR_NEXT", "operator")
                await conn.hangup()
            else:
                async for _ in conn.inbound():
                    pass
            call["ended"].set()

        def logged_in() -> int:
            state = ivr.queues.snapshot().get(OPERATOR_QUEUE)
            return state.logged_in if state else -1

        def waiting() -> int:
            state = ivr.queues.snapshot().get(OPERATOR_QUEUE)
            return len(state.callers) if state else -1

        server = AudioSocketServer(handler, "127.0.0.1", 0)
        await server.start()
        async with asterisk.ami(user=asterisk.ami_user, backoff_initial=0.1, backoff_cap=1.0) as ivr, \
                asterisk.ami(backoff_initial=0.1, backoff_cap=1.0) as caller:
            try:
                await asterisk.point_audiosocket(caller, "127.0.0.1", server.port)
                await asterisk.add_operator(caller)
                await until(lambda: logged_in() == 1, "the IVR's view counts the operator", timeout=20)

                await asterisk.call(caller, "play", caller_id=CALLER, CALLER_HOLD="60")
                await until(lambda: len(calls) == 1 and "channel" in next(iter(calls.values())), "first call",
                            timeout=20)
                first = next(iter(calls.values()))
                assert first["channel"], "the first call was identified over AMI"
                logins, refreshed = ivr.logins, ivr.queues.refreshed

                await asyncio.to_thread(asterisk.restart)

                await asyncio.wait_for(first["ended"].wait(), 15)  # the call in progress ended with Asterisk
                await until(lambda: server.active_calls == 0, "no call left on the server", timeout=20)
                await until(lambda: ivr.logins > logins and ivr.queues.refreshed != refreshed and caller.connected,
                            "AMI logged in again and rebuilt the queue view", timeout=20)
                assert logged_in() == 0, "the operator logged in before the restart is not remembered"
                assert (await ivr.action("Ping"))["Response"] == "Success"

                await asterisk.add_operator(caller)
                await until(lambda: logged_in() == 1, "a new operator login is seen", timeout=20)
                await asterisk.call(caller, "play", caller_id=CALLER, CALLER_HOLD="60")
                await until(lambda: len(calls) == 2, "a new call reached the IVR after the restart", timeout=20)
                second = list(calls.values())[1]
                await asyncio.wait_for(second["ended"].wait(), 15)
                assert second["channel"], "the new call was identified over the new AMI connection"
                await until(lambda: waiting() == 1, "the handed-over caller waits in the rebuilt queue view",
                            timeout=20)
                assert ivr.queues.snapshot()[OPERATOR_QUEUE].callers[0].channel == second["channel"]
            finally:
                for call in calls.values():
                    if call.get("channel"):
                        try:
                            await caller.hangup(call["channel"])
                        except Exception:  # noqa: BLE001 - already gone
                            pass
                await asterisk.remove_operator(caller)
                await server.close()

    asyncio.run(asyncio.wait_for(scenario(), 180))
