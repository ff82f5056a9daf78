"""`ivr serve`: the service in the foreground. Migrates the database, then serves until SIGTERM/SIGINT.

`run_service(settings)` is the one place where the running service is composed (store, event bus,
live projection, HTTP API, IVR runtime). A first SIGTERM or SIGINT stops gracefully (exit 0); a
second one stops at once.

`--workers N`: the main process keeps the HTTP API and one IVR runtime; N-1 child processes
(`ivr serve --ivr-only`, hidden) each run one more IVR runtime with its own AMI client, on the same
database and the same AudioSocket port (SO_REUSEPORT: the kernel spreads the calls). The parent
stops them with SIGTERM on its own stop (each drains its calls and releases their holds) and
restarts one that dies, a bounded number of times. A child also stops when its stdin (a pipe from
the parent) closes, so it never outlives a killed parent. Each child forwards its event bus to the
parent over a pipe (length-prefixed pickles, parent and child being the same program), and the
parent publishes them into its own bus: the live dashboard and /metrics see every worker's calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator

import anyio.to_thread
import click
import uvicorn

from ivr.api.app import create_app
from ivr.commands import with_overrides
from ivr.config import ConfigError, Settings, parse_host_port
from ivr.operator_hours import parse_hours
from ivr.events import Event, EventBus
from ivr.live import LiveCalls
from ivr.runtime import IvrRuntime
from slots.db import make_engine, make_sessionmaker, upgrade

logger = logging.getLogger(__name__)

THREADS_PER_WORKER = 16  # threads running blocking store calls, per `--workers`
MAX_RESTARTS = 5  # per child process; then it stays down (logged)
STOP_MARGIN_SECONDS = 15.0  # beyond the drain grace, before a child that does not stop is killed


class ApiServer(uvicorn.Server):
    """uvicorn without its own signal handling: `run_service` owns SIGTERM/SIGINT (and exits 0)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def listen(address: str) -> socket.socket:
    host, port = parse_host_port(address)
    try:
        return socket.create_server((host, port), reuse_port=False)
    except OSError as error:
        raise click.ClickException(f"cannot listen on {address}: {error.strerror}") from None


def _on_signals(loop: asyncio.AbstractEventLoop, handler: Callable[[signal.Signals], None]) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, handler, sig)


async def run_service(settings: Settings, *, http_socket: socket.socket | None = None) -> None:
    """Migrate, compose and run the service until a signal; returns after a graceful stop.

    The signal handlers come first, so that SIGTERM/SIGINT while migrating or loading the models
    also ends in a clean stop (exit 0) rather than the default kill.
    """
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    servers: list[ApiServer] = []  # the HTTP server once it exists: a second signal forces it down

    def on_signal(sig: signal.Signals) -> None:
        if stopping.is_set():
            logger.warning("%s again: stopping now", sig.name)
            for server in servers:
                server.force_exit = True
        else:
            logger.info("%s: stopping", sig.name)
        stopping.set()

    _on_signals(loop, on_signal)
    try:
        anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS_PER_WORKER
        await asyncio.to_thread(upgrade, settings.db)
        logger.info("database migrated")
        engine = make_engine(settings.db)
        try:
            await _run(settings, make_sessionmaker(engine), http_socket, stopping, servers)
        finally:
            engine.dispose()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        if http_socket is not None:
            http_socket.close()
    logger.info("stopped")


async def _run(settings: Settings, factory, http_socket: socket.socket | None, stopping: asyncio.Event,
               servers: list[ApiServer]) -> None:
    """The running service: IVR runtime and HTTP API, until `stopping` is set."""
    bus = EventBus()
    bus.bind(asyncio.get_running_loop())
    live = LiveCalls()
    # The IVR: AudioSocket server, AMI client (retrying in the background) and the call sessions.
    runtime = IvrRuntime(settings, sessionmaker=factory, bus=bus, reuse_port=settings.workers > 1)
    try:
        await runtime.start()
    except (OSError, RuntimeError, ValueError) as error:  # a missing model or script, a busy port
        await runtime.stop(grace=0)
        raise click.ClickException(f"cannot start the IVR: {error}") from None
    serving: asyncio.Task[None] | None = None
    workers = IvrWorkers(settings, settings.workers - 1, audiosocket_port=runtime.server.port, bus=bus)
    try:
        if stopping.is_set():  # a signal while starting: stop without serving
            return
        workers.start()
        app = create_app(settings, sessionmaker=factory, bus=bus, live=live, ami=runtime.ami,
                         probes={"audiosocket": runtime.audiosocket_probe})
        sock = http_socket or listen(settings.http)
        server = ApiServer(uvicorn.Config(app, log_config=None, lifespan="on", access_log=True))
        servers.append(server)
        serving = asyncio.create_task(server.serve(sockets=[sock]), name="http")
        host, port = sock.getsockname()[:2]
        logger.info("serving the API on http://%s:%d (docs at /docs)", host, port)
        stopper = asyncio.create_task(stopping.wait())
        await asyncio.wait({serving, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
    finally:
        # Stop accepting calls, let calls in progress finish (settings.shutdown_grace_seconds), release
        # their holds, close the AMI client (here and in every child, in parallel); then stop HTTP.
        await asyncio.gather(workers.stop(), runtime.stop())
    if serving is not None:
        servers[0].should_exit = True
        await serving


class IvrWorkers:
    """`count` child processes, each `ivr serve --ivr-only` on the shared AudioSocket port."""

    def __init__(self, settings: Settings, count: int, *, audiosocket_port: int, bus: EventBus) -> None:
        host, _ = parse_host_port(settings.audiosocket)
        self.command = [sys.executable, "-c", "from ivr.cli import main; main()", "serve", "--ivr-only"]
        # The children read their settings from this environment, with the effective addresses on top
        # (in the environment rather than argv: a database URL may carry a password).
        self.env = {**os.environ, "MADOGUCHI_DB": settings.db, "MADOGUCHI_AMI": settings.ami,
                    "MADOGUCHI_AUDIOSOCKET": f"{host}:{audiosocket_port}"}
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
            relay = asyncio.create_task(self._relay(events_read), name=f"ivr-worker-{index}-events")
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

    async def _relay(self, fd: int) -> None:
        """Publish into the parent's bus every event the child sends, until the pipe's EOF."""
        reader = asyncio.StreamReader()
        transport, _ = await asyncio.get_running_loop().connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0))
        try:
            while True:
                size = int.from_bytes(await reader.readexactly(4), "big")
                event = pickle.loads(await reader.readexactly(size))  # noqa: S301 - our own child process
                if isinstance(event, Event):
                    self.bus.publish(event)
        except asyncio.IncompleteReadError:
            pass
        finally:
            transport.close()

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


