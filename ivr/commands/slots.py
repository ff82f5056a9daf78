"""`ivr slots release|list|import|demo`: manage slot batches from the shell; all take `--db URL`."""

from __future__ import annotations

import contextlib
import csv
import json
import re
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from ivr.commands import with_overrides
from ivr.commands._database import DATE, DB_OPTION, as_date, local_iso, store_session
from ivr.config import Settings
from slots import store
from slots.allocation import MAX_HOURS_BEFORE
from slots.batches import BatchSpec, preview_batch
from slots.db import run_in_transaction
from slots.errors import InvalidBatch
from slots.views import BatchResult

BIG_BATCH = 1000  # slots; above this a multi-day release goes day by day behind a progress bar
IMPORT_COLUMNS = ("service", "site", "date_from", "date_to", "times", "every_minutes", "capacity")
DEMO = ({"service": "vaccine", "site": "市役所"}, {"service": "checkup", "site": "保健センター"})


def _now() -> datetime:
    return datetime.now(UTC)


def parse_times(text: str) -> tuple[str, ...]:
    """`"09:00-12:00,13:00-17:00"` (commas, semicolons or spaces) -> the windows."""
    return tuple(part for part in re.split(r"[,;\s]+", text.strip()) if part)


def parse_opens_at(text: str | None, settings: Settings) -> datetime | None:
    """ISO 8601 with or without an offset (without: the municipality's zone)."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidBatch(f"opens_at: expected an ISO 8601 date and time, got {text!r}") from None
    return value.replace(tzinfo=settings.tz) if value.tzinfo is None else value


def day_parts(spec: BatchSpec) -> list[BatchSpec]:
    """The batch cut into one spec per day (each idempotent on its own)."""
    days = (spec.date_to - spec.date_from).days + 1
    return [replace(spec, date_from=spec.date_from + timedelta(d), date_to=spec.date_from + timedelta(d))
            for d in range(days)]


def release_spec(Session, spec: BatchSpec, *, actor: str, progress: bool) -> BatchResult:  # noqa: N803
    """Release in one transaction, or day by day with a progress bar for a big multi-day batch."""
    size = len(preview_batch(spec))
    if size <= BIG_BATCH or spec.date_from == spec.date_to:
        return run_in_transaction(Session, store.release_batch, spec, actor=actor, now=_now())
    created = skipped = 0
    parts = day_parts(spec)
    bar_or_plain = (click.progressbar(parts, label=f"releasing {size} slots", show_pos=True, file=sys.stderr)
                    if progress else contextlib.nullcontext(parts))
    with bar_or_plain as bar:
        for part in bar:
            result = run_in_transaction(Session, store.release_batch, part, actor=actor, now=_now())
            created, skipped = created + result.created, skipped + result.skipped
    return BatchResult(spec.batch_id, created, skipped)


def _report(result: BatchResult) -> None:
    click.echo(f"batch {result.batch_id}: {result.created} slots created, {result.skipped} already existed")


@click.group("slots")
def slots_group() -> None:
    """Slot batches: release, list, import from CSV, load a demo batch."""


@slots_group.command("release")
@click.option("--service", required=True, help="e.g. vaccine")
@click.option("--site", required=True, help="e.g. 市役所")
@click.option("--from", "date_from", type=DATE, required=True, help="first day, YYYY-MM-DD")
@click.option("--to", "date_to", type=DATE, required=True, help="last day, YYYY-MM-DD (inclusive)")
@click.option("--times", required=True, help="daily windows, e.g. 09:00-12:00,13:00-17:00")
@click.option("--every", "every_minutes", type=click.IntRange(1, 1440), required=True, help="minutes per slot")
@click.option("--capacity", type=click.IntRange(1, 10_000), required=True, help="places per slot")
@click.option("--opens-at", help="not bookable before (ISO 8601; without offset: local time)")
@click.option("--phone-reserved", "phone_percent", type=click.IntRange(0, 100), default=0, show_default=True,
              help="percent of each slot's places kept for phone callers")
@click.option("--phone-reserved-hours", "phone_hours", type=click.IntRange(0, MAX_HOURS_BEFORE), default=24,
              show_default=True, help="hours before a slot starts when its phone reserve opens to every channel")
@click.option("--progress/--no-progress", default=True, help="progress bar for big batches")
@DB_OPTION
@click.pass_obj
def release(settings: Settings, service, site, date_from, date_to, times, every_minutes, capacity, opens_at,
            phone_percent, phone_hours, progress, db_url) -> None:
    """Create the slots of a batch; releasing the same batch again creates nothing."""
    settings = with_overrides(settings, db=db_url)
    with store_session(settings) as Session:  # noqa: N806
        spec = BatchSpec(service, site, as_date(date_from), as_date(date_to), parse_times(times), every_minutes,
                         capacity, parse_opens_at(opens_at, settings), settings.timezone,
                         phone_reserved_percent=phone_percent, phone_reserved_hours=phone_hours)
        _report(release_spec(Session, spec, actor="cli", progress=progress))


@slots_group.command("list")
@click.option("--service", required=True)
@click.option("--from", "date_from", type=DATE, help="first day (default: today)")
@click.option("--to", "date_to", type=DATE, help="last day (default: a week from the first)")
@click.option("--site")
@click.option("--available", is_flag=True, help="only open slots with a free place")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
@DB_OPTION
@click.pass_obj
def list_command(settings: Settings, service, date_from, date_to, site, available, as_json, db_url) -> None:
    """Slots and their availability, in local time."""
    settings = with_overrides(settings, db=db_url)
    first = as_date(date_from) or _now().astimezone(settings.tz).date()
    last = as_date(date_to) or first + timedelta(days=6)
    start = datetime.combine(first, datetime.min.time(), settings.tz)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), settings.tz)
    with store_session(settings) as Session:  # noqa: N806
        views = run_in_transaction(Session, store.list_slots, service, start, end, site=site,
                                   available_only=available, now=_now())
    for v in views:
        if as_json:
            click.echo(json.dumps({"id": v.id, "service": v.service, "site": v.site,
                                   "start": local_iso(v.start, settings), "end": local_iso(v.end, settings),
                                   "capacity": v.capacity, "booked": v.booked, "held": v.held,
                                   "available": v.available, "closed": v.closed,
                                   "phone_reserved": v.phone_reserved, "phone_taken": v.phone_taken},
                                  ensure_ascii=False))
        else:
            start_text = v.start.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
            flag = " closed" if v.closed else ""
            reserve = f"  phone {v.phone_taken}/{v.phone_reserved} reserved" if v.phone_reserved else ""
            click.echo(f"{v.id:>7}  {start_text}  {v.site}  {v.booked}+{v.held}/{v.capacity}"
                       f"  available {v.available}{reserve}{flag}")
    if not as_json:
        click.echo(f"{len(views)} slots", err=True)


def read_batches(path: Path, settings: Settings) -> list[BatchSpec]:
    """Every row of the CSV as a batch; the first bad row stops everything, naming its line."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in IMPORT_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise click.ClickException(f"{path}: missing columns {', '.join(missing)} "
                                       f"(need {', '.join(IMPORT_COLUMNS)}, optional opens_at)")
        specs = []
        for row in reader:
            try:
                specs.append(BatchSpec(
                    row["service"].strip(), row["site"].strip(), _csv_date(row, "date_from"),
                    _csv_date(row, "date_to"), parse_times(row["times"] or ""), _csv_int(row, "every_minutes"),
                    _csv_int(row, "capacity"), parse_opens_at((row.get("opens_at") or "").strip(), settings),
                    settings.timezone,
                ))
            except InvalidBatch as error:
                raise click.ClickException(f"{path} line {reader.line_num}: {error}") from None
    return specs


