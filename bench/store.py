"""Slot store throughput under contention, beside a hand-written raw-SQL baseline, in one run.

    python bench/store.py [--runs 5] [--workers 8] [--per-worker 50] [--slots 4] [--write]

Each worker thread has its own connection and places a hold on one of a few shared slots, then
confirms it into a booking (two transactions), so every transaction fights over the same slot rows.
Both implementations run the same transactions - lazy expiry check, the conditional
`UPDATE slots SET held = held + 1 WHERE ... booked + held < capacity`, hold/booking inserts and audit
rows - on the same freshly migrated database: `store` through `slots.store` and SQLAlchemy,
`raw` with sqlite3 / psycopg and literal SQL. Figure: successful holds + bookings per second;
median of `--runs` runs, alternating the two implementations; the ratio is store / raw.
`--write` replaces the "Slot store" section of docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.sections import replace_section  # noqa: E402
from slots import store  # noqa: E402
from slots.batches import BatchSpec  # noqa: E402
from slots.codes import new_code  # noqa: E402
from slots.db import make_engine, make_sessionmaker, run_in_transaction, upgrade  # noqa: E402
from slots.person import Person  # noqa: E402

NOW = datetime(2026, 11, 24, tzinfo=UTC)
TTL = 300
BEGIN, END = "<!-- bench:store:begin -->", "<!-- bench:store:end -->"


# --- databases ---------------------------------------------------------------------------------

class Database:
    """A fresh, migrated database per run; `raw_connect()` opens a plain DB-API connection."""

    kind: str

    def fresh(self) -> str: ...
    def raw_connect(self): ...
    def drop(self) -> None: ...


class SqliteDb(Database):
    kind = "sqlite"

    def __init__(self) -> None:
        self.dir = tempfile.TemporaryDirectory()
        self.n = 0

    def fresh(self) -> str:
        self.n += 1
        self.path = Path(self.dir.name) / f"bench{self.n}.db"
        self.url = f"sqlite:///{self.path}"
        upgrade(self.url)
        return self.url

    def raw_connect(self):
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=30000"):
            conn.execute(f"PRAGMA {pragma}")
        return conn

    def drop(self) -> None:
        self.dir.cleanup()


class PostgresDb(Database):
    kind = "postgresql"

    def __init__(self, admin_url: str) -> None:
        self.admin = make_url(admin_url)
        self.admin_dsn = self.admin.set(drivername="postgresql").render_as_string(hide_password=False)
        self.names: list[str] = []

    def fresh(self) -> str:
        name = f"madoguchi_bench_{secrets.token_hex(4)}"
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.names.append(name)
        self.url = self.admin.set(database=name).render_as_string(hide_password=False)
        self.dsn = self.admin.set(drivername="postgresql", database=name).render_as_string(hide_password=False)
        upgrade(self.url)
        return self.url

    def raw_connect(self):
        return psycopg.connect(self.dsn)

    def drop(self) -> None:
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            for name in self.names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- the two implementations ---------------------------------------------------------------------

def store_worker(url: str) -> Callable[[int, list[int], list[Person]], int]:
    engine = make_engine(url)
    Session = make_sessionmaker(engine)

    def work(n: int, slot_ids: list[int], people: list[Person]) -> int:
        done = 0
        for i, who in enumerate(people):
            held = run_in_transaction(Session, store.hold, slot_ids[(n + i) % len(slot_ids)], ttl_seconds=TTL,
                                      channel="bench", call_id=f"b{n}-{i}", now=NOW)
            run_in_transaction(Session, store.confirm, held.id, who, channel="bench", now=NOW)
            done += 2
        return done

    work.engine = engine  # type: ignore[attr-defined]
    return work


def naive(dt: datetime) -> datetime:
    return dt.astimezone(UTC).replace(tzinfo=None)


class RawSql:
    """The same transactions written by hand against the DB-API, one connection per worker."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.sqlite = db.kind == "sqlite"
        self.p = "?" if self.sqlite else "%s"

    def q(self, sql: str) -> str:
        return sql.replace("?", self.p)

    def begin(self, cur) -> None:
        cur.execute("BEGIN IMMEDIATE" if self.sqlite else "BEGIN")

    def __call__(self, n: int, slot_ids: list[int], people: list[Person]) -> int:
        conn = self.db.raw_connect()
        if not self.sqlite:
            conn.autocommit = True  # explicit BEGIN/COMMIT below
        now = naive(NOW)
        now_param = now if not self.sqlite else f"{now:%Y-%m-%d %H:%M:%S.%f}"
        expires = now + timedelta(seconds=TTL)
        expires_param = expires if not self.sqlite else f"{expires:%Y-%m-%d %H:%M:%S.%f}"
        q = self.q
        done = 0
        try:
            cur = conn.cursor()
            for i, who in enumerate(people):
                slot_id = slot_ids[(n + i) % len(slot_ids)]
                self.begin(cur)
                cur.execute(q("SELECT id FROM holds WHERE state = 'live' AND expires_at <= ? AND slot_id = ? LIMIT 1"),
                            (now_param, slot_id))
                assert cur.fetchone() is None
                cur.execute(q("UPDATE slots SET held = held + 1 WHERE id = ? AND booked + held < capacity"
                              " AND closed = false AND start_at > ? AND (opens_at IS NULL OR opens_at <= ?)"),
                            (slot_id, now_param, now_param))
                if cur.rowcount != 1:
                    raise RuntimeError("slot full")
                cur.execute(q("INSERT INTO holds (slot_id, created_at, expires_at, state, channel, call_id)"
                              " VALUES (?, ?, ?, 'live', 'bench', ?) RETURNING id"),
                            (slot_id, now_param, expires_param, f"r{n}-{i}"))
                hold_id = cur.fetchone()[0]
                cur.execute(q("INSERT INTO audit_log (at, actor, action, slot_id, hold_id) VALUES (?, 'bench', 'hold', ?, ?)"),
                            (now_param, slot_id, hold_id))
                cur.execute("COMMIT")
                done += 1

                self.begin(cur)
                cur.execute(q("SELECT slot_id, expires_at FROM holds WHERE id = ?"), (hold_id,))
                slot_id, _ = cur.fetchone()
                cur.execute(q("SELECT service FROM slots WHERE id = ?"), (slot_id,))
                service = cur.fetchone()[0]
                cur.execute(q("SELECT id FROM bookings WHERE service = ? AND person_key = ? AND status = 'confirmed'"),
                            (service, who.key_hash))
                assert cur.fetchone() is None
                cur.execute(q("UPDATE holds SET state = 'consumed', ended_at = ? WHERE id = ? AND state = 'live'"
                              " RETURNING slot_id"), (now_param, hold_id))
                assert cur.fetchone() is not None
                cur.execute(q("UPDATE slots SET held = held - 1, booked = booked + 1 WHERE id = ? AND held >= 1"),
                            (slot_id,))
                assert cur.rowcount == 1
                code = new_code()
                cur.execute(q("SELECT id FROM bookings WHERE code = ?"), (code,))
                assert cur.fetchone() is None
                cur.execute(q("INSERT INTO bookings (code, slot_id, service, status, person_key, person_check,"
                              " person_masked, channel, hold_id, created_at) VALUES (?, ?, ?, 'confirmed', ?, ?, ?,"
                              " 'bench', ?, ?) RETURNING id"),
                            (code, slot_id, service, who.key_hash, who.check_hash, who.masked, hold_id, now_param))
                booking_id = cur.fetchone()[0]
                cur.execute(q("INSERT INTO audit_log (at, actor, action, slot_id, hold_id, booking_id)"
                              " VALUES (?, 'bench', 'book', ?, ?, ?)"), (now_param, slot_id, hold_id, booking_id))
                cur.execute("COMMIT")
                done += 1
        finally:
            conn.close()
        return done


