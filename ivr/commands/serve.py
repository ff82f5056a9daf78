"""`ivr serve`: the service in the foreground. Migrates the database, then serves until SIGTERM/SIGINT.

`run_service(settings)` is the one place where the running service is composed (store, event bus,
live projection, HTTP API, IVR runtime). A first SIGTERM or SIGINT stops gracefully (exit 0); a
second one stops at once.

`--workers N`: the main process keeps the HTTP API and one IVR runtime; N-1 child processes
(`ivr serve --ivr-only`, hidden, `run_ivr_only`) each run one more IVR runtime. Their supervision is
`ivr.service.workers`; each forwards its event bus to the parent's (`ivr.service.event_pipe`), so the
live dashboard and /metrics see every worker's calls.

`--http-processes K`: K-1 more child processes (`ivr serve --http-only`, hidden, `run_http_only`)
listen on the same HTTP port (SO_REUSEPORT). Each answers the API's slots, holds and bookings and
the residents' site itself, and forwards every other request to the main process over a private Unix
socket (`ivr.service.parent_proxy`), so the dashboard's live views, the chat's conversations and the
AMI stay in one process; their metric counts reach the main process's /metrics.

Several nodes (`ivr serve` on several machines or ports) on one PostgreSQL share their events
through LISTEN/NOTIFY (`ivr.service.pg_events`, started here in the main process), so the dashboard
and API of any node show every node's calls and operator queues; each node admits its own calls
(`--max-calls` per process) and counts only its own in /metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator

import anyio.to_thread
import click
import uvicorn
from pydantic import SecretStr

from ivr.app import create_app, local_node
from ivr.commands import with_overrides
from ivr.config import ConfigError, Settings, parse_host_port
from ivr.events import EventBus
from ivr.live import LiveCalls
from ivr.metrics import Metrics
from ivr.nodes import Nodes
from ivr.operator_hours import parse_hours
from ivr.privacy import redact_access_log
from ivr.runtime import IvrRuntime
from ivr.service.event_pipe import forward_events
from ivr.service.metric_pipe import MetricsToParent, count_into
from ivr.service.parent_proxy import PeerFromChild, ToParent
from ivr.service.pg_events import PgEvents, libpq_dsn
from ivr.service.workers import HttpProcesses, IvrWorkers
from slots.db import make_engine, make_sessionmaker, upgrade

logger = logging.getLogger(__name__)

THREADS_PER_WORKER = 16  # threads running blocking store calls, per `--workers`
#: connections kept open: one per store thread, so that a burst of requests does not open and close a
#: connection (a PostgreSQL backend) per transaction beyond SQLAlchemy's default 5; the IVR's own store
#: calls and the dashboard's streams take the overflow
POOL_SIZE, POOL_OVERFLOW = THREADS_PER_WORKER, 10


def pool_options(url: str) -> dict[str, int]:
    """The connection pool of the service's engine: sized on PostgreSQL (SQLite connections are cheap
    to open and an in-memory database has no such pool)."""
    return {"pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW} if url.startswith(("postgresql", "postgres:")) else {}


class ApiServer(uvicorn.Server):
    """uvicorn without its own signal handling: `run_service` owns SIGTERM/SIGINT (and exits 0)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def listen(address: str, *, reuse_port: bool = False) -> socket.socket:
    """The HTTP socket, made with protocol IPPROTO_TCP: asyncio sets TCP_NODELAY only on accepted
    sockets whose protocol says TCP (`socket.create_server` leaves it 0). Without it a response's
    second write (the body after the headers) waits on a kept-alive connection for the client's
    delayed ACK: about 40 ms per request after a connection's first. `reuse_port`: shared with the
    other HTTP processes (`--http-processes`)."""
    host, port = parse_host_port(address)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as socket.create_server does on POSIX
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen()
    except OSError as error:
        sock.close()
        raise click.ClickException(f"cannot listen on {address}: {error.strerror}") from None
    return sock


def _on_signals(loop: asyncio.AbstractEventLoop, handler: Callable[[signal.Signals], None]) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, handler, sig)


async def start_runtime(runtime: IvrRuntime) -> None:
    """Start the IVR; a missing model or script or a busy port stops here, with one clear line."""
    try:
        await runtime.start()
    except (OSError, RuntimeError, ValueError) as error:
        await runtime.stop(grace=0)
        raise click.ClickException(f"cannot start the IVR: {error}") from None


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
        engine = make_engine(settings.db, **pool_options(settings.db))
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


