"""Dialog tests against the real store: a migrated SQLite file or a private PostgreSQL database
(`tests.fixtures.databases`), emptied before every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures.databases import empty_database, migrated_sqlite, scratch_postgres


@pytest.fixture(scope="session")
def dialog_postgres() -> Iterator[str]:
    with scratch_postgres("madoguchi_dialogs") as url:
        yield url


@pytest.fixture(scope="session")
def dialog_sqlite_template(tmp_path_factory) -> str:
    return migrated_sqlite(tmp_path_factory.mktemp("dialogs"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request, tmp_path) -> str:
    return empty_database(request, tmp_path, sqlite_template="dialog_sqlite_template", postgres="dialog_postgres")
