"""Engine factory, retries and migrations."""

from __future__ import annotations

import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import inspect, text
from sqlalchemy.exc import OperationalError

from slots import store
from slots.db import is_retryable, make_engine, make_sessionmaker, normalize_url, run_in_transaction, upgrade
from slots.models import Base
from slotkit import EVER, NOW, person, spec


def test_migrations_match_the_models(engine):
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_upgrade_is_idempotent_and_creates_the_partial_index(db_url, engine):
    upgrade(db_url)
    indexes = {i["name"]: i for i in inspect(engine).get_indexes("bookings")}
    assert indexes["uq_bookings_active_person_check"]["unique"]
    assert indexes["uq_bookings_active_person_check"]["column_names"] == ["service", "person_check"]
    assert "uq_bookings_active_person" not in indexes  # per ticket alone: it revealed bookings


def test_sqlite_engine_settings(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'sub' / 'x.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    engine.dispose()


def test_urls():
    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("sqlite:///var/x.db") == "sqlite:///var/x.db"
    with pytest.raises(ValueError):
        make_engine("mysql://u@h/db")


def test_store_errors_are_not_retried(Session, slots_of):
    calls = []
    slot = slots_of(capacity=1)[0]
    run_in_transaction(Session, store.book, slot.id, person(1), channel="web", now=NOW)

    def attempt(session):
        calls.append(1)
        return store.book(session, slot.id, person(2), channel="web", now=NOW)

    with pytest.raises(Exception) as caught:
        run_in_transaction(Session, attempt)
    assert caught.value.reason == "slot_full" and len(calls) == 1


def test_a_transient_failure_is_retried_and_loses_nothing(Session, slots_of):
    slot = slots_of(capacity=1)[0]
    failures = iter([OperationalError("BEGIN", {}, Exception("database is locked"))])

    def flaky(session):
        booking = store.book(session, slot.id, person(1), channel="web", now=NOW)
        error = next(failures, None)
        if error is not None:
            raise error  # after the write: the rollback must undo it
        return booking

    booking = run_in_transaction(Session, flaky, backoff=0.01)
    assert run_in_transaction(Session, store.get_slot, slot.id, now=NOW).booked == 1
    assert run_in_transaction(Session, store.get_booking, booking.code).status == "confirmed"


def test_retry_gives_up_after_the_attempts(Session):
    def always(session):
        raise OperationalError("SELECT 1", {}, Exception("database is locked"))

    with pytest.raises(OperationalError):
        run_in_transaction(Session, always, attempts=2, backoff=0.01)
    assert not is_retryable(OperationalError("x", {}, Exception("no such table: slots")))


@pytest.mark.postgres
def test_postgres_connection_killed_mid_transaction_is_retried(postgres_database):
    db_url = postgres_database
    engine = make_engine(db_url)
    Session = make_sessionmaker(engine)
    batch = spec(capacity=2, service="killed-connection")
    run_in_transaction(Session, store.release_batch, batch, actor="staff", now=NOW)
    slot = run_in_transaction(Session, store.find_available, batch.service, *EVER, now=NOW)[0]
    killed = threading.Event()

    def book_once_killed(session):
        if not killed.is_set():
            killed.set()
            pid = session.execute(text("SELECT pg_backend_pid()")).scalar()
            admin = make_engine(db_url, pool="null")
            with admin.connect() as conn:
                conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            admin.dispose()
        return store.book(session, slot.id, person(1), channel="web", now=NOW)

    booking = run_in_transaction(Session, book_once_killed, backoff=0.01)
    assert killed.is_set()
    assert run_in_transaction(Session, store.get_slot, slot.id, now=NOW).booked == 1
    assert run_in_transaction(Session, store.get_booking, booking.code).status == "confirmed"
    engine.dispose()


def test_ivr_db_upgrade_command(tmp_path):
    from ivr.cli import cli

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    result = CliRunner().invoke(cli, ["db", "upgrade", "--db", url])
    assert result.exit_code == 0, result.output
    engine = make_engine(url)
    assert {"slots", "holds", "bookings", "audit_log", "call_records"} <= set(inspect(engine).get_table_names())
    engine.dispose()


@pytest.mark.postgres
def test_postgres_pool_survives_the_server_dropping_idle_connections(postgres_database):
    """The server restarting (all connections dropped) between two transactions loses nothing."""
    engine = make_engine(postgres_database)
    Session = make_sessionmaker(engine)
    batch = spec(capacity=2, service="dropped-pool")
    run_in_transaction(Session, store.release_batch, batch, actor="staff", now=NOW)
    slot = run_in_transaction(Session, store.find_available, batch.service, *EVER, now=NOW)[0]
    admin = make_engine(postgres_database, pool="null")
    with admin.connect() as conn:
        killed = conn.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )).scalar()
    admin.dispose()
    assert killed >= 1
    booking = run_in_transaction(Session, store.book, slot.id, person(3), channel="web", now=NOW)
    assert run_in_transaction(Session, store.get_booking, booking.code).slot_id == slot.id
    engine.dispose()


