"""Ten-digit ticket numbers with doubled and tripled digits, said digit by digit, through Whisper base.

Each number is synthesized 「1、2、3、3、4…」 with two voices, sent through the phone channel and
recognized alone (so the window and the result are deterministic); the top text or an n-best entry
must give the number back through `parse_digits(text, length=10)`.

Measured 2026-11 (ctranslate2 4.8.5, int8, beam 5, 3 hypotheses): 4 of these 10 pass; on 2026-12's
machine, same pins and inputs, 1 of 10 (three flipped: `flips`). The misses
are Whisper base's own: on 15 numbers x 3 voices x 2 noise seeds it gets 37 of 90 (top text 29),
with a 10, 12 or 15 s window floor alike (37, 39, 39). Neither guard in whisper_backend.py is
involved: `collapse_repeats` never changed a parse on those 90 utterances (digit runs are exempt),
and no hypothesis reached `max_tokens` (the runaway 「3-0-0-0-…」 ends on its own). What Whisper
does: drops one of a doubled digit and adds one at the end (5 6 6 7 7 8 8 9 9 9), turns キュー、
キュー、キュー into a katakana loop (キュウェ キュウェ…), or runs on a run of zeros.
"""

from __future__ import annotations

import pytest

from dialogs.normalize import parse_digits
from ivr.speech.asr import Hints
from ivr.speech.evaluation import synthesize_phone
from ivr.speech.tts import Voice
from ivr.speech.whisper_backend import collapse_repeats

VOICES = {
    "v1": Voice(speed=1.0, volume_dbfs=-6.0, half_tone=-2.0),
    "v2": Voice(speed=1.1, volume_dbfs=-9.0, half_tone=-3.0),
}
TICKET = Hints(words=("接種券番号",))


def slip(reason: str):
    return pytest.mark.xfail(reason=f"Whisper base: {reason}", strict=False)


def flips(reason: str):
    """Borderline for Whisper base: right on the machine of 2026-11 (top or n-best), wrong on this
    session's machine of 2026-12 with the same pins and inputs (int8 kernels differ by CPU)."""
    return pytest.mark.xfail(reason=f"Whisper base, depends on the CPU: {reason}", strict=False)


# (number, voice, what Whisper base heard when it misses)
TABLE = [
    ("1233456789", "v1", None),  # top 「1,2,3,4,5,6,7,8,9」 drops a 3; the third hypothesis is right
    ("1233456789", "v2", flips("「1 2 3 3 4 5 6 7 8 10」: the 9 heard as 10")),
    ("5566778899", "v1", slip("「5 6 6 7 7 8 8 9 9 9」: one 5 dropped, a 9 added")),
    ("5566778899", "v2", slip("「5 6 6 7 7 8 8 9 9 9」: one 5 dropped, a 9 added")),
    ("9990001112", "v1", slip("「キュウェ キュウェ…」: キュー×3 heard as a katakana loop")),
    ("9990001112", "v2", slip("「キュメ キュメ…」: キュー×3 heard as a katakana loop")),
    ("7775834386", "v1", flips("「7、7、7、7、5…」: four 7s in every hypothesis")),
    ("7775834386", "v2", flips("「7、7、7、7、5…」: four 7s in every hypothesis")),
    ("3300000033", "v1", slip("「3-0-0-0-…」: a 3 dropped and the zeros run on (31 digits)")),
    ("3300000033", "v2", slip("「3 3 0 0 0 0 0 0 0 0 3 3」: two zeros too many")),
]


@pytest.mark.models
@pytest.mark.parametrize(
    "number, voice",
    [pytest.param(n, v, marks=m or (), id=f"{n}-{v}") for n, v, m in TABLE],
)
def test_a_ten_digit_number_said_digit_by_digit_comes_back(whisper, number, voice):
    pcm = synthesize_phone("、".join(number), VOICES[voice], seed=0)
    result = whisper.recognize_sync(pcm, TICKET)
    parsed = [parse_digits(text, length=10) for text in result.nbest]
    assert result.nbest[0] == result.text
    assert number in parsed, f"heard {result.nbest}"


@pytest.mark.parametrize(
    "text",
    [
        "7、7、7、5、8、3、4、3、8、6",
        "3-0-0-0-0-0-0-0-0-3-3",
        "5 5 6 6 7 7 8 8 9 9",
        "9,9,9,0,0,0,1,1,1,2",
        "接種券番号は1111122222です",
        "０、０、０、０、０、０",
    ],
)
def test_the_repetition_guard_leaves_spoken_digit_runs_alone(text):
    assert collapse_repeats(text) == text
