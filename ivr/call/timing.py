"""How long a call waits for what: one settings object for the listener and the session."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    reprompt_silence: float = 5.0  # silence after a prompt before Silence() goes to the engine
    digit_timeout: float = 5.0  # pause that ends a digit string without `#`
    max_utterance: float = 15.0  # an utterance is cut here even if the caller keeps talking
    ami_wait: float = 2.0  # how long to wait for the dialplan's MadoguchiCall event
    max_call: float = 900.0  # a call longer than this is handed over
    preroll_frames: int = 50  # audio kept from before a barge-in is detected (1 s: onsets are quiet)
