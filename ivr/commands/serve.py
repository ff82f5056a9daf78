"""`ivr serve`: the service in the foreground. Migrates the database, then serves until SIGTERM/SIGINT.

`run_service(settings)` is the one place where the running service is composed (store, event bus,
live projection, HTTP API). For now it serves the API only: the AudioSocket server, the AMI client
and the call sessions join it here (see the `integration:` notes), and /healthz reports them
`disabled` until then. A first SIGTERM or SIGINT stops gracefully (exit 0); a second one stops
at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
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
        anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS_PER_WORKER * max(1, settings.workers)
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
    runtime = IvrRuntime(settings, sessionmaker=factory, bus=bus)
    try:
        await runtime.start()
    except (OSError, RuntimeError, ValueError) as error:  # a missing model or script, a busy port
        await runtime.stop(grace=0)
        raise click.ClickException(f"cannot start the IVR: {error}") from None
    serving: asyncio.Task[None] | None = None
    try:
        if stopping.is_set():  # a signal while starting: stop without serving
            return
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
        # their holds, close the AMI client; then stop HTTP.
        await runtime.stop()
    if serving is not None:
        servers[0].should_exit = True
        await serving


@click.command("serve")
@click.option("--db", "db_url", metavar="URL", help="Database URL (MADOGUCHI_DB; default sqlite:///var/madoguchi.db).")
@click.option("--http", metavar="HOST:PORT", help="HTTP API address (MADOGUCHI_HTTP; default 127.0.0.1:8080).")
@click.option("--audiosocket", metavar="HOST:PORT", help="AudioSocket address (MADOGUCHI_AUDIOSOCKET).")
@click.option("--ami", metavar="HOST:PORT", help="Asterisk manager address (MADOGUCHI_AMI).")
@click.option("--workers", type=click.IntRange(1, 64), help=f"{THREADS_PER_WORKER} store threads each (MADOGUCHI_WORKERS).")
@click.pass_obj
def serve(settings: Settings, db_url, http, audiosocket, ami, workers) -> None:
    """Run the service in the foreground (migrates the database first); SIGTERM/SIGINT stop it, exit 0."""
    settings = with_overrides(settings, db=db_url, http=http, audiosocket=audiosocket, ami=ami, workers=workers)
    logging.basicConfig(level=settings.log_level, stream=sys.stdout, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    try:
        settings.tokens()  # a malformed MADOGUCHI_API_TOKENS or a missing key stops here, with its message
        settings.person_key_bytes()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    sock = listen(settings.http)
    asyncio.run(run_service(settings, http_socket=sock))


commands = [serve]
