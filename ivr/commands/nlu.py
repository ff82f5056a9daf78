"""`ivr nlu --type KIND --today YYYY-MM-DD [TEXT]`: what the normalizers make of an utterance.

With TEXT, prints the value as JSON. Without, reads one utterance per line from stdin and prints
one JSON object per line: `{"text": ..., "value": ...}` (dates `YYYY-MM-DD`, times `HH:MM`, digits
a string, yes/no a boolean, `null` when there is none).
"""

from __future__ import annotations

import json
import sys
from datetime import date, time

import click

from dialogs.normalize import KINDS
from dialogs.script import Step
from dialogs.understand import interpret


def to_json(value: object) -> object:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return f"{value:%H:%M}"
    return value


class _Date(click.ParamType):
    name = "YYYY-MM-DD"

    def convert(self, value, param, ctx):  # noqa: ANN001 - click's signature
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.fail(f"expected YYYY-MM-DD, got {value!r}", param, ctx)


@click.command("nlu")
@click.option("--type", "kind", type=click.Choice(KINDS), required=True, help="What to understand.")
@click.option("--today", type=_Date(), required=True, help="The day relative dates count from.")
@click.argument("text", required=False)
def nlu(kind: str, today: date, text: str | None) -> None:
    """Normalize Japanese speech (as a recognizer writes it) into a value, by spelling and by sound."""
    step = Step("nlu", 0, ask=kind)

    def value_of(said: str) -> object:
        heard = interpret(step, (said,), today=today)
        return None if heard is None else to_json(heard.value)

    if text is not None:
        click.echo(json.dumps(value_of(text), ensure_ascii=False))
        return
    for line in sys.stdin:
        line = line.rstrip("\r\n")
        click.echo(json.dumps({"text": line, "value": value_of(line)}, ensure_ascii=False))


commands = [nlu]