def event_sharing(settings: Settings, nodes: Nodes, bus: EventBus, runtime: IvrRuntime) -> PgEvents | None:
    """The events shared with the other nodes on the same PostgreSQL; None on SQLite or when
    MADOGUCHI_SHARE_EVENTS is off."""
    dsn = libpq_dsn(settings.db) if settings.share_events else None
    if dsn is None:
        return None

    def queues():
        view = getattr(runtime.ami, "queues", None)
        return view.snapshot() if view is not None else {}

    return PgEvents(dsn, nodes, bus, queue_snapshot=queues)


async def _run(settings: Settings, factory, http_socket: socket.socket | None, stopping: asyncio.Event,
               servers: list[ApiServer]) -> None:
    """The running service: IVR runtime and HTTP API (and the events shared with the other nodes on
    the same PostgreSQL), until `stopping` is set."""
    bus = EventBus()
    bus.bind(asyncio.get_running_loop())
    nodes = local_node(settings)
    live = LiveCalls(node=nodes.name)
    # The IVR: AudioSocket server, AMI client (retrying in the background) and the call sessions.
    runtime = IvrRuntime(settings, sessionmaker=factory, bus=bus, reuse_port=settings.workers > 1)
    sharing = event_sharing(settings, nodes, bus, runtime)
    if sharing is not None:  # first: every event of this node from its first call goes out
        await sharing.start()
    try:
        await _serve(settings, factory, http_socket, stopping, servers, bus, live, nodes, runtime)
    finally:
        if sharing is not None:  # last: the calls drained meanwhile have ended on the other nodes too
            await sharing.close()


def api_server(app, *, grace: float | None = None) -> ApiServer:
    """`grace`: seconds a stop waits for open answers (an extra HTTP process's forwarded live views end
    only when the main process stops, after it); None: until they end."""
    # proxy_headers off: uvicorn would believe X-Forwarded-For from 127.0.0.1; the dashboard's login
    # reads it only from MADOGUCHI_TRUSTED_PROXIES (ivr.web.auth.client_address)
    redact_access_log()  # booking codes and hold ids in URL paths never reach the log in clear
    return ApiServer(uvicorn.Config(app, log_config=None, lifespan="on", access_log=True, proxy_headers=False,
                                    timeout_graceful_shutdown=grace))


@contextlib.contextmanager
def children_socket(count: int) -> Iterator[socket.socket | None]:
    """The Unix socket on which the extra HTTP processes reach this one, in a directory only this
    user may enter; None without extra processes."""
    if count == 0:
        yield None
        return
    folder = tempfile.mkdtemp(prefix="madoguchi-http-")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(os.path.join(folder, "main.sock"))
        sock.listen()
        yield sock
    finally:
        sock.close()
        shutil.rmtree(folder, ignore_errors=True)


