"""`ivr serve --workers 2` with an IVR worker killed (SIGKILL) while callers sit on a held slot.

The callers are simulated through the real Asterisk (keys only) and spread by the kernel over the
two processes. When every caller holds a place, the child worker is killed: its callers reach the
operators' queue through the dialplan (a socket reset fails TryExec; a socket that closes cleanly
leaves the IVR_NEXT=operator the session set, see tests/telephony/test_worker_killed.py), their holds are
free again once the hold TTL has passed, the other worker's callers book, and the dashboard's live
calls (`/api/v1/calls`, served by the parent) do not keep the dead worker's calls.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ivr.simulator.caller import CallerSimulator, SimulatorConfig
from ivr.simulator.scenario import parse_scenario
from slots import store
from slots.batches import BatchSpec
from slots.db import make_engine, make_sessionmaker, run_in_transaction, upgrade
from tests.e2e.conftest import ROOT, TZ, keyed_date
from tests.fixtures.asterisk import OPERATOR_QUEUE
from tests.fixtures.ports import free_port
from tests.telephony.test_asterisk_calls import EventLog

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

HOLD_TTL = 25
TOKEN = "e2e-killed-worker-" + "x" * 16
BIRTH = "19650506"


def audiosocket_connections(pid: int, port: int) -> int:
    """Established TCP connections on local `port` whose socket process `pid` holds open."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "01" and fields[9] in inodes:
            count += 1
    return count


def day_start(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), ZoneInfo(TZ)).astimezone(UTC)


def scenario(ticket: str, day: date, at: str) -> dict:
    return {"name": f"killed-{ticket[-4:]}", "end": "hangup", "turns": [
        {"press": "1", "after": "start"},
        {"press": ticket + "#", "after": "start"},
        {"press": BIRTH, "after": "start"},
        {"press": keyed_date(day), "after": "start"},
        {"press": at},
        {"silence": 10},  # holding a place at the read-back question: the kill comes now
        {"press": "1"},  # yes: book (those whose worker lives)
        {"silence": 4},
    ]}


