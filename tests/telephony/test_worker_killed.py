"""An IVR worker killed with SIGKILL mid-call, through the real Asterisk and the shipped dialplan.

Two worker processes share one AudioSocket port (SO_REUSEPORT, as `ivr serve --workers 2` runs
them) and do for each call what `CallSession` does first: learn the channel from the MadoguchiCall
event and set IVR_NEXT=operator over AMI (tests/session/test_session.py checks the session does).
Killing one closes its sockets with no word to Asterisk (usually a plain FIN, on which AudioSocket()
returns normally): its callers must not be hung up on but reach the operators' queue; the other
worker's calls go on.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.asterisk import OPERATOR_QUEUE
from tests.fixtures.ports import free_port
from tests.fixtures.waiting import until
from tests.telephony.test_asterisk_calls import EventLog, user_event

pytestmark = [pytest.mark.asterisk, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
#: A worker: the real AudioSocket server and the IVR's AMI client; each call is marked for a person (as the
#: session does), then streams silence and listens until the caller goes.
WORKER = """
import asyncio, os, sys
from ivr.ami import MadoguchiAmi
from telephony.audiosocket.server import AudioSocketServer

async def main():
    ami = MadoguchiAmi(sys.argv[2], int(sys.argv[3]), sys.argv[4], os.environ["WORKER_AMI_SECRET"])
    await ami.start()

    async def handler(conn):
        info = await ami.wait_call(conn.uuid, timeout=5)
        await ami.set_var(info.channel, "IVR_NEXT", "operator")
        print("call", conn.uuid, flush=True)
        async for _ in conn.inbound():
            pass

    server = AudioSocketServer(handler, "127.0.0.1", int(sys.argv[1]), reuse_port=True)
    await server.start()
    await ami.wait_connected(10)
    print("listening", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


class Worker:
    def __init__(self, port: int, asterisk) -> None:
        argv = [str(port), asterisk.ami_host, str(asterisk.ami_port), asterisk.ami_user]  # the IVR's AMI user
        env = {**os.environ, "PYTHONPATH": str(ROOT), "WORKER_AMI_SECRET": asterisk.ami_secret}
        self.process = subprocess.Popen([sys.executable, "-c", WORKER, *argv], cwd=ROOT, stdout=subprocess.PIPE,
                                        text=True, env=env)
        self.calls: list[str] = []
        assert self.process.stdout is not None
        self._reader = asyncio.get_running_loop().run_in_executor(None, self._read)

    def _read(self) -> None:
        for line in self.process.stdout:  # type: ignore[union-attr]
            word, _, rest = line.strip().partition(" ")
            if word == "call":
                self.calls.append(rest)
            elif word == "listening":
                self.calls.append("")  # a marker: started

    async def started(self) -> None:
        await until(lambda: "" in self.calls, "the worker listens", timeout=20)

    def uuids(self) -> list[str]:
        return [c for c in self.calls if c]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)


def test_a_killed_workers_callers_reach_the_operators_and_the_other_workers_calls_go_on(asterisk):
    async def scenario() -> None:
        port = free_port()
        workers = [Worker(port, asterisk), Worker(port, asterisk)]
        channels: dict[str, str] = {}
        async with asterisk.ami() as ami:
            events = EventLog(ami)
            try:
                for worker in workers:
                    await worker.started()
                await asterisk.point_audiosocket(ami, "127.0.0.1", port)
                await asterisk.add_operator(ami)
                # Calls until each worker has one (the kernel spreads connections; at most 8 calls).
                for number in range(8):
                    await asterisk.call(ami, "play", caller_id=f"031234567{number}", CALLER_HOLD="60")
                    await until(lambda n=number: sum(len(w.uuids()) for w in workers) == n + 1,
                                "the call reached a worker", timeout=15)
                    if all(w.uuids() for w in workers):
                        break
                assert all(w.uuids() for w in workers), "the kernel gave every call to one worker"
                for message in events.events:
                    if message.event == "UserEvent" and message.get("UserEvent") == "MadoguchiCall":
                        channels[message.get("UUID") or ""] = message.get("Channel") or ""
                killed, survivor = workers
                os.kill(killed.process.pid, signal.SIGKILL)

                for call in killed.uuids():
                    after = await events.wait(user_event("MadoguchiNext", call))
                    assert after.get("Next") == "operator", "a caller of the killed worker was hung up on"
                    await events.wait(lambda m, ch=channels[call]: m.event == "QueueCallerJoin"
                                      and m.get("Channel") == ch and m.get("Queue") == OPERATOR_QUEUE)
                await asyncio.sleep(3)  # the survivor's calls are still up: no MadoguchiNext, no Hangup
                for call in survivor.uuids():
                    ended = [m for m in events.events if (m.event == "UserEvent" and m.get("UUID") == call
                             and m.get("UserEvent") == "MadoguchiNext")
                             or (m.event == "Hangup" and m.get("Channel") == channels[call])]
                    assert not ended, f"the surviving worker's call {call} ended: {ended}"
                assert survivor.process.poll() is None
            finally:
                for channel in channels.values():
                    try:
                        await ami.hangup(channel)
                    except Exception:  # noqa: BLE001 - already gone
                        pass
                await asterisk.remove_operator(ami)
                for worker in workers:
                    worker.stop()

    asyncio.run(asyncio.wait_for(scenario(), 240))
