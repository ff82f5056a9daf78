"""`ivr db upgrade [--db URL]`: apply the slot store's migrations."""

from __future__ import annotations

import click

from ivr.commands import with_overrides
from slots.db import upgrade


@click.group("db")
def db() -> None:
    """The database: migrations."""


@db.command("upgrade")
@click.option("--db", "db_url", metavar="URL", help="Database URL (default: MADOGUCHI_DB or sqlite:///var/madoguchi.db).")
@click.pass_obj
def upgrade_command(settings, db_url: str | None) -> None:
    """Create or update the schema to the newest revision (safe to run again)."""
    settings = with_overrides(settings, db=db_url)
    upgrade(settings.db)
    click.echo("database is up to date")


commands = [db]
