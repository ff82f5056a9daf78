"""CLI fixtures: a migrated database of each kind (PostgreSQL: a database this session creates and drops)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from ivr.cli import cli
from slots.db import upgrade
from tests.fixtures.databases import emptied, scratch_postgres


@pytest.fixture(scope="session")
def cli_postgres() -> Iterator[str]:
    with scratch_postgres("madoguchi_cli") as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request, tmp_path) -> str:
    """A migrated, empty database URL of each kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cli.db'}"
        upgrade(url)
        return url
    return emptied(request.getfixturevalue("cli_postgres"))


@pytest.fixture
def ivr():
    """Run `ivr ARGS...` in-process; returns click's Result (stdout and stderr apart)."""
    runner = CliRunner(env={"MADOGUCHI_PERSON_KEY": "cli-test-person-key", "MADOGUCHI_TIMEZONE": "Asia/Tokyo"})

    def run(*args: str, ok: bool = True):
        result = runner.invoke(cli, list(args), catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output + result.stderr
        return result
    return run