async def _serve(settings: Settings, factory, http_socket: socket.socket | None, stopping: asyncio.Event,
                 servers: list[ApiServer], bus: EventBus, live: LiveCalls, nodes: Nodes, runtime: IvrRuntime) -> None:
    await start_runtime(runtime)
    serving: asyncio.Task[None] | None = None
    workers = IvrWorkers(settings, settings.workers - 1, audiosocket_port=runtime.server.port, bus=bus)
    sock = http_socket or listen(settings.http, reuse_port=settings.http_processes > 1)
    metrics = Metrics(runtime.ami.queues.snapshot if runtime.ami is not None else None)
    with children_socket(settings.http_processes - 1) as inner:
        helpers = HttpProcesses(settings, settings.http_processes - 1, http_port=sock.getsockname()[1],
                                parent_socket=inner.getsockname() if inner else "", bus=bus,
                                on_other=count_into(metrics))
        try:
            if stopping.is_set():  # a signal while starting: stop without serving
                return
            workers.start()
            app = create_app(settings, sessionmaker=factory, bus=bus, live=live, ami=runtime.ami,
                             probes={"audiosocket": runtime.audiosocket_probe}, nodes=nodes, metrics=metrics)
            server = api_server(PeerFromChild(app) if inner else app)
            servers.append(server)
            serving = asyncio.create_task(server.serve(sockets=[sock, *([inner] if inner else [])]), name="http")
            host, port = sock.getsockname()[:2]
            logger.info("serving the API on http://%s:%d (docs at /docs)", host, port)
            helpers.start()
            stopper = asyncio.create_task(stopping.wait())
            await asyncio.wait({serving, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
        finally:
            # Stop accepting calls, let calls in progress finish (settings.shutdown_grace_seconds), release
            # their holds, close the AMI client (here and in every child, in parallel); then stop HTTP.
            await asyncio.gather(workers.stop(), runtime.stop(), helpers.stop())
        if serving is not None:
            servers[0].should_exit = True
            await serving


def _stop_with_parent(loop: asyncio.AbstractEventLoop, stopping: asyncio.Event) -> None:
    """A child's stop: SIGTERM/SIGINT, or its stdin (the parent's pipe) closing."""

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


async def run_http_only(settings: Settings, *, parent_socket: str, events_fd: int) -> None:
    """A child of `ivr serve --http-processes K`: the HTTP app on the shared port (no IVR, no
    migration); what it does not answer itself goes to the main process over `parent_socket`, its
    metric counts over the pipe `events_fd`. Stops like an IVR child."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    _stop_with_parent(loop, stopping)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per forwarded request, with its URL
    anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS_PER_WORKER
    engine = make_engine(settings.db, **pool_options(settings.db))
    try:
        app = create_app(settings, sessionmaker=make_sessionmaker(engine), bus=EventBus(),
                         metrics=MetricsToParent(events_fd))
        server = api_server(ToParent(app, parent_socket), grace=settings.shutdown_grace_seconds)
        serving = asyncio.create_task(server.serve(sockets=[listen(settings.http, reuse_port=True)]), name="http")
        stopper = asyncio.create_task(stopping.wait())
        await asyncio.wait({serving, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        server.should_exit = True
        await serving
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        engine.dispose()
        os.close(events_fd)
    logger.info("stopped")


async def run_ivr_only(settings: Settings, *, events_fd: int | None = None) -> None:
    """A child of `ivr serve --workers N`: one IVR runtime, no HTTP, no migration (the parent did it).

    Stops on SIGTERM/SIGINT or when stdin (the parent's pipe) closes: stop accepting calls, drain
    them within the grace time, release their holds.
    """
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    _stop_with_parent(loop, stopping)
    engine = make_engine(settings.db)
    bus = EventBus()
    bus.bind(loop)
    # the parent follows the line's events (admission, call-back requests); a worker only takes calls
    runtime = IvrRuntime(settings, sessionmaker=make_sessionmaker(engine), bus=bus, reuse_port=True, follow_line=False)
    forwarding = asyncio.create_task(forward_events(bus, events_fd)) if events_fd is not None else None
    try:
        await start_runtime(runtime)  # a child that cannot start exits; the parent logs it and restarts it
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
@click.option("--http-processes", type=click.IntRange(1, 64),
              help="Processes answering HTTP on the one port (MADOGUCHI_HTTP_PROCESSES; default 1): the extra ones "
                   "serve the API's slots, holds and bookings and /yoyaku/, the main process the rest.")
@click.option("--max-calls", type=click.IntRange(0),
              help="Calls taken at once per IVR process; more get a hangup (MADOGUCHI_MAX_CALLS; default 0: no limit).")
@click.option("--ivr-only", is_flag=True, hidden=True, help="Internal: one IVR worker process, no HTTP.")
@click.option("--http-only", is_flag=True, hidden=True, help="Internal: one extra HTTP process.")
@click.option("--parent-socket", hidden=True, help="Internal: the main process's Unix socket (with --http-only).")
@click.option("--events-fd", type=int, hidden=True, help="Internal: the pipe to forward events to.")
@click.pass_obj
def serve(settings: Settings, db_url, http, audiosocket, ami, workers, http_processes, max_calls, ivr_only,
          http_only, parent_socket, events_fd) -> None:
    """Run the service in the foreground (migrates the database first); SIGTERM/SIGINT stop it, exit 0."""
    settings = with_overrides(settings, db=db_url, http=http, audiosocket=audiosocket, ami=ami, workers=workers,
                              http_processes=http_processes, max_calls=max_calls)
    tag = " [%(process)d]" if ivr_only or http_only or settings.workers > 1 or settings.http_processes > 1 else ""
    logging.basicConfig(level=settings.log_level, stream=sys.stdout, force=True,
                        format=f"%(asctime)s{tag} %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    try:
        settings.tokens()  # a malformed MADOGUCHI_API_TOKENS or a missing key stops here, with its message
        settings = settings.with_person_key()  # one key for the API, the IVR and every worker process
        parse_hours(settings.operator_hours)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    if ivr_only:
        asyncio.run(run_ivr_only(settings, events_fd=events_fd))
        return
    if http_only:
        if parent_socket is None or events_fd is None:
            raise click.ClickException("--http-only needs --parent-socket and --events-fd")
        asyncio.run(run_http_only(settings, parent_socket=parent_socket, events_fd=events_fd))
        return
    if settings.http_processes > 1 and not (settings.session_secret and settings.session_secret.get_secret_value()):
        # one secret for this run, given to every HTTP process: the residents' and the dashboard's
        # cookies signed by one are read by the others
        settings = settings.model_copy(update={"session_secret": SecretStr(secrets.token_hex(32))})
    sock = listen(settings.http, reuse_port=settings.http_processes > 1)
    asyncio.run(run_service(settings, http_socket=sock))


commands = [serve]
