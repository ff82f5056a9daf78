"""Subcommands of the `ivr` CLI; each module exposes `commands: list[click.Command]`."""

from __future__ import annotations

from typing import Any

from ivr.config import Settings


def with_overrides(settings: Settings, **flags: Any) -> Settings:
    """The settings with every flag that was given (not None) applied: flags win over env."""
    given = {name: value for name, value in flags.items() if value is not None}
    return Settings.model_validate({**settings.model_dump(), **given}) if given else settings
