"""Engine and session factories (no globals), retrying transactions, migrations.

SQLite: WAL, busy_timeout, foreign keys, and `BEGIN IMMEDIATE` for every transaction, so that
concurrent writers queue on the database lock instead of failing half-way. PostgreSQL: psycopg 3,
READ COMMITTED, `pool_pre_ping`, a lock timeout (retried) and an idle-in-transaction timeout so
that a hung process cannot keep slot rows locked. The caller owns the transaction:
`run_in_transaction` is the usual way to run store functions.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

T = TypeVar("T")

SQLITE_BUSY_MS = 30_000
READ_ONLY_OPTION = "madoguchi_read_only"
PG_LOCK_TIMEOUT_MS = 15_000
PG_IDLE_TX_MS = 60_000
MIGRATION_LOCK = 0x6D61646F  # "mado"
RETRYABLE_SQLSTATES = {"40001", "40P01", "55P03", "57P01", "57P02", "57P03", "08000", "08003", "08006"}


def normalize_url(url: str) -> str:
    """`postgresql://` and `postgres://` mean psycopg 3; anything else is taken as given."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1) if url.startswith("postgres://") else url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, *, pool: str = "queue", echo: bool = False, busy_timeout_ms: int = SQLITE_BUSY_MS,
                **kw: Any) -> Engine:
    """An engine for `url` (SQLite file or PostgreSQL). `pool="null"` opens one connection per use;
    `busy_timeout_ms` is how long a SQLite writer waits for the lock before failing (retryably)."""
    url = normalize_url(url)
    parsed = make_url(url)
    if pool == "null":
        kw["poolclass"] = NullPool
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database, busy_timeout_ms, echo=echo, **kw)
    if parsed.get_backend_name() == "postgresql":
        # A process that hangs inside a transaction must not block the slot rows it locked for ever.
        options = f"-c lock_timeout={PG_LOCK_TIMEOUT_MS} -c idle_in_transaction_session_timeout={PG_IDLE_TX_MS}"
        kw.setdefault("connect_args", {}).setdefault("options", options)
        return create_engine(url, echo=echo, pool_pre_ping=True, **kw)
    raise ValueError(f"unsupported database URL {parsed.render_as_string()!r} (use sqlite:/// or postgresql+psycopg://)")


def _sqlite_engine(url: str, database: str | None, busy_timeout_ms: int, **kw: Any) -> Engine:
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    connect_args = {"timeout": busy_timeout_ms / 1000, "check_same_thread": False, **kw.pop("connect_args", {})}
    engine = create_engine(url, connect_args=connect_args, **kw)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        deferred = connection.get_execution_options().get(READ_ONLY_OPTION, False)
        connection.exec_driver_sql("BEGIN DEFERRED" if deferred else "BEGIN IMMEDIATE")

    return engine


def make_sessionmaker(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    """The session factory of a process; objects stay readable after commit.

    `read_only=True` is for sessions that only read and may stay open a while (a dashboard
    stream): on SQLite they begin DEFERRED and so never hold the write lock. Store functions that
    sweep expired holds write, so they belong in ordinary sessions.
    """
    bind = engine.execution_options(**{READ_ONLY_OPTION: True}) if read_only else engine
    return sessionmaker(bind, expire_on_commit=False)


def is_retryable(error: BaseException) -> bool:
    """A dropped connection, a serialization failure or deadlock, or SQLite being busy."""
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate in RETRYABLE_SQLSTATES:
        return True
    if isinstance(error, OperationalError):
        text = str(error.orig).lower()
        return any(s in text for s in ("database is locked", "database is busy", "connection", "server closed", "terminat"))
    return False


def run_in_transaction(
    factory: sessionmaker[Session],
    fn: Callable[..., T],
    *args: Any,
    attempts: int = 6,
    backoff: float = 0.1,
    **kw: Any,
) -> T:
    """`fn(session, *args, **kw)` in one transaction, committed; retried when `is_retryable`.

    With the default 6 attempts and exponential backoff (0.1 s doubling, jittered) a database that
    goes away for about three seconds loses nothing. Store errors are never retried.
    """
    for attempt in range(1, attempts + 1):
        try:
            with factory() as session, session.begin():
                return fn(session, *args, **kw)
        except DBAPIError as error:
            if attempt == attempts or not is_retryable(error):
                raise
            delay = backoff * 2 ** (attempt - 1) * (0.5 + random.random())
            log.warning("transaction failed (%s), retry %d in %.2fs", type(error.orig).__name__, attempt, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


def alembic_config(url: str) -> Any:
    """The Alembic configuration, built in code: migrations ship inside the package."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "slots:migrations")
    config.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Apply the migrations up to `revision` (idempotent)."""
    from alembic import command

    engine = make_engine(url, pool="null")
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":  # several processes starting at once: one migrates
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()