@pytest.mark.postgres
def test_postgres_lock_timeout_is_retried(postgres_database, caplog):
    """A transaction stuck on a locked slot row gives up after lock_timeout and is retried."""
    fast = {"options": "-c lock_timeout=200"}
    engine = make_engine(postgres_database, connect_args=fast)
    Session = make_sessionmaker(engine)
    batch = spec(capacity=2, service="locked-row")
    run_in_transaction(Session, store.release_batch, batch, actor="staff", now=NOW)
    slot = run_in_transaction(Session, store.find_available, batch.service, *EVER, now=NOW)[0]
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == "200ms"
    blocker = make_engine(postgres_database, pool="null")
    conn = blocker.connect()
    conn.execute(text("SELECT id FROM slots WHERE id = :id FOR UPDATE"), {"id": slot.id})
    timer = threading.Timer(0.5, conn.rollback)
    timer.start()
    try:
        booking = run_in_transaction(Session, store.book, slot.id, person(4), channel="web", now=NOW, backoff=0.2)
    finally:
        timer.join()
        conn.close()
        blocker.dispose()
    assert run_in_transaction(Session, store.get_slot, slot.id, now=NOW).booked == 1 and booking.slot_id == slot.id
    assert any("retry" in r.getMessage() and "LockNotAvailable" in r.getMessage() for r in caplog.records)
    engine.dispose()


def test_a_read_only_sqlite_session_does_not_block_writers(tmp_path, sqlite_template):
    import shutil

    path = tmp_path / "ro.db"
    shutil.copyfile(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}", busy_timeout_ms=200)
    reader, writer = make_sessionmaker(engine, read_only=True), make_sessionmaker(engine)
    run_in_transaction(writer, store.release_batch, spec(), actor="staff", now=NOW)
    with reader() as session, session.begin():
        assert session.execute(text("SELECT count(*) FROM slots")).scalar() == 2  # a read inside a transaction
        run_in_transaction(writer, store.release_batch, spec(days=2), actor="staff", now=NOW, attempts=1)
    with writer() as blocking, blocking.begin():
        blocking.execute(text("SELECT count(*) FROM slots"))
        with pytest.raises(OperationalError):  # ordinary sessions do hold the write lock
            run_in_transaction(writer, store.release_batch, spec(days=3), actor="staff", now=NOW, attempts=1)
    engine.dispose()


def test_an_unreachable_server_is_retried_then_reported(caplog):
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:9/none", connect_args={"connect_timeout": 1})
    with pytest.raises(OperationalError):
        run_in_transaction(make_sessionmaker(engine), store.get_booking, "12345678", attempts=3, backoff=0.01)
    assert sum("retry" in r.getMessage() for r in caplog.records) == 2
    engine.dispose()