def test_a_killed_worker_sends_its_callers_to_the_operators_frees_their_holds_and_spares_the_others(
        asterisk, tmp_path):
    url = f"sqlite:///{tmp_path / 'madoguchi.db'}"
    upgrade(url)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    day = datetime.now(ZoneInfo(TZ)).date() + timedelta(days=6)
    spec = BatchSpec(service="vaccine", site="市民会館", date_from=day, date_to=day, times=("10:00-11:00",),
                     every_minutes=30, capacity=5, timezone=TZ)
    run_in_transaction(factory, store.release_batch, spec, actor="e2e", now=datetime.now(UTC))
    port, http = free_port(), f"127.0.0.1:{free_port()}"
    env = {**os.environ, "MADOGUCHI_DB": url, "MADOGUCHI_HTTP": http, "MADOGUCHI_AUDIOSOCKET": f"127.0.0.1:{port}",
           "MADOGUCHI_AMI": f"{asterisk.ami_host}:{asterisk.ami_port}", "MADOGUCHI_AMI_USER": asterisk.ami_user,
           "MADOGUCHI_AMI_SECRET": asterisk.ami_secret, "MADOGUCHI_PERSON_KEY": "e2e-killed-worker-key",
           "MADOGUCHI_API_TOKENS": f"staff:{TOKEN}", "MADOGUCHI_MODELS_DIR": str(ROOT / "asr_models"),
           "MADOGUCHI_PROMPT_CACHE_DIR": str(tmp_path / "prompts"), "MADOGUCHI_ASR_BACKEND": "whisper",
           "MADOGUCHI_DIALOG_SCRIPT": str(ROOT / "dialogs" / "scripts" / "vaccine.yaml"),
           "MADOGUCHI_TIMEZONE": TZ, "MADOGUCHI_HOLD_TTL_SECONDS": str(HOLD_TTL), "MADOGUCHI_TTS_PROCESSES": "1"}
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        serve = subprocess.Popen([str(Path(sys.executable).with_name("ivr")), "serve", "--workers", "2"], env=env,
                                 stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 240
        while log_path.read_text(errors="replace").count("IVR listening for AudioSocket") < 2:
            assert serve.poll() is None and time.monotonic() < deadline, log_path.read_text(errors="replace")[-3000:]
            time.sleep(0.5)
        child = int(re.search(r"IVR worker 1 started \(pid (\d+)\)", log_path.read_text()).group(1))
        outcome = asyncio.run(_calls(asterisk, port, day, serve.pid, child, factory))
        killed, survived = outcome
        # The killed calls' holds: still counted until their TTL passes, then swept.
        start = day_start(day)
        later = datetime.now(UTC) + timedelta(seconds=HOLD_TTL + 1)
        slots = run_in_transaction(factory, store.list_slots, "vaccine", start, start + timedelta(days=1), now=later)
        assert sum(s.held for s in slots) == 0, "a killed call's hold is not free after its TTL"
        assert sum(s.booked for s in slots) == survived, "the surviving worker's callers booked"
        request = urllib.request.Request(f"http://{http}/api/v1/calls", headers={"Authorization": f"Bearer {TOKEN}"})
        for _ in range(50):
            with urllib.request.urlopen(request, timeout=10) as answer:
                live = answer.read().decode()
            if '"items":[]' in live.replace(" ", ""):
                break
            time.sleep(0.2)
        assert '"items":[]' in live.replace(" ", ""), f"the dashboard keeps the dead worker's calls: {live}"
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            serve.wait(60)
        except subprocess.TimeoutExpired:
            serve.kill()
        engine.dispose()
        print(log_path.read_text(errors="replace")[-4000:])


async def _calls(asterisk, port: int, day, parent: int, child: int, factory) -> tuple[int, int]:
    """Place calls until each worker has one (at most 8); kill the child once all hold a place.
    Returns (calls of the killed worker, calls of the survivor)."""
    async with asterisk.ami() as ami:
        events = EventLog(ami)
        previous = asterisk.runtime.config.audiosocket  # the session's `stack` IVR, which later tests call
        await asterisk.point_audiosocket(ami, "127.0.0.1", port)
        await asterisk.add_operator(ami)
        sim = CallerSimulator(ami, lambda voice: None, config=SimulatorConfig(call_timeout=150))
        await sim.start()
        try:
            calls: list[asyncio.Task] = []
            for number in range(8):
                ticket = f"{uuid.uuid4().int % 9_000_000_000 + 1_000_000_000}"
                calls.append(asyncio.create_task(sim.call(parse_scenario(scenario(ticket, day, "1030")))))
                async with asyncio.timeout(30):
                    while sum(audiosocket_connections(p, port) for p in (parent, child)) < number + 1:
                        await asyncio.sleep(0.1)
                if audiosocket_connections(parent, port) and audiosocket_connections(child, port):
                    break
            on_child, on_parent = audiosocket_connections(child, port), audiosocket_connections(parent, port)
            if not (on_child and on_parent):  # SO_REUSEPORT hashes each connection: 1 run in 128
                pytest.skip(f"the kernel gave all {len(calls)} calls to one worker")

            def live_holds() -> int:
                start = day_start(day)
                slots = run_in_transaction(factory, store.list_slots, "vaccine", start, start + timedelta(days=1),
                                           now=datetime.now(UTC))
                return sum(s.held for s in slots)

            async with asyncio.timeout(120):
                while await asyncio.to_thread(live_holds) < len(calls):
                    await asyncio.sleep(0.2)
            os.kill(child, signal.SIGKILL)
            async with asyncio.timeout(20):  # the killed worker's callers join the operators' queue
                while sum(1 for m in events.events if m.event == "QueueCallerJoin"
                          and m.get("Queue") == OPERATOR_QUEUE) < on_child:
                    await asyncio.sleep(0.1)
            results = await asyncio.gather(*calls)
            assert all(r.ended_by for r in results)
            return on_child, on_parent
        finally:
            await asterisk.remove_operator(ami)
            await sim.close()
            host, _, previous_port = previous.rpartition(":")
            await asterisk.point_audiosocket(ami, host, int(previous_port))

