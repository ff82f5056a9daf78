"""asyncio AMI client: login, actions as futures keyed by ActionID, events by name, keep-alive
ping, reconnect with capped exponential back-off. It knows nothing of a particular dialplan.

    ami = AmiClient(host, port, user, secret)
    ami.on("Hangup", callback)              # sync or async callback(AmiMessage); "*" for every event
    ami.on_boot(rebuild)                    # async rebuild(), after every login once Asterisk has booted
    await ami.start()                       # connects in the background; never raises for a down Asterisk
    await ami.wait_connected(timeout=5)
    await ami.set_var(channel, "IVR_NEXT", "operator")
    events = await ami.action_list("QueueStatus")
    await ami.close()

A small client of our own: the `asterisk-ami` package is thread-based (blocking sockets and
callbacks on its own threads), which does not fit an asyncio service.

Nothing is written before Asterisk has answered the login; actions issued while disconnected wait
(up to their timeout) for the next login. After every login the `on_boot` callbacks run (retried
a few times), so state kept from events can be rebuilt when Asterisk restarts.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import random
import uuid as uuid_module
from collections import defaultdict
from typing import Any, Awaitable, Callable, Mapping

from telephony.ami.protocol import AmiMessage, AmiProtocolError, Banner, Parser, encode_action

log = logging.getLogger(__name__)

EventCallback = Callable[[AmiMessage], Awaitable[None] | None]
BootCallback = Callable[[], Awaitable[None]]
BOOT_CALLBACK_ATTEMPTS = 5


class AmiError(Exception):
    """Base class of AMI client errors."""


class AmiConnectionError(AmiError):
    """Not connected (or the connection dropped) before the action got its answer."""


class AmiActionError(AmiError):
    """Asterisk answered `Response: Error`."""

    def __init__(self, action: str, message: str) -> None:
        super().__init__(f"{action}: {message}")
        self.action = action
        self.message = message


class AmiAuthError(AmiError):
    """Asterisk refused the login."""


def backoff_delay(attempt: int, *, initial: float, cap: float, jitter: float = 0.0) -> float:
    """Delay before reconnect attempt `attempt` (0-based): doubling from `initial`, never above `cap`.

    `jitter` in [0, 1) is a random fraction taken off, so many clients do not retry in step.
    """
    base = min(cap, initial * (2 ** min(attempt, 30)))
    return base * (1.0 - jitter)


class _Pending:
    """An action waiting for its answer; list actions also collect their events."""

    def __init__(self, name: str, collect: bool) -> None:
        self.name = name
        self.collect = collect
        self.response: AmiMessage | None = None
        self.events: list[AmiMessage] = []
        self.future: asyncio.Future[tuple[AmiMessage, list[AmiMessage]]] = (
            asyncio.get_running_loop().create_future()
        )

    def feed(self, message: AmiMessage) -> None:
        if self.future.done():
            return
        if message.response is not None and self.response is None:
            self.response = message
            listing = (message.get("EventList") or "").lower() == "start"
            if message.response == "Error" or not (self.collect and listing):
                self.future.set_result((message, []))
            return
        if (message.get("EventList") or "").lower() == "complete":
            assert self.response is not None
            self.future.set_result((self.response, self.events))
        else:
            self.events.append(message)


class AmiClient:
    def __init__(
        self,
        host: str,
        port: int,
        user: str,
        secret: str,
        *,
        events: str = "system,call,agent,user",
        ping_interval: float = 20.0,
        action_timeout: float = 10.0,
        connect_timeout: float = 5.0,
        backoff_initial: float = 0.5,
        backoff_cap: float = 30.0,
    ) -> None:
        self.host, self.port = host, port
        self._user, self._secret = user, secret
        self._events_mask = events
        self._ping_interval = ping_interval
        self._action_timeout = action_timeout
        self._connect_timeout = connect_timeout
        self._backoff_initial, self._backoff_cap = backoff_initial, backoff_cap
        self._ids = itertools.count(1)
        self._prefix = uuid_module.uuid4().hex[:8]
        self._pending: dict[str, _Pending] = {}
        self._handlers: dict[str, list[EventCallback]] = defaultdict(list)
        self._boot_callbacks: list[BootCallback] = []
        self._writer: asyncio.StreamWriter | None = None
        self._ready = asyncio.Event()
        self._booted = asyncio.Event()  # FullyBooted seen on this connection
        self._task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._closing = False
        self.logins = 0          # successful logins so far (a reconnect adds one)
        self.last_error: str | None = None
        self.on("FullyBooted", lambda _: self._booted.set())

    # ---------------------------------------------------------------- lifecycle
    @property
    def connected(self) -> bool:
        return self._ready.is_set()

    async def start(self) -> None:
        if self._task is None:
            self._closing = False
            self._task = asyncio.create_task(self._run(), name="ami-connection")

    async def wait_connected(self, timeout: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
            return True
        except TimeoutError:
            return False

    async def close(self) -> None:
        self._closing = True
        if self._writer is not None:
            try:
                self._writer.write(encode_action("Logoff", self._next_id()))
            except (ConnectionError, OSError, RuntimeError):
                pass
            self._writer.close()
        tasks = [t for t in (self._task, *self._background) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None
        self._fail_pending(AmiConnectionError("client closed"))

    # ---------------------------------------------------------------- connection loop
    async def _run(self) -> None:
        attempt = 0
        while not self._closing:
            logins_before = self.logins
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except AmiAuthError as exc:
                self.last_error = str(exc)
                log.error("AMI login to %s:%d refused: %s", self.host, self.port, exc)
            except (OSError, ConnectionError, TimeoutError, AmiProtocolError, AmiError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                level = logging.WARNING if attempt == 0 else logging.DEBUG
                log.log(level, "AMI %s:%d unavailable (%s)", self.host, self.port, self.last_error)
            finally:
                self._ready.clear()
                self._booted.clear()
                self._fail_pending(AmiConnectionError("AMI connection lost"))
                if self._writer is not None:
                    self._writer.close()
                    self._writer = None
            if self._closing:
                return
            if self.logins > logins_before:
                attempt = 0  # it had logged in before the connection dropped: start over quickly
            delay = backoff_delay(attempt, initial=self._backoff_initial, cap=self._backoff_cap,
                                  jitter=random.random() * 0.25)
            attempt += 1
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), self._connect_timeout)
        self._writer = writer
        parser = Parser()
        login_id = self._next_id()
        writer.write(encode_action("Login", login_id, {
            "Username": self._user, "Secret": self._secret, "Events": self._events_mask}))
        # Read until the login answer; nothing else is written before it.
        answer: AmiMessage | None = None
        backlog: list[AmiMessage] = []
        async with asyncio.timeout(self._connect_timeout):
            while answer is None:
                chunk = await reader.read(65536)
                if not chunk:
                    raise ConnectionError("AMI closed the connection during login")
                for packet in parser.feed(chunk):
                    if isinstance(packet, Banner):
                        continue
                    if packet.action_id == login_id and packet.response is not None:
                        answer = packet
                    else:
                        backlog.append(packet)
        if answer.response != "Success":
            raise AmiAuthError(answer.get("Message") or "login failed")
        self.logins += 1
        self._ready.set()
        log.info("AMI connected to %s:%d", self.host, self.port)
        self._spawn(self._after_login())
        for packet in backlog:
            self._dispatch(packet)
        pinger = asyncio.create_task(self._ping_loop(writer))
        try:
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    raise ConnectionError("AMI closed the connection")
                for packet in parser.feed(chunk):
                    if isinstance(packet, AmiMessage):
                        self._dispatch(packet)
        finally:
            pinger.cancel()
            await asyncio.gather(pinger, return_exceptions=True)

    async def _ping_loop(self, writer: asyncio.StreamWriter) -> None:
        while True:
            await asyncio.sleep(self._ping_interval)
            try:
                await self.action("Ping", timeout=self._action_timeout)
            except (AmiError, TimeoutError):
                log.warning("AMI ping unanswered; reconnecting")
                writer.close()
                return

    async def _after_login(self) -> None:
        """Run the boot callbacks once Asterisk has fully booted (AMI accepts logins while modules
        such as app_queue are still loading: state rebuilt too early would come back empty)."""
        try:
            await asyncio.wait_for(self._booted.wait(), self._connect_timeout * 2)
        except TimeoutError:
            log.debug("no FullyBooted after login (events mask without 'system'?); going on anyway")
        for callback in self._boot_callbacks:
            await self._run_boot_callback(callback)

    async def _run_boot_callback(self, callback: BootCallback) -> None:
        for attempt in range(BOOT_CALLBACK_ATTEMPTS):
            try:
                await callback()
                return
            except (AmiError, TimeoutError) as exc:
                if self._closing:  # a cancel that asyncio.timeout turned into TimeoutError: stop
                    return
                last = attempt == BOOT_CALLBACK_ATTEMPTS - 1
                log.log(logging.WARNING if last else logging.DEBUG, "AMI boot callback failed: %s", exc)
                await asyncio.sleep(0.5 * (attempt + 1))

    # ---------------------------------------------------------------- actions
    def _next_id(self) -> str:
        return f"{self._prefix}-{next(self._ids)}"

    async def _send(self, name: str, fields: Mapping[str, Any], collect: bool,
                    timeout: float | None) -> tuple[AmiMessage, list[AmiMessage]]:
        timeout = self._action_timeout if timeout is None else timeout
        async with asyncio.timeout(timeout):
            await self._ready.wait()
            action_id = self._next_id()
            data = encode_action(name, action_id, {k: v for k, v in fields.items() if v is not None})
            pending = _Pending(name, collect)
            self._pending[action_id] = pending
            try:
                if self._writer is None:
                    raise AmiConnectionError("not connected")
                self._writer.write(data)
                response, events = await pending.future
            finally:
                self._pending.pop(action_id, None)
        if response.response == "Error":
            raise AmiActionError(name, response.get("Message") or "error")
        return response, events

    async def action(self, name: str, *, timeout: float | None = None, **fields: Any) -> dict[str, str]:
        """Send an action and return its response headers; `Response: Error` raises AmiActionError."""
        response, _ = await self._send(name, fields, False, timeout)
        return response.as_dict()

    async def action_list(self, name: str, *, timeout: float | None = None, **fields: Any) -> list[AmiMessage]:
        """An action answered by an event list (QueueStatus, QueueSummary, ...): the listed events."""
        _, events = await self._send(name, fields, True, timeout)
        return events

    async def set_var(self, channel: str, name: str, value: str) -> None:
        await self.action("Setvar", Channel=channel, Variable=name, Value=value)

    async def set_global(self, name: str, value: str) -> None:
        await self.action("Setvar", Variable=name, Value=value)

    async def play_dtmf(self, channel: str, digit: str, duration_ms: int | None = None) -> None:
        await self.action("PlayDTMF", Channel=channel, Digit=digit, Duration=duration_ms)

    async def hangup(self, channel: str) -> None:
        await self.action("Hangup", Channel=channel)

    async def originate(self, channel: str, context: str, exten: str, priority: int = 1,
                        variables: Mapping[str, str] | None = None, timeout_ms: int = 30000,
                        caller_id: str | None = None) -> dict[str, str]:
        """Asynchronous Originate: returns once Asterisk has accepted it (OriginateResponse follows)."""
        return await self.action(
            "Originate", Channel=channel, Context=context, Exten=exten, Priority=priority,
            Timeout=timeout_ms, CallerID=caller_id, Async="true",
            Variable=[f"{k}={v}" for k, v in (variables or {}).items()] or None)

    # ---------------------------------------------------------------- events
    def on(self, event: str, callback: EventCallback) -> Callable[[], None]:
        """Call `callback(message)` for every event named `event` ("*": all). Returns an unsubscriber."""
        self._handlers[event].append(callback)
        return lambda: self._handlers[event].remove(callback) if callback in self._handlers[event] else None

    def on_boot(self, callback: BootCallback) -> None:
        """`await callback()` after every login, once Asterisk has fully booted; an AmiError or a
        timeout is retried a few times. For state rebuilt from list actions (QueueStatus, ...)."""
        self._boot_callbacks.append(callback)

    def _dispatch(self, message: AmiMessage) -> None:
        action_id = message.action_id
        if action_id is not None and action_id in self._pending:
            self._pending[action_id].feed(message)
            return
        name = message.event
        if name is None or name == "TestEvent":
            return
        for callback in (*self._handlers.get(name, ()), *self._handlers.get("*", ())):
            try:
                result = callback(message)
                if inspect.isawaitable(result):
                    self._spawn(result)
            except Exception:
                log.exception("AMI event handler for %s failed", name)

    def _spawn(self, awaitable: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(awaitable)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _fail_pending(self, error: Exception) -> None:
        for pending in list(self._pending.values()):
            if not pending.future.done():
                pending.future.set_exception(error)
        self._pending.clear()
