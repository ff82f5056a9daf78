"""Madoguchi's Asterisk config set (data) and the renderer that fills in its placeholders.

The `.conf` files here are templates: `@@NAME@@` marks a value that depends on the installation
(AMI credentials, bind addresses, the IVR's AudioSocket address, Asterisk's directories).
`render_config(values)` returns every file with its placeholders filled; an unknown or missing
value is an error, never a silently broken file. `test=True` adds the test-only files and includes
them: `madoguchi-test.conf` (the `test-caller` context) from `extensions.conf`,
`madoguchi-test-manager.conf` (a manager user that may originate, for the simulated callers; the
IVR's own user may not) from `manager.conf`, and `madoguchi-test-modules.conf` from `modules.conf`.

Two files are generated rather than templated: `madoguchi-seats.conf`, the members of queue
`madoguchi-line` (one `Local/seat<n>@madoguchi-seat/n` seat per call the IVR takes at once, `LINE_SEATS`),
included from `queues.conf`; and `madoguchi-trunk.conf`, the carrier trunk (`TRUNK_*`, see `trunk`),
included from `pjsip.conf`.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Mapping

from telephony.asterisk.trunk import TRUNK_FILE, TrunkConfigError, trunk_sections

PLACEHOLDER = re.compile(r"@@([A-Z_]+)@@")
TEST_FILE = "madoguchi-test.conf"
#: test-only file -> the production file that includes it in the test runtime
TEST_INCLUDES = {
    TEST_FILE: "extensions.conf",
    "madoguchi-test-manager.conf": "manager.conf",
    "madoguchi-test-modules.conf": "modules.conf",
}

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
    "LINE_SEATS": "8",
    "LINE_MAX_WAITING": "20",
    "LINE_MAX_WAIT_MINUTES": "15",
    "LINE_CALL_SECONDS": "90",
    "LINE_SOUNDS": "/usr/share/asterisk/sounds/madoguchi",
    # the carrier trunk: a documentation address until MADOGUCHI_TRUNK_HOST names the real one
    "TRUNK_HOST": "192.0.2.10",
    "TRUNK_CODECS": "ulaw,alaw",
    "TRUNK_REGISTER_USER": "",
    "TRUNK_REGISTER_SECRET": "",
    "TRUNK_EXTERNAL_ADDRESS": "",
    "TRUNK_LOCAL_NETS": "",
    "RTP_START": "10000",
    "RTP_END": "10099",
}
SEATS_FILE = "madoguchi-seats.conf"
SEAT_CONTEXT = "madoguchi-seat"
MAX_SEATS = 1000


class ConfigTemplateError(ValueError):
    """A template names a value that was not given."""


def caller_ami_user(ami_user: str) -> str:
    """The test runtime's manager user for simulated callers (Originate), beside the IVR's `ami_user`."""
    return f"{ami_user}-caller"


def template_names(test: bool = False) -> list[str]:
    names = sorted(
        entry.name for entry in resources.files(__name__).iterdir() if entry.name.endswith(".conf")
    )
    return names if test else [name for name in names if name not in TEST_INCLUDES]


def render_text(text: str, values: Mapping[str, str], *, name: str = "<text>") -> str:
    missing = sorted({key for key in PLACEHOLDER.findall(text) if key not in values})
    if missing:
        raise ConfigTemplateError(f"{name}: no value for {', '.join(missing)}")
    for key, value in values.items():
        if "\n" in str(value):
            raise ConfigTemplateError(f"{name}: value for {key} contains a line break")
    return PLACEHOLDER.sub(lambda match: str(values[match.group(1)]), text)


def seat_members(seats: object) -> str:
    """The members of queue `madoguchi-line`: `seats` Local channels into the seat context."""
    text = str(seats).strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_SEATS:
        raise ConfigTemplateError(f"{SEATS_FILE}: LINE_SEATS must be a whole number from 1 to {MAX_SEATS}, got {text!r}")
    lines = [f"member => Local/seat{n}@{SEAT_CONTEXT}/n" for n in range(1, int(text) + 1)]
    return "; Madoguchi: the seats of queue madoguchi-line (generated at install from LINE_SEATS).\n" + "\n".join(lines) + "\n"


def render_config(values: Mapping[str, str], *, test: bool = False) -> dict[str, str]:
    """Every config file name -> its text with placeholders filled in (test: the caller user too)."""
    if test and "AMI_USER" in values:
        values = {"AMI_CALLER_USER": caller_ami_user(str(values["AMI_USER"])), **values}
    rendered = {}
    for name in template_names(test):
        text = resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
        rendered[name] = render_text(text, values, name=name)
    if "LINE_SEATS" not in values:
        raise ConfigTemplateError(f"{SEATS_FILE}: no value for LINE_SEATS")
    rendered[SEATS_FILE] = seat_members(values["LINE_SEATS"])
    if "TRUNK_HOST" not in values:
        raise ConfigTemplateError(f"{TRUNK_FILE}: no value for TRUNK_HOST")
    try:
        rendered[TRUNK_FILE] = trunk_sections(values)
    except TrunkConfigError as error:
        raise ConfigTemplateError(f"{TRUNK_FILE}: {error}") from None
    if test:
        for name, includer in TEST_INCLUDES.items():
            rendered[includer] += f'\n; Test runtime only: the simulated callers.\n#include "{name}"\n'
    return rendered
