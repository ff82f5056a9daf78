"""`ivr serve`: the service in the foreground. Migrates the database, then serves until SIGTERM/SIGINT.

`run_service(settings)` is the one place where the running service is composed (store, event bus,
live projection, HTTP API, IVR runtime). A first SIGTERM or SIGINT stops gracefully (exit 0); a
second one stops at once.

`--workers N`: the main process keeps the HTTP API and one IVR runtime; N-1 child processes
(`ivr serve --ivr-only`, hidden) each run one more IVR runtime with its own AMI client, on the same
database and the same AudioSocket port (SO_REUSEPORT: the kernel spreads the calls). The parent
stops them with SIGTERM on its own stop (each drains its calls and releases their holds) and
restarts one that dies, a bounded number of times. A child also stops when its stdin (a pipe from
the parent) closes, so it never outlives a killed parent. Known limit: the calls a child handles
publish to the child's own event bus, so they are not on the parent's live dashboard or /metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
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
from ivr.events import EventBus
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
    workers = IvrWorkers(settings, settings.workers - 1, audiosocket_port=runtime.server.port)
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

    def __init__(self, settings: Settings, count: int, *, audiosocket_port: int) -> None:
        host, _ = parse_host_port(settings.audiosocket)
        # The children read the rest of their settings from the same environment as this process.
        self.command = [sys.executable, "-c", "from ivr.cli import main; main()", "serve", "--ivr-only",
                        "--db", settings.db, "--audiosocket", f"{host}:{audiosocket_port}", "--ami", settings.ami]
        self.count = count
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
            # Its own process group: a terminal's Ctrl-C reaches the parent only, which stops it once.
            process = await asyncio.create_subprocess_exec(*self.command, stdin=asyncio.subprocess.PIPE,
                                                           process_group=0)
            self.processes[index] = process
            logger.info("IVR worker %d started (pid %d)", index, process.pid)
            if self._stopping.is_set():  # stop() came while it was being started
                self._terminate(process)
            code = await process.wait()
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


async def run_ivr_only(settings: Settings) -> None:
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
    try:
        try:
            await runtime.start()
        except (OSError, RuntimeError, ValueError) as error:  # the parent logs the exit and restarts it
            await runtime.stop(grace=0)
            raise click.ClickException(f"cannot start the IVR: {error}") from None
        await stopping.wait()
        await runtime.stop()
    finally:
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
@click.pass_obj
def serve(settings: Settings, db_url, http, audiosocket, ami, workers, ivr_only) -> None:
    """Run the service in the foreground (migrates the database first); SIGTERM/SIGINT stop it, exit 0."""
    settings = with_overrides(settings, db=db_url, http=http, audiosocket=audiosocket, ami=ami, workers=workers)
    tag = " [%(process)d]" if ivr_only or settings.workers > 1 else ""
    logging.basicConfig(level=settings.log_level, stream=sys.stdout, force=True,
                        format=f"%(asctime)s{tag} %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    try:
        settings.tokens()  # a malformed MADOGUCHI_API_TOKENS or a missing key stops here, with its message
        settings.person_key_bytes()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    if ivr_only:
        asyncio.run(run_ivr_only(settings))
        return
    sock = listen(settings.http)
    asyncio.run(run_service(settings, http_socket=sock))


commands = [serve]
