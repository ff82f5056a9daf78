"""The AMI client against a scripted AMI peer that replays Asterisk's answers (protocol-level rules).

Everything about real calls and real restarts is in test_asterisk_*.py against the real Asterisk;
what the IVR adds to the client (announced calls, the queue view) is in test_madoguchi_ami.py.
"""

from __future__ import annotations

import asyncio

import pytest

from telephony.ami.client import AmiActionError, AmiClient, backoff_delay
from telephony.ami.protocol import AmiMessage
from tests.fixtures.scripted_ami import ScriptedAmi, scripted_client
from tests.fixtures.waiting import until


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


def test_backoff_doubles_and_is_capped():
    delays = [backoff_delay(n, initial=0.5, cap=30) for n in range(40)]
    assert delays[:4] == [0.5, 1.0, 2.0, 4.0]
    assert max(delays) == 30 and delays[-1] == 30
    assert backoff_delay(10**6, initial=0.5, cap=30, jitter=0.2) == 24.0  # no overflow, jitter subtracts


def test_nothing_is_sent_before_the_login_answer():
    async def scenario():
        async with scripted_client(AmiClient, peer=ScriptedAmi(login_delay=0.3), connected=False) as (peer, client):
            ping = asyncio.create_task(client.action("Ping"))  # issued before login completes
            await until(lambda: peer.received, "the login reached the peer")
            assert not client.connected and not ping.done()  # the peer takes 0.3 s to answer the login
            answer = await ping
        return peer, answer

    peer, answer = run(scenario())
    (first_time, first), *rest = peer.received
    assert first.get("Action") == "Login" and first.get("Username") == "user" and first.get("Secret") == "secret"
    assert rest and all(t >= peer.login_answered_at for t, _ in rest)
    assert "Ping" in {m.get("Action") for _, m in rest}
    assert answer["Response"] == "Success"


def test_boot_callbacks_run_after_every_login_and_list_actions_collect_their_events():
    async def scenario():
        listings: list[list[str | None]] = []
        async with scripted_client(AmiClient, connected=False, backoff_initial=0.05, backoff_cap=0.2) as (peer, client):

            async def rebuild() -> None:
                events = await client.action_list("QueueStatus")
                listings.append([m.event for m in events])

            client.on_boot(rebuild)
            await until(lambda: len(listings) == 1, "the boot callback ran after the login")
            peer.drop_connections()
            await until(lambda: len(listings) == 2, "the boot callback ran again after the reconnect")
            return listings, client.logins

    listings, logins = run(scenario())
    assert logins == 2
    assert listings == [["QueueParams", "QueueMember"]] * 2  # the list's Complete event is not one of them


def test_actions_are_futures_by_action_id_and_errors_are_typed():
    async def scenario():
        async with scripted_client(AmiClient) as (_, client):
            answers = await asyncio.gather(*(client.action("Ping") for _ in range(20)))
            with pytest.raises(AmiActionError, match="No such channel"):
                await client.set_var("Gone/1", "IVR_NEXT", "operator")
        return {a["ActionID"] for a in answers}

    assert len(run(scenario())) == 20


def test_events_by_name():
    async def scenario():
        seen: list[str] = []
        hangups: list[str] = []
        got_async = asyncio.Event()

        async def on_hangup(message: AmiMessage) -> None:
            got_async.set()

        async with scripted_client(AmiClient) as (peer, client):
            client.on("Newchannel", lambda m: seen.append(m.get("Channel")))
            unsubscribe = client.on("Hangup", on_hangup)
            unsubscribe_sync = client.on("Hangup", lambda m: hangups.append(m.get("Channel")))
            peer.send("Event: Newchannel\nChannel: Local/x;1\n")
            peer.send("Event: TestEvent\nType: StateChange\n")
            peer.send("Event: Hangup\nChannel: Local/x;1\n")
            await asyncio.wait_for(got_async.wait(), 5)
            unsubscribe()
            unsubscribe_sync()
            peer.send("Event: Hangup\nChannel: Local/y;1\n")
            peer.send("Event: Newchannel\nChannel: Local/y;1\n")  # dispatched in order: after that Hangup
            await until(lambda: len(seen) == 2, "the second Newchannel was dispatched")
        return seen, hangups

    seen, hangups = run(scenario())
    assert seen == ["Local/x;1", "Local/y;1"]  # the TestEvent is not dispatched
    assert hangups == ["Local/x;1"]  # none after unsubscribing


def test_reconnects_after_the_connection_drops_and_refused_login_is_retried():
    async def scenario():
        async with scripted_client(AmiClient, backoff_initial=0.05, backoff_cap=0.2) as (peer, client):
            peer.drop_connections()
            await until(lambda: client.logins == 2, "the client logged in again")
            logins, connected_again = client.logins, await client.wait_connected(5)

        refusing = ScriptedAmi(accept_login=False)
        async with scripted_client(AmiClient, peer=refusing, secret="wrong", connected=False,
                                   backoff_initial=0.05, backoff_cap=0.1) as (_, client):
            await until(lambda: refusing.connections >= 3, "the refused login was tried three times")
            connected, error, attempts = client.connected, client.last_error, refusing.connections
        return logins, connected_again, connected, error, attempts

    logins, connected_again, connected, error, attempts = run(scenario())
    assert logins == 2 and connected_again
    assert not connected and "Authentication failed" in error and attempts >= 3


def test_asterisk_down_is_not_an_error_at_start():
    async def scenario():
        client = AmiClient("127.0.0.1", 1, "user", "secret", backoff_initial=0.05, backoff_cap=0.1)
        await client.start()
        connected = await client.wait_connected(0.3)
        with pytest.raises(TimeoutError):
            await client.action("Ping", timeout=0.1)
        await client.close()
        return connected, client.last_error

    connected, error = run(scenario())
    assert not connected and "ConnectionRefused" in error