def _csv_date(row: dict, name: str):
    try:
        return datetime.strptime((row[name] or "").strip(), "%Y-%m-%d").date()
    except ValueError:
        raise InvalidBatch(f"{name}: expected YYYY-MM-DD, got {row[name]!r}") from None


def _csv_int(row: dict, name: str) -> int:
    try:
        return int((row[name] or "").strip())
    except ValueError:
        raise InvalidBatch(f"{name}: expected a whole number, got {row[name]!r}") from None


@slots_group.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@DB_OPTION
@click.pass_obj
def import_command(settings: Settings, csv_file: Path, db_url) -> None:
    """Release every batch of a CSV file (columns service, site, date_from, date_to, times,
    every_minutes, capacity, opens_at?; times like "09:00-12:00;13:00-17:00"). All or nothing."""
    settings = with_overrides(settings, db=db_url)
    specs = read_batches(csv_file, settings)

    def release_all(session) -> list[BatchResult]:
        return [store.release_batch(session, spec, actor="cli:import", now=_now()) for spec in specs]

    with store_session(settings) as Session:  # noqa: N806
        results = run_in_transaction(Session, release_all)
    for result in results:
        _report(result)
    click.echo(f"{len(results)} batches, {sum(r.created for r in results)} slots created", err=True)


@slots_group.command("demo")
@click.option("--days", type=click.IntRange(1, 60), default=7, help="days from tomorrow")
@DB_OPTION
@click.pass_obj
def demo(settings: Settings, days: int, db_url) -> None:
    """Load a small demo batch (vaccine at 市役所, checkup at 保健センター) from tomorrow; idempotent."""
    settings = with_overrides(settings, db=db_url)
    first = _now().astimezone(settings.tz).date() + timedelta(days=1)
    with store_session(settings) as Session:  # noqa: N806
        for place in DEMO:
            spec = BatchSpec(place["service"], place["site"], first, first + timedelta(days=days - 1),
                             ("09:00-12:00", "13:00-16:00"), 30, 4, None, settings.timezone)
            _report(run_in_transaction(Session, store.release_batch, spec, actor="cli:demo", now=_now()))


commands = [slots_group]
