"""CLI fixtures: a migrated database of each kind (PostgreSQL: a database this session creates and drops)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import psycopg
import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.engine import make_url

from ivr.cli import cli
from slots.db import make_engine, upgrade
from slots.models import Base

POSTGRES_URL = os.environ.get("MADOGUCHI_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def cli_postgres() -> Iterator[str]:
    admin = make_url(POSTGRES_URL)
    name = f"madoguchi_cli_{secrets.token_hex(4)}"
    dsn = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request, tmp_path) -> str:
    """A migrated, empty database URL of each kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cli.db'}"
        upgrade(url)
        return url
    url = request.getfixturevalue("cli_postgres")
    engine = make_engine(url, pool="null")
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables if t.name != "alembic_version")
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


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
