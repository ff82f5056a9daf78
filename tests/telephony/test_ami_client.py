"""The AMI client against a scripted AMI peer that replays Asterisk's answers (protocol-level rules).

Everything about real calls and real restarts is in test_asterisk_*.py against the real Asterisk.
"""

from __future__ import annotations

import asyncio

import pytest

from telephony.ami.client import AmiActionError, AmiClient, backoff_delay
from telephony.ami.protocol import AmiMessage, Parser


class ScriptedAmi:
    """A loopback TCP peer speaking AMI: records what the client sends, answers from a script."""

    def __init__(self, *, login_delay: float = 0.0, accept_login: bool = True) -> None:
        self.received: list[tuple[float, AmiMessage]] = []
        self.login_answered_at: float | None = None
        self.login_delay = login_delay
        self.accept_login = accept_login
        self.connections = 0
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        loop = asyncio.get_running_loop()
        writer.write(b"Asterisk Call Manager/10.0.0\r\n")
        parser = Parser()
        list(parser.feed(b"Asterisk Call Manager/x\r\n"))
        try:
            while chunk := await reader.read(4096):
                for message in parser.feed(chunk):
                    self.received.append((loop.time(), message))
                    await self._answer(message, writer)
        except ConnectionError:
            pass  # the client went away

    def send(self, text: str) -> None:
        self.writers[-1].write(text.replace("\n", "\r\n").encode() + b"\r\n")

    async def _answer(self, message: AmiMessage, writer: asyncio.StreamWriter) -> None:
        action, action_id = message.get("Action"), message.get("ActionID")
        if action == "Login":
            await asyncio.sleep(self.login_delay)
            self.login_answered_at = asyncio.get_running_loop().time()
            if self.accept_login:
                self.send(f"Response: Success\nActionID: {action_id}\nMessage: Authentication accepted\n")
                self.send("Event: FullyBooted\nPrivilege: system,all\nStatus: Fully Booted\n")
            else:
                self.send(f"Response: Error\nActionID: {action_id}\nMessage: Authentication failed\n")
        elif action == "QueueStatus":
            self.send(f"Response: Success\nActionID: {action_id}\nEventList: start\nMessage: Queue status will follow\n")
            self.send(f"Event: QueueParams\nQueue: operators\nActionID: {action_id}\n")
            self.send(f"Event: QueueMember\nQueue: operators\nStateInterface: PJSIP/op1\nStatus: 1\nPaused: 0\nActionID: {action_id}\n")
            self.send(f"Event: QueueStatusComplete\nActionID: {action_id}\nEventList: Complete\nListItems: 2\n")
        elif action == "QueueSummary":
            self.send(f"Response: Success\nActionID: {action_id}\nEventList: start\n")
            self.send(f"Event: QueueSummary\nQueue: operators\nLoggedIn: 1\nAvailable: 1\nActionID: {action_id}\n")
            self.send(f"Event: QueueSummaryComplete\nActionID: {action_id}\nEventList: Complete\n")
        elif action == "Setvar" and message.get("Channel") == "Gone/1":
            self.send(f"Response: Error\nActionID: {action_id}\nMessage: No such channel\n")
        elif action != "Logoff":
            self.send(f"Response: Success\nActionID: {action_id}\n")

    def drop_connections(self) -> None:
        for writer in self.writers:
            writer.close()

    async def close(self) -> None:
        self.drop_connections()
        assert self.server is not None
        self.server.close()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


def test_backoff_doubles_and_is_capped():
    delays = [backoff_delay(n, initial=0.5, cap=30) for n in range(40)]
    assert delays[:4] == [0.5, 1.0, 2.0, 4.0]
    assert max(delays) == 30 and delays[-1] == 30
    assert backoff_delay(10**6, initial=0.5, cap=30, jitter=0.2) == 24.0  # no overflow, jitter subtracts


