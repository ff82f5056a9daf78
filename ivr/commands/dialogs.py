"""`ivr dialogs check FILE...` and `ivr dialogs simulate FILE --today YYYY-MM-DD [--db URL]`."""

from __future__ import annotations

import asyncio
import sys
import time as clock
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import click

from dialogs.engine import Engine
from dialogs.messages import Action, Digits, Hangup, Listen, Say, Silence, StoreCall, StoreResult, Transfer, Utterance
from dialogs.script import ScriptError, check_script, load_script
from ivr.call.dialog import DialogRun, DialogSide
from ivr.commands import with_overrides
from ivr.commands.nlu import _Date
from ivr.config import ConfigError
from ivr.store_calls import execute


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


def parse_line(line: str) -> Utterance | Digits | Silence:
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

    try:
        settings = with_overrides(settings, db=db_url).with_person_key()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
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

    side = _Terminal(factory, settings, call_id=f"sim-{int(clock.time())}", now=now)
    dialog = DialogRun(Engine(script, today=today))
    loop = asyncio.new_event_loop()  # not asyncio.run: its Ctrl-C handler would wait for the line being typed
    try:
        ending = loop.run_until_complete(dialog.run(side))
    finally:
        loop.close()
    if isinstance(ending, Transfer):
        click.echo(f"  [オペレーターへ転送: {ending.summary}]")
    elif isinstance(ending, Hangup):
        click.echo(f"  [通話終了: {ending.reason}]")
    else:  # the caller hung up: give the held place back at once
        if (held := dialog.give_back()) is not None:
            side.run_store(held[1])
        click.echo("\n  [通話終了: caller hung up]")


class _Terminal(DialogSide):
    """The dialog's side in a terminal: prompts printed, answers typed, store calls run for real."""

    def __init__(self, factory, settings, *, call_id: str, now: Callable[[], datetime]) -> None:
        self.factory, self.settings, self.call_id, self.now = factory, settings, call_id, now

    async def say(self, say: Say, coming: Sequence[Action]) -> None:
        click.echo(f"窓口> {say.text}")

    async def listen(self, listen: Listen) -> Utterance | Digits | Silence | None:
        click.echo(f"あなた({listen.kind})> ", nl=False)
        try:
            line = sys.stdin.readline()
        except KeyboardInterrupt:  # Ctrl-C is a hang-up too
            line = ""
        if line and not sys.stdin.isatty():
            click.echo(line.rstrip("\n"))
        return parse_line(line) if line else None

    async def store(self, call: StoreCall) -> StoreResult:
        return self.run_store(call)

    def run_store(self, call: StoreCall) -> StoreResult:
        result = execute(self.factory, call, settings=self.settings, call_id=self.call_id, channel="simulator",
                         now=self.now())
        click.echo(f"  [{call.op}: {'ok' if result.ok else result.reason}]", err=True)
        return result


commands = [dialogs]
