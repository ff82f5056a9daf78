"""Madoguchi's Asterisk config set (data) and the renderer that fills in its placeholders.

The `.conf` files here are templates: `@@NAME@@` marks a value that depends on the installation
(AMI credentials, bind addresses, the IVR's AudioSocket address, Asterisk's directories).
`render_config(values)` returns every file with its placeholders filled; an unknown or missing
value is an error, never a silently broken file. `test=True` adds `madoguchi-test.conf`, the
test-only `test-caller` context, and includes it from `extensions.conf`.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Mapping

PLACEHOLDER = re.compile(r"@@([A-Z_]+)@@")
TEST_FILE = "madoguchi-test.conf"

#: Values for a standard Debian installation; credentials and addresses must still be given.
PRODUCTION_DEFAULTS = {
    "AMI_BIND": "127.0.0.1",
    "AMI_PORT": "5038",
    "AMI_PERMIT": "127.0.0.1/255.255.255.255",
    "AUDIOSOCKET": "127.0.0.1:9092",
    "SIP_BIND": "0.0.0.0:5060",
    "ETC_DIR": "/etc/asterisk",
    "RUN_DIR": "/var/run/asterisk",
    "LOG_DIR": "/var/log/asterisk",
    "SPOOL_DIR": "/var/spool/asterisk",
    "DB_DIR": "/var/lib/asterisk",
}


class ConfigTemplateError(ValueError):
    """A template names a value that was not given."""


def template_names(test: bool = False) -> list[str]:
    names = sorted(
        entry.name for entry in resources.files(__name__).iterdir() if entry.name.endswith(".conf")
    )
    return names if test else [name for name in names if name != TEST_FILE]


def render_text(text: str, values: Mapping[str, str], *, name: str = "<text>") -> str:
    missing = sorted({key for key in PLACEHOLDER.findall(text) if key not in values})
    if missing:
        raise ConfigTemplateError(f"{name}: no value for {', '.join(missing)}")
    for key, value in values.items():
        if "\n" in str(value):
            raise ConfigTemplateError(f"{name}: value for {key} contains a line break")
    return PLACEHOLDER.sub(lambda match: str(values[match.group(1)]), text)


def render_config(values: Mapping[str, str], *, test: bool = False) -> dict[str, str]:
    """Every config file name -> its text with placeholders filled in."""
    rendered = {}
    for name in template_names(test):
        text = resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
        rendered[name] = render_text(text, values, name=name)
    if test:
        rendered["extensions.conf"] += f'\n; Test runtime only: the simulated callers.\n#include "{TEST_FILE}"\n'
    return rendered