def test_nothing_is_sent_before_the_login_answer():
    async def scenario():
        peer = ScriptedAmi(login_delay=0.3)
        port = await peer.start()
        client = AmiClient("127.0.0.1", port, "user", "secret")
        await client.start()
        ping = asyncio.create_task(client.action("Ping"))  # issued before login completes
        await asyncio.sleep(0.05)
        assert not client.connected
        answer = await ping
        for _ in range(100):  # the queue view is rebuilt right after login (and FullyBooted)
            if client.queues.refreshed:
                break
            await asyncio.sleep(0.02)
        await client.close()
        await peer.close()
        return peer, answer

    peer, answer = run(scenario())
    (first_time, first), *rest = peer.received
    assert first.get("Action") == "Login" and first.get("Username") == "user" and first.get("Secret") == "secret"
    assert all(t >= peer.login_answered_at for t, _ in rest)
    assert {m.get("Action") for _, m in rest} >= {"Ping", "QueueStatus", "QueueSummary"}
    assert answer["Response"] == "Success"


def test_actions_are_futures_by_action_id_and_errors_are_typed():
    async def scenario():
        peer = ScriptedAmi()
        port = await peer.start()
        client = AmiClient("127.0.0.1", port, "user", "secret")
        await client.start()
        assert await client.wait_connected(5)
        answers = await asyncio.gather(*(client.action("Ping") for _ in range(20)))
        ids = {a["ActionID"] for a in answers}
        with pytest.raises(AmiActionError, match="No such channel"):
            await client.set_var("Gone/1", "IVR_NEXT", "operator")
        for _ in range(50):
            if client.queues.refreshed:
                break
            await asyncio.sleep(0.02)
        snapshot = client.queues.snapshot()
        await client.close()
        await peer.close()
        return ids, snapshot

    ids, snapshot = run(scenario())
    assert len(ids) == 20
    assert snapshot["operators"].logged_in == 1 and snapshot["operators"].available == 1


def test_events_by_name_and_call_correlation():
    async def scenario():
        peer = ScriptedAmi()
        port = await peer.start()
        client = AmiClient("127.0.0.1", port, "user", "secret")
        seen: list[str] = []
        got_async = asyncio.Event()

        async def on_hangup(message: AmiMessage) -> None:
            got_async.set()

        client.on("Newchannel", lambda m: seen.append(m.get("Channel")))
        unsubscribe = client.on("Hangup", on_hangup)
        await client.start()
        assert await client.wait_connected(5)
        waiter = asyncio.create_task(client.wait_call("A5EC9EF7-D107-440D-93B9-8399ED6D7E81", timeout=5))
        peer.send("Event: Newchannel\nChannel: Local/x;1\n")
        peer.send("Event: TestEvent\nType: StateChange\n")
        peer.send("Event: UserEvent\nChannel: Local/x;1\nUserEvent: MadoguchiCall\n"
                  "UUID: a5ec9ef7-d107-440d-93b9-8399ed6d7e81\nCallerID: 0312345678\nChannel: Local/x;1\n")
        peer.send("Event: Hangup\nChannel: Local/x;1\n")
        info = await waiter
        await asyncio.wait_for(got_async.wait(), 5)
        unsubscribe()
        missing = await client.wait_call("00000000-0000-0000-0000-000000000001", timeout=0.1)
        await client.close()
        await peer.close()
        return seen, info, missing

    seen, info, missing = run(scenario())
    assert seen == ["Local/x;1"]
    assert (info.uuid, info.caller, info.channel) == ("a5ec9ef7-d107-440d-93b9-8399ed6d7e81", "0312345678", "Local/x;1")
    assert missing is None


def test_reconnects_after_the_connection_drops_and_refused_login_is_retried():
    async def scenario():
        peer = ScriptedAmi()
        port = await peer.start()
        client = AmiClient("127.0.0.1", port, "user", "secret", backoff_initial=0.05, backoff_cap=0.2)
        await client.start()
        assert await client.wait_connected(5)
        peer.drop_connections()
        await asyncio.sleep(0.05)
        assert await client.wait_connected(5)
        for _ in range(100):
            if client.logins == 2:
                break
            await asyncio.sleep(0.02)
        logins = client.logins
        await client.close()
        await peer.close()

        refusing = ScriptedAmi(accept_login=False)
        port = await refusing.start()
        client = AmiClient("127.0.0.1", port, "user", "wrong", backoff_initial=0.05, backoff_cap=0.1)
        await client.start()
        await asyncio.sleep(0.6)
        connected, error, attempts = client.connected, client.last_error, refusing.connections
        await client.close()
        await refusing.close()
        return logins, connected, error, attempts

    logins, connected, error, attempts = run(scenario())
    assert logins == 2
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