async def forward_events(bus: EventBus, fd: int) -> None:
    """A child's side of the event relay: every event of its bus, length-prefixed, into pipe `fd`."""
    transport, _ = await asyncio.get_running_loop().connect_write_pipe(
        asyncio.Protocol, os.fdopen(fd, "wb", buffering=0))

    def send(event: Event) -> None:
        if not transport.is_closing():  # the parent is gone: nobody to tell
            data = pickle.dumps(event)
            transport.write(len(data).to_bytes(4, "big") + data)

    try:
        async with bus.subscribe() as queue:
            try:
                while True:
                    send(await queue.get())
            finally:  # cancelled at the end: what is queued still goes out
                while not queue.empty():
                    send(queue.get_nowait())
    finally:
        transport.close()


async def run_ivr_only(settings: Settings, *, events_fd: int | None = None) -> None:
    """A child of `ivr serve --workers N`: one IVR runtime, no HTTP, no migration (the parent did it).

    Stops on SIGTERM/SIGINT or when stdin (the parent's pipe) closes: stop accepting calls, drain
    them within the grace time, release their holds.
    """
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()

    def on_signal(sig: signal.Signals) -> None:
        if not stopping.is_set():
            logger.info("%s: stopping", sig.name)
        stopping.set()

    def watch_parent() -> None:
        with contextlib.suppress(OSError):
            while os.read(0, 4096):  # unbuffered: no stdin lock held by this daemon thread at exit
                pass
        loop.call_soon_threadsafe(stopping.set)

    _on_signals(loop, on_signal)
    threading.Thread(target=watch_parent, name="parent-watch", daemon=True).start()
    engine = make_engine(settings.db)
    bus = EventBus()
    bus.bind(loop)
    runtime = IvrRuntime(settings, sessionmaker=make_sessionmaker(engine), bus=bus, reuse_port=True)
    forwarding = asyncio.create_task(forward_events(bus, events_fd)) if events_fd is not None else None
    try:
        try:
            await runtime.start()
        except (OSError, RuntimeError, ValueError) as error:  # the parent logs the exit and restarts it
            await runtime.stop(grace=0)
            raise click.ClickException(f"cannot start the IVR: {error}") from None
        await stopping.wait()
        await runtime.stop()
    finally:
        if forwarding is not None:
            for _ in range(3):  # events published from threads while draining reach the queue first
                await asyncio.sleep(0)
            forwarding.cancel()
            await asyncio.gather(forwarding, return_exceptions=True)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        engine.dispose()
    logger.info("stopped")


@click.command("serve")
@click.option("--db", "db_url", metavar="URL", help="Database URL (MADOGUCHI_DB; default sqlite:///var/madoguchi.db).")
@click.option("--http", metavar="HOST:PORT", help="HTTP API address (MADOGUCHI_HTTP; default 127.0.0.1:8080).")
@click.option("--audiosocket", metavar="HOST:PORT", help="AudioSocket address (MADOGUCHI_AUDIOSOCKET).")
@click.option("--ami", metavar="HOST:PORT", help="Asterisk manager address (MADOGUCHI_AMI).")
@click.option("--workers", type=click.IntRange(1, 64),
              help="IVR processes sharing the AudioSocket port and the database (MADOGUCHI_WORKERS; default 1).")
@click.option("--ivr-only", is_flag=True, hidden=True, help="Internal: one IVR worker process, no HTTP.")
@click.option("--events-fd", type=int, hidden=True, help="Internal: the pipe to forward events to.")
@click.pass_obj
def serve(settings: Settings, db_url, http, audiosocket, ami, workers, ivr_only, events_fd) -> None:
    """Run the service in the foreground (migrates the database first); SIGTERM/SIGINT stop it, exit 0."""
    settings = with_overrides(settings, db=db_url, http=http, audiosocket=audiosocket, ami=ami, workers=workers)
    tag = " [%(process)d]" if ivr_only or settings.workers > 1 else ""
    logging.basicConfig(level=settings.log_level, stream=sys.stdout, force=True,
                        format=f"%(asctime)s{tag} %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    try:
        settings.tokens()  # a malformed MADOGUCHI_API_TOKENS or a missing key stops here, with its message
        settings.person_key_bytes()
        parse_hours(settings.operator_hours)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    if ivr_only:
        asyncio.run(run_ivr_only(settings, events_fd=events_fd))
        return
    sock = listen(settings.http)
    asyncio.run(run_service(settings, http_socket=sock))


commands = [serve]
