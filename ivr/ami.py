"""The IVR's AMI client: the generic `AmiClient` plus what Madoguchi's dialplan tells it.

    ami = MadoguchiAmi(host, port, user, secret)
    await ami.start()
    info = await ami.wait_call(uuid)        # CallInfo(uuid, caller, channel) from UserEvent MadoguchiCall
    await ami.set_var(info.channel, "IVR_NEXT", "operator")
    ami.queues.snapshot()                   # {"operators": QueueState(...)}, rebuilt after every login

The inbound context (telephony/asterisk/extensions.conf) announces each call with
`UserEvent(MadoguchiCall, UUID, CallerID, Channel)` before it opens the AudioSocket whose first
message carries the same UUID: `AnnouncedCalls` matches the two.
"""

from __future__ import annotations

import asyncio
import logging
import uuid as uuid_module
from collections import OrderedDict, defaultdict
from dataclasses import dataclass
from typing import Any

from ivr.operator_queues import QueueView
from telephony.ami.client import AmiClient
from telephony.ami.protocol import AmiMessage

log = logging.getLogger(__name__)

CALL_EVENT = "MadoguchiCall"
MAX_CALLS_KEPT = 2000


@dataclass(frozen=True)
class CallInfo:
    uuid: str
    caller: str
    channel: str


def _normalize_uuid(value: str | uuid_module.UUID) -> str:
    return str(value if isinstance(value, uuid_module.UUID) else uuid_module.UUID(str(value)))


class AnnouncedCalls:
    """The calls the dialplan announced, by AudioSocket UUID (the latest MAX_CALLS_KEPT)."""

    def __init__(self) -> None:
        self._calls: OrderedDict[str, CallInfo] = OrderedDict()
        self._waiters: dict[str, list[asyncio.Future[CallInfo]]] = defaultdict(list)

    def follow(self, client: AmiClient) -> None:
        client.on("UserEvent", self.apply)

    def apply(self, message: AmiMessage) -> None:
        if message.get("UserEvent") != CALL_EVENT:
            return
        try:
            key = _normalize_uuid(message.get("UUID") or "")
        except ValueError:
            log.warning("AMI %s event without a valid UUID", CALL_EVENT)
            return
        info = CallInfo(uuid=key, caller=message.get("CallerID") or "", channel=message.get("Channel") or "")
        self._calls[key] = info
        while len(self._calls) > MAX_CALLS_KEPT:
            self._calls.popitem(last=False)
        for waiter in self._waiters.pop(key, []):
            if not waiter.done():
                waiter.set_result(info)

    async def wait(self, call_uuid: str | uuid_module.UUID, timeout: float) -> CallInfo | None:
        """The call with this AudioSocket UUID, or None if it is not announced within `timeout`."""
        key = _normalize_uuid(call_uuid)
        if key in self._calls:
            return self._calls[key]
        waiter: asyncio.Future[CallInfo] = asyncio.get_running_loop().create_future()
        self._waiters[key].append(waiter)
        try:
            return await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            return None
        finally:
            waiters = self._waiters.get(key)
            if waiters is not None and waiter in waiters:
                waiters.remove(waiter)
                if not waiters:
                    del self._waiters[key]


class MadoguchiAmi(AmiClient):
    """An `AmiClient` that also follows the announced calls and the operator queues."""

    def __init__(self, host: str, port: int, user: str, secret: str, **options: Any) -> None:
        super().__init__(host, port, user, secret, **options)
        self.calls = AnnouncedCalls()
        self.calls.follow(self)
        self.queues = QueueView()
        self.queues.follow(self)

    async def wait_call(self, call_uuid: str | uuid_module.UUID, timeout: float = 2.0) -> CallInfo | None:
        """The caller and channel of the call with this AudioSocket UUID, or None after `timeout`."""
        return await self.calls.wait(call_uuid, timeout)
