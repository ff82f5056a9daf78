"""`ivr bookings export --date YYYY-MM-DD [--service S] [--db URL]`: a day's bookings as CSV.

No personal data in clear: the resident appears only as the store's masked ticket number
(e.g. `******7890`); never a ticket number or birth date.
"""

from __future__ import annotations

import csv
import sys
from datetime import datetime, timedelta
from pathlib import Path

import click

from ivr.commands import with_overrides
from ivr.commands._database import DATE, DB_OPTION, as_date, local_iso, store_session
from ivr.config import Settings
from ivr.privacy import csv_cell
from slots import store
from slots.db import run_in_transaction

COLUMNS = ("code", "status", "service", "site", "slot_id", "start", "end", "channel", "created_at",
           "cancelled_at", "person_masked")


@click.group("bookings")
def bookings_group() -> None:
    """Bookings: export."""


@bookings_group.command("export")
@click.option("--date", "day", type=DATE, required=True, help="the day the slots start on, YYYY-MM-DD (local)")
@click.option("--service", help="only this service")
@click.option("--status", type=click.Choice(["confirmed", "cancelled"]), help="only this status")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="file (default: stdout)")
@DB_OPTION
@click.pass_obj
def export(settings: Settings, day, service, status, output: Path | None, db_url) -> None:
    """Write the day's bookings as CSV (UTF-8, local times with offset)."""
    settings = with_overrides(settings, db=db_url)
    start = datetime.combine(as_date(day), datetime.min.time(), settings.tz)
    with store_session(settings) as Session:  # noqa: N806
        views = run_in_transaction(Session, store.list_bookings, service=service, day_start=start,
                                   day_end=start + timedelta(days=1), status=status)
    handle = output.open("w", newline="", encoding="utf-8") if output else sys.stdout
    try:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        for v in views:
            writer.writerow(export_row(v, settings))
    finally:
        if output:
            handle.close()
    click.echo(f"{len(views)} bookings", err=True)


def export_row(v, settings: Settings) -> list[str]:
    """One booking as CSV cells; staff-entered text (site, service) can never start a formula."""
    return [csv_cell(cell) for cell in (
        v.code, v.status, v.service, v.site, v.slot_id, local_iso(v.start, settings), local_iso(v.end, settings),
        v.channel, local_iso(v.created_at, settings), local_iso(v.cancelled_at, settings), v.person_masked)]


commands = [bookings_group]
