"""`ivr asr transcribe` and `ivr eval asr` (filled in below)."""

from __future__ import annotations

commands: list = []
