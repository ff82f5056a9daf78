"""Child processes of `ivr serve` and their supervision.

`--workers N`: N-1 IVR children (`IvrWorkers`), each `ivr serve --ivr-only`: one more IVR runtime
with its own AMI client, on the same database and the same AudioSocket port (SO_REUSEPORT: the
kernel spreads the calls). `--http-processes K`: K-1 HTTP children (`HttpProcesses`), each `ivr
serve --http-only` on the same HTTP port (`ivr.service.parent_proxy` says what they answer).

`stop()` sends each SIGTERM (an IVR child drains its calls and releases their holds) and kills one
that hangs; a child that dies is restarted, a bounded number of times. A child also stops when its
stdin (a pipe from the parent) closes, so it never outlives a killed parent; its events (and an HTTP
child's metric counts) come back over a pipe (`ivr.service.event_pipe`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable

from ivr.config import Settings, parse_host_port
from ivr.events import EventBus
from ivr.service.event_pipe import relay_events

logger = logging.getLogger(__name__)

MAX_RESTARTS = 5  # per child process; then it stays down (logged)
STOP_MARGIN_SECONDS = 15.0  # beyond the drain grace, before a child that does not stop is killed


def child_env(settings: Settings, **overrides: str) -> dict[str, str]:
    """A child's environment: the parent's, with the effective settings on top (in the environment
    rather than argv: a database URL may carry a password). The parent's keys go too, even ones
    generated for this run, so that every process hashes ticket numbers and signs cookies alike."""
    env = {**os.environ, "MADOGUCHI_DB": settings.db, "MADOGUCHI_PERSON_KEY": settings.person_key_bytes().decode()}
    if settings.session_secret is not None:
        env["MADOGUCHI_SESSION_SECRET"] = settings.session_secret.get_secret_value()
    return {**env, **overrides}


class ChildProcesses:
    """`count` children `ivr serve ARGS` of one kind (`label` names them in the log)."""

    def __init__(self, label: str, args: list[str], env: dict[str, str], count: int, *, bus: EventBus,
                 grace: float, on_other: Callable[[object], None] | None = None) -> None:
        self.label = label
        self.command = [sys.executable, "-c", "from ivr.cli import main; main()", "serve", *args]
        self.env = env
        self.count = count
        self.bus = bus
        self.on_other = on_other
        self.grace = grace
        self.processes: dict[int, asyncio.subprocess.Process] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._keep(index), name=f"{self.label} {index}")
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
            relay = asyncio.create_task(relay_events(events_read, self.bus, self.on_other),
                                        name=f"{self.label} {index} events")
            self.processes[index] = process
            logger.info("%s %d started (pid %d)", self.label, index, process.pid)
            if self._stopping.is_set():  # stop() came while it was being started
                self._terminate(process)
            code = await process.wait()
            with contextlib.suppress(TimeoutError):  # ends at the pipe's EOF, when the child is gone
                await asyncio.wait_for(asyncio.shield(relay), timeout=5.0)
            relay.cancel()
            if self._stopping.is_set():
                logger.info("%s %d stopped (exit %d)", self.label, index, code)
                return
            if restarts >= MAX_RESTARTS:
                logger.error("%s %d exited with %d; not restarting it again (%d restarts)",
                             self.label, index, code, restarts)
                return
            restarts += 1
            logger.error("%s %d exited with %d; restarting it (%d/%d)", self.label, index, code, restarts,
                         MAX_RESTARTS)
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
                logger.error("%s pid %d did not stop in time; killing it", self.label, process.pid)
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class IvrWorkers(ChildProcesses):
    """`count` children, each `ivr serve --ivr-only` on the shared AudioSocket port."""

    def __init__(self, settings: Settings, count: int, *, audiosocket_port: int, bus: EventBus) -> None:
        host, _ = parse_host_port(settings.audiosocket)
        env = child_env(settings, MADOGUCHI_AMI=settings.ami, MADOGUCHI_AUDIOSOCKET=f"{host}:{audiosocket_port}",
                        MADOGUCHI_MAX_CALLS=str(settings.max_calls))
        super().__init__("IVR worker", ["--ivr-only"], env, count, bus=bus, grace=settings.shutdown_grace_seconds)


class HttpProcesses(ChildProcesses):
    """`count` children, each `ivr serve --http-only` on the shared HTTP port; what they do not answer
    themselves they forward to `parent_socket`; their metric counts go to `on_other`."""

    def __init__(self, settings: Settings, count: int, *, http_port: int, parent_socket: str, bus: EventBus,
                 on_other: Callable[[object], None]) -> None:
        host, _ = parse_host_port(settings.http)
        env = child_env(settings, MADOGUCHI_HTTP=f"{host}:{http_port}")
        super().__init__("HTTP process", ["--http-only", "--parent-socket", parent_socket], env, count, bus=bus,
                         grace=settings.shutdown_grace_seconds, on_other=on_other)
