"""Dialog tests against the real store: a migrated SQLite file or a private PostgreSQL database
(`tests.fixtures.databases`), emptied before every test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from slots.db import upgrade
from tests.fixtures.databases import emptied, scratch_postgres


@pytest.fixture(scope="session")
def dialog_postgres() -> Iterator[str]:
    with scratch_postgres("madoguchi_dialogs") as url:
        yield url


@pytest.fixture(scope="session")
def dialog_sqlite_template(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("dialogs") / "template.db"
    upgrade(f"sqlite:///{path}")
    return str(path)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "dialogs.db"
        shutil.copyfile(request.getfixturevalue("dialog_sqlite_template"), path)
        return f"sqlite:///{path}"
    return emptied(request.getfixturevalue("dialog_postgres"))
