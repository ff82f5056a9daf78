"""Worker supervision for `ivr serve --workers N`: N-1 child processes, each `ivr serve --ivr-only`.

Each child runs one more IVR runtime with its own AMI client, on the same database and the same
AudioSocket port (SO_REUSEPORT: the kernel spreads the calls). `stop()` sends each SIGTERM (it drains
its calls and releases their holds) and kills one that hangs; a child that dies is restarted, a
bounded number of times. A child also stops when its stdin (a pipe from the parent) closes, so it
never outlives a killed parent; its events come back over a pipe (`ivr.service.event_pipe`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys

from ivr.config import Settings, parse_host_port
from ivr.events import EventBus
from ivr.service.event_pipe import relay_events

logger = logging.getLogger(__name__)

MAX_RESTARTS = 5  # per child process; then it stays down (logged)
STOP_MARGIN_SECONDS = 15.0  # beyond the drain grace, before a child that does not stop is killed


class IvrWorkers:
    """`count` child processes, each `ivr serve --ivr-only` on the shared AudioSocket port."""

    def __init__(self, settings: Settings, count: int, *, audiosocket_port: int, bus: EventBus) -> None:
        host, _ = parse_host_port(settings.audiosocket)
        self.command = [sys.executable, "-c", "from ivr.cli import main; main()", "serve", "--ivr-only"]
        # The children read their settings from this environment, with the effective addresses on top
        # (in the environment rather than argv: a database URL may carry a password).
        self.env = {**os.environ, "MADOGUCHI_DB": settings.db, "MADOGUCHI_AMI": settings.ami,
                    "MADOGUCHI_AUDIOSOCKET": f"{host}:{audiosocket_port}", "MADOGUCHI_MAX_CALLS": str(settings.max_calls),
                    # the parent's key, even one generated for this run: every worker hashes alike
                    "MADOGUCHI_PERSON_KEY": settings.person_key_bytes().decode()}
        self.count = count
        self.bus = bus
        self.grace = settings.shutdown_grace_seconds
        self.processes: dict[int, asyncio.subprocess.Process] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._keep(index), name=f"ivr-worker-{index}")
                       for index in range(1, self.count + 1)]

    async def _keep(self, index: int) -> None:
        """Run child `index`; restart it when it dies, at most MAX_RESTARTS times."""
        restarts = 0
        while not self._stopping.is_set():
            events_read, events_write = os.pipe()
            try:
                # Its own process group: a terminal's Ctrl-C reaches the parent only, which stops it once.
                process = await asyncio.create_subprocess_exec(
                    *self.command, "--events-fd", str(events_write), stdin=asyncio.subprocess.PIPE,
                    env=self.env, pass_fds=(events_write,), process_group=0)
            except BaseException:
                os.close(events_read)
                raise
            finally:
                os.close(events_write)
            relay = asyncio.create_task(relay_events(events_read, self.bus),
                                        name=f"ivr-worker-{index}-events")
            self.processes[index] = process
            logger.info("IVR worker %d started (pid %d)", index, process.pid)
            if self._stopping.is_set():  # stop() came while it was being started
                self._terminate(process)
            code = await process.wait()
            with contextlib.suppress(TimeoutError):  # ends at the pipe's EOF, when the child is gone
                await asyncio.wait_for(asyncio.shield(relay), timeout=5.0)
            relay.cancel()
            if self._stopping.is_set():
                logger.info("IVR worker %d stopped (exit %d)", index, code)
                return
            if restarts >= MAX_RESTARTS:
                logger.error("IVR worker %d exited with %d; not restarting it again (%d restarts)",
                             index, code, restarts)
                return
            restarts += 1
            logger.error("IVR worker %d exited with %d; restarting it (%d/%d)", index, code, restarts, MAX_RESTARTS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=min(2.0 ** restarts, 30.0))

    @staticmethod
    def _terminate(process: asyncio.subprocess.Process) -> None:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)

    async def stop(self) -> None:
        """SIGTERM every child (each drains its calls within the grace time); kill one that hangs."""
        self._stopping.set()
        for process in self.processes.values():
            self._terminate(process)
        if not self._tasks:
            return
        _, late = await asyncio.wait(self._tasks, timeout=self.grace + STOP_MARGIN_SECONDS)
        for process in self.processes.values():
            if process.returncode is None:
                logger.error("IVR worker pid %d did not stop in time; killing it", process.pid)
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
        await asyncio.gather(*self._tasks, return_exceptions=True)
