"""What the recognizer is told to expect at a turn: the dialog's `Listen` as speech `Hints`.

Whisper's initial prompt is the step's words and the offered values, as the dialog script gives
them. The operator word is part of a closed step's grammar (Vosk must be able to hear it at every
question) but not of Whisper's prompt: a prompt word Whisper did not hear comes back as text
(「オペレーター」 from a ticket number), and then the caller is handed over for nothing.
"""

from __future__ import annotations

from dialogs.messages import Listen
from ivr.speech.asr import Hints, Priority

OPERATOR_WORD = "オペレーター"


def hints_for(listen: Listen) -> Hints:
    grammar = tuple(dict.fromkeys((*listen.grammar, OPERATOR_WORD))) if listen.grammar else ()
    yesno = listen.kind == "yesno"
    priority = Priority.URGENT if yesno else Priority.NORMAL
    longest = number_tokens(listen.max_digits) if listen.kind == "digits" and listen.max_digits else None
    return Hints(words=tuple(listen.hints), grammar=grammar, priority=priority, short=yesno, max_tokens=longest)


def number_tokens(digits: int) -> int:
    """Whisper tokens of the longest sensible answer with a number of `digits` digits: a token per
    digit and one per separator (「1、2、3」), and a few for the words around it (「番号は…です」)."""
    return 2 * digits + 12
