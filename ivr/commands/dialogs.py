"""`ivr dialogs check FILE...` and `ivr dialogs simulate FILE --today YYYY-MM-DD [--db URL]`."""

from __future__ import annotations

import sys
import time as clock
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import click

from dialogs.engine import Digits, Engine, Hangup, Listen, Say, Silence, StoreCall, StoreResult, Transfer, Utterance
from dialogs.script import ScriptError, check_script, load_script
from ivr.commands import with_overrides
from ivr.commands.nlu import _Date
from ivr.dialog_store import execute


@click.group("dialogs")
def dialogs() -> None:
    """Dialog scripts: check them, try them as a text chat."""


@dialogs.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def check(files: tuple[Path, ...]) -> None:
    """Validate scripts; every error names the file, the line and the step."""
    failed = 0
    for file in files:
        errors = check_script(file)
        for error in errors:
            click.echo(str(error), err=True)
        if errors:
            failed += 1
        else:
            click.echo(f"{file}: ok ({len(load_script(file).steps)} steps)")
    if failed:
        raise SystemExit(1)


def parse_line(line: str):
    """What the tester typed: `#123` for keys, an empty line for silence, else speech."""
    line = line.strip()
    if not line:
        return Silence()
    if line.startswith("#"):
        return Digits(line[1:])
    return Utterance((line,))


@dialogs.command("simulate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--today", type=_Date(), default=None, help="The caller's today (default: the real date).")
@click.option("--db", "db_url", metavar="URL", help="Database URL (default: MADOGUCHI_DB).")
@click.pass_obj
def simulate(settings, file: Path, today: date | None, db_url: str | None) -> None:
    """Run a script as a text chat against the real store.

    Type what a caller would say; `#123` presses keys (`#*` repeats), an empty line is silence.
    With --today the store's clock starts at 08:00 that day and runs on in real time.
    """
    from slots.db import make_engine, make_sessionmaker, upgrade

    settings = with_overrides(settings, db=db_url)
    try:
        script = load_script(file)
    except ScriptError as error:
        for item in error.errors:
            click.echo(str(item), err=True)
        raise SystemExit(1) from None
    upgrade(settings.db)
    factory = make_sessionmaker(make_engine(settings.db))
    start_real = clock.monotonic()
    if today is None:
        today = datetime.now(settings.tz).date()
        start_at = datetime.now(UTC)
    else:
        start_at = datetime.combine(today, time(8, 0), settings.tz).astimezone(UTC)

    def now() -> datetime:
        return start_at + timedelta(seconds=clock.monotonic() - start_real)

    engine = Engine(script, today=today)
    hold: list[int] = []
    call_id = f"sim-{int(clock.time())}"

    def run_store(call: StoreCall) -> StoreResult:
        result = execute(factory, call, settings=settings, call_id=call_id, channel="simulator", now=now())
        click.echo(f"  [{call.op}: {'ok' if result.ok else result.reason}]", err=True)
        if result.ok and call.op == "hold":
            hold[:] = [result.value["hold_id"]]
        elif result.ok and call.op in ("release_hold", "confirm", "reschedule"):
            hold.clear()
        return result

    actions = engine.start()
    while True:
        waiting = None
        for action in actions:
            if isinstance(action, Say):
                click.echo(f"窓口> {action.text}")
            elif isinstance(action, Listen):
                waiting = action
            elif isinstance(action, StoreCall):
                waiting = action
            elif isinstance(action, Transfer):
                click.echo(f"  [オペレーターへ転送: {action.summary}]")
                return
            elif isinstance(action, Hangup):
                click.echo(f"  [通話終了: {action.reason}]")
                return
        if isinstance(waiting, StoreCall):
            actions = engine.handle(run_store(waiting))
            continue
        click.echo(f"あなた({waiting.kind})> " if isinstance(waiting, Listen) else "あなた> ", nl=False)
        try:
            line = sys.stdin.readline()
        except KeyboardInterrupt:  # Ctrl-C is a hang-up too
            line = ""
        if line and not sys.stdin.isatty():
            click.echo(line.rstrip("\n"))
        if not line:  # the caller hung up: give the held place back at once
            if hold:
                run_store(StoreCall("release_hold", {"hold_id": hold[0]}))
            click.echo("\n  [通話終了: caller hung up]")
            return
        actions = engine.handle(parse_line(line))


commands = [dialogs]
