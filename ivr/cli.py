"""The composition root: `ivr` and its subcommands.

Each subcommand module under `ivr.commands` exposes `commands`, a list of click commands or
groups; this module builds the settings object and passes it down through the click context.
"""

from __future__ import annotations

import importlib
import logging

import click

from ivr.config import Settings

COMMAND_MODULES: tuple[str, ...] = (
    "ivr.commands.db",
    "ivr.commands.models",
    "ivr.commands.asr",
    "ivr.commands.dialogs",
    "ivr.commands.nlu",
    "ivr.commands.slots",
    "ivr.commands.bookings",
    "ivr.commands.serve",
    "ivr.commands.webusers",
    "ivr.commands.call",
    "ivr.commands.asterisk",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Madoguchi (窓口): the AI voice-reservation line."""
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    ctx.obj = settings


for _name in COMMAND_MODULES:
    for _command in importlib.import_module(_name).commands:
        cli.add_command(_command)


def main() -> None:
    cli()
