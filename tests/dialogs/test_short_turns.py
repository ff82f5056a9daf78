"""A prompt resident finishes a booking in under a minute of dialog.

Method: the time of a dialog is the line's speech plus the caller's. Line speech is counted in
morae (the kana reading from pyopenjtalk g2p; small ャュョァィゥェォ join the mora before them; ッ, ン
and ー count) at 7 morae per second, a little slower than Open JTalk's default rate. Each caller
turn costs 1.0 s to react, the answer's own morae at 7 per second, 0.8 s of end-of-speech silence
(the endpointer) and 0.5 s to recognise and answer. Store calls are counted as free here; their
time is measured in bench/. The whole booking must stay under 60 s.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyopenjtalk
import pytest

from dialogs.engine import Engine, Say, StoreCall
from dialogs.messages import Digits, StoreResult, Utterance
from dialogs.script import load_script

SCRIPTS = Path(__file__).resolve().parents[2] / "dialogs" / "scripts"
MORAE_PER_SECOND = 7.0
REACT, ENDPOINT, ANSWER = 1.0, 0.8, 0.5
SMALL = set("ャュョァィゥェォヮ")
DAY = [{"id": n, "date": "2026-12-03", "time": t, "site": "市役所本庁舎", "available": 2}
       for n, t in enumerate(["09:00", "09:30", "10:00", "10:30", "14:00", "14:30", "15:00"], 1)]
TICKET = "いちにーさんよんごーろくななはちきゅーぜろ"  # how a caller says 1234567890
STORE = {
    "find_available": {"slots": DAY}, "hold": {"hold_id": 1}, "confirm": {"code": "40912345"},
}


def morae(text: str) -> int:
    kana = pyopenjtalk.g2p(text, kana=True)
    return sum(1 for ch in kana if "ァ" <= ch <= "ヴ" or ch == "ー") - sum(1 for ch in kana if ch in SMALL)


def dialog_seconds(script_name: str, answers: list) -> float:
    engine = Engine(load_script(SCRIPTS / script_name), today=date(2026, 11, 25))
    actions, seconds, pending = engine.start(), 0.0, list(answers)
    while True:
        seconds += sum(morae(a.text) for a in actions if isinstance(a, Say)) / MORAE_PER_SECOND
        last = actions[-1]
        if isinstance(last, StoreCall):
            actions = engine.handle(StoreResult(last.op, True, STORE.get(last.op, {})))
            continue
        if engine.done:
            assert engine.values.get("code") == "40912345"
            return seconds
        answer = pending.pop(0)
        spoken = answer.nbest[0] if isinstance(answer, Utterance) else ""
        seconds += REACT + morae(spoken) / MORAE_PER_SECOND + ENDPOINT + ANSWER if spoken else REACT + 1.5
        actions = engine.handle(answer)


def test_morae_counting():
    assert morae("はい") == 2
    assert morae("きょう") == 2  # キョー
    assert morae("予約番号") == 7  # ヨヤクバンゴー


@pytest.mark.parametrize(
    ("script", "answers"),
    [
        ("vaccine.yaml", [Utterance(("予約",)), Utterance((TICKET,)), Utterance(("昭和40年5月6日",)),
                          Utterance(("12月3日の2時半",)), Utterance(("はい",))]),
        ("vaccine.yaml", [Utterance(("予約",)), Utterance((TICKET,)), Utterance(("昭和40年5月6日",)),
                          Utterance(("12月3日",)), Utterance(("2時半",)), Utterance(("はい",))]),
        ("vaccine.yaml", [Digits("1"), Digits("1234567890#"), Digits("19650506#"), Digits("1203#"),
                          Digits("1430#"), Digits("1")]),
        ("checkup.yaml", [Utterance(("予約",)), Utterance(("ぜろ" + TICKET,)), Utterance(("昭和30年4月1日",)),
                          Utterance(("市役所",)), Utterance(("12月3日の2時半",)), Utterance(("はい",))]),
    ],
    ids=["vaccine by voice", "vaccine, date and time asked apart", "vaccine by keypad", "checkup by voice"],
)
def test_a_prompt_booking_takes_under_a_minute(script, answers):
    seconds = dialog_seconds(script, answers)
    print(f"{script}: {seconds:.1f} s")
    assert seconds < 60.0