# --- running -------------------------------------------------------------------------------------

def prepare(db: Database, slots: int, capacity: int) -> tuple[str, list[int]]:
    url = db.fresh()
    engine = make_engine(url)
    Session = make_sessionmaker(engine)
    spec = BatchSpec("bench", "会場", date(2026, 12, 1), date(2026, 12, 1), ("09:00-17:00",), 480 // slots, capacity)
    run_in_transaction(Session, store.release_batch, spec, actor="bench", now=NOW)
    ids = [s.id for s in run_in_transaction(Session, store.list_slots, "bench", NOW, NOW + timedelta(days=30), now=NOW)]
    engine.dispose()
    return url, ids[:slots]


def one_run(db: Database, impl: str, args, run: int) -> float:
    per = args.per_worker
    url, slot_ids = prepare(db, args.slots, args.workers * per)
    people = [[Person.from_ticket(b"bench", f"{run:02d}{w:03d}{i:05d}", date(1950, 1, 1)) for i in range(per)]
              for w in range(args.workers)]
    work = store_worker(url) if impl == "store" else RawSql(db)
    results: list[int] = [0] * args.workers
    errors: list[BaseException] = []
    barrier = threading.Barrier(args.workers + 1)

    def thread(n: int) -> None:
        barrier.wait()
        try:
            results[n] = work(n, slot_ids, people[n])
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=thread, args=(n,)) for n in range(args.workers)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if impl == "store":
        work.engine.dispose()
    if errors:
        raise errors[0]
    assert sum(results) == 2 * args.workers * per
    return sum(results) / elapsed


