"""The shipped dialplan passes a caller ID on only as digits and +, length-capped: a carrier's
caller ID (or name) is not trusted, and the UserEvent header it lands in feeds the IVR and its logs."""

from __future__ import annotations

import re
from pathlib import Path

DIALPLAN = Path(__file__).resolve().parents[2] / "telephony" / "asterisk" / "extensions.conf"


def test_the_call_event_carries_a_filtered_capped_caller_id():
    text = DIALPLAN.read_text(encoding="utf-8")
    event = next(line for line in text.splitlines() if "UserEvent(MadoguchiCall" in line)
    assert "${CALLERID(num)}" not in event and "CALLERID(name)" not in event
    caller = re.search(r"CallerID: \$\{(\w+):0:(\d+)\}", event)
    assert caller is not None and int(caller.group(2)) <= 20
    assert re.search(rf"Set\({caller.group(1)}=\$\{{FILTER\(0-9\+,\$\{{CALLERID\(num\)\}}\)\}}\)", text)
