"""Store fixtures: the same tests run on SQLite and on PostgreSQL.

PostgreSQL: each test session creates its own database (`madoguchi_store_<random hex>`) on the
server at 127.0.0.1:5432, migrates it once, truncates it before every test and drops it at the end;
the shared `test` database is only used to issue CREATE/DROP DATABASE. SQLite: a migrated template
file is copied for every test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from slots import store
from slots.db import make_engine, make_sessionmaker, run_in_transaction
from tests.fixtures.databases import empty_database, migrated_sqlite, scratch_postgres
from slotkit import EVER, NOW, spec


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    with scratch_postgres("madoguchi_store") as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> str:
    return migrated_sqlite(tmp_path_factory.mktemp("template"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    """A migrated, empty database of each kind."""
    return empty_database(request, tmp_path, sqlite_template="sqlite_template", postgres="postgres_database")


@pytest.fixture
def engine(db_url):
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def Session(engine):  # noqa: N802 - a factory, named as in SQLAlchemy's docs
    return make_sessionmaker(engine)


@pytest.fixture
def tx(Session):
    """Run one store call in its own committed transaction: tx(store.hold, slot_id, ...)."""
    def run(fn, *args, **kw):
        return run_in_transaction(Session, fn, *args, **kw)
    return run


@pytest.fixture
def slots_of(tx):
    """Release a batch (arguments of `slotkit.spec`) and return its slots in order."""
    def make(**kw):
        batch = spec(**kw)
        tx(store.release_batch, batch, actor="staff", now=NOW)
        found = tx(store.list_slots, batch.service, *EVER, site=batch.site, now=NOW)
        return [s for s in found if s.capacity == batch.capacity]
    return make