def measure(db: Database, args) -> dict[str, list[float]]:
    rates: dict[str, list[float]] = {"store": [], "raw": []}
    for run in range(args.runs):
        order = ("store", "raw") if run % 2 == 0 else ("raw", "store")
        for impl in order:
            rates[impl].append(one_run(db, impl, args, run))
            print(f"{db.kind:10} {args.workers} workers run {run + 1}/{args.runs} {impl:5}"
                  f" {rates[impl][-1]:8.0f} ops/s", flush=True)
    return rates


def section(results: dict[str, dict[str, list[float]]], args) -> str:
    lines = [
        "## Slot store",
        "",
        f"`python bench/store.py --runs {args.runs} --workers {args.workers} --per-worker {args.per_worker}"
        f" --slots {args.slots} --write` on {platform.machine()} ({os.cpu_count()} cores), {datetime.now(UTC):%Y-%m-%d};"
        f" 1-minute load average {args.load[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
        " (other work shares this machine).",
        f"{args.workers} threads, each with its own connection, place a hold on one of {args.slots} shared slots and"
        " confirm it into a booking (two transactions); every transaction updates one of the same few slot rows.",
        "`raw` runs the same statements written by hand on sqlite3 / psycopg in the same run. Figures: successful"
        f" holds + bookings per second, median of {args.runs} runs (min-max in brackets); ratio = store / raw.",
        "",
        "The single-worker rows show the same transactions without contention: the ratio there is the cost of",
        "going through SQLAlchemy (sessions, statement execution) rather than the DB-API directly. On SQLite all",
        "writers queue on one database lock and the store's Python work between statements runs while the lock is",
        "held (and competes for the GIL with the waiting threads), so its share grows with contention.",
        "",
        "| database | workers | store ops/s | raw SQL ops/s | ratio |",
        "|---|---|---|---|---|",
    ]
    for (kind, workers), rates in results.items():
        s, r = rates["store"], rates["raw"]
        lines.append(f"| {kind} | {workers} | {statistics.median(s):.0f} ({min(s):.0f}-{max(s):.0f}) |"
                     f" {statistics.median(r):.0f} ({min(r):.0f}-{max(r):.0f}) |"
                     f" {statistics.median(s) / statistics.median(r):.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--per-worker", type=int, default=50)
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
                        help="server on which a scratch database is created and dropped ('' to skip)")
    parser.add_argument("--write", action="store_true", help="update docs/BENCHMARKS.md")
    args = parser.parse_args(argv)
    args.load = os.getloadavg()
    databases: list[Database] = [SqliteDb()] + ([PostgresDb(args.postgres)] if args.postgres else [])
    results = {}
    alone = argparse.Namespace(**{**vars(args), "workers": 1, "per_worker": args.per_worker * 2})
    try:
        for db in databases:
            results[db.kind, args.workers] = measure(db, args)
            results[db.kind, 1] = measure(db, alone)
    finally:
        for db in databases:
            db.drop()
    text = section(results, args)
    print(text)
    if args.write:
        replace_section(ROOT / "docs" / "BENCHMARKS.md", BEGIN, END, text)


if __name__ == "__main__":
    main()
