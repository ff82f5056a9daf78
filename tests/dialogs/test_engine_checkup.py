"""The 特定健診 script (the same engine, another service and shape) as input -> action tables."""

from datetime import date
from pathlib import Path

import pytest

from dialogs.engine import Engine
from dialogs.script import load_script
from tests.dialogs.helpers import BOOKING, OPERATORS_IN, SILENCE, assert_covered, fail, keys, ok, play, said, slot

SCRIPT = load_script(Path(__file__).resolve().parents[2] / "dialogs" / "scripts" / "checkup.yaml")
TODAY = date(2026, 11, 25)
NORTH = [slot(21, "10:00", 5, day="2026-12-01", site="北部保健センター"),
         slot(22, "13:30", 1, day="2026-12-01", site="北部保健センター")]

START = [(None, ["say~特定健診の予約窓口", "say~オペレーターは0", "listen:choice"])]
IDENTIFIED = START + [
    (said("健診の予約をお願いします"), ["say~受診券番号をどうぞ", "listen:digits"]),
    (said("0123 4567 890"), ["say~生年月日", "listen:birthdate"]),
    (said("昭和30年4月1日"), ["say~会場は、市役所なら1", "listen:choice"]),
]
TO_READBACK = IDENTIFIED + [
    (said("北部保健センターで"), ["say~ご希望の日にち", "listen:date"]),
    (said("来週の火曜日"), ["store:find_available date=2026-12-01 site=北部保健センター service=checkup"]),
    (ok("find_available", slots=NORTH), ["say~午前十時、午後一時半に空きがあります", "listen:time"]),
    (said("1時半"), ["store:hold slot_id=22"]),
    (ok("hold", hold_id=5), ["say~十二月一日 火曜日、午後一時半、北部保健センターを確保しました", "listen:yesno"]),
]
MANAGE = START + [
    (keys("2"), ["say~受診券番号", "listen:digits"]),
    (keys("01234567890#"), ["say~生年月日", "listen:birthdate"]),
    (keys("19550401#"), ["store:lookup service=checkup birthdate=1955-04-01"]),
    (ok("lookup", **BOOKING), ["say~ご予約は、十二月一日 火曜日、午前十時、市役所本庁舎です。予約番号は、ヨン、ゼロ", "listen:choice"]),
]

FLOWS = {
    "book": TO_READBACK + [
        (said("はい"), ["store:confirm hold_id=5"]),
        (ok("confirm", code="11112222"), ["say~予約番号は、イチ、イチ、イチ、イチ、ニー、ニー、ニー、ニー。もう一度",
                                          "say~ありがとうございました", "hangup:completed"]),
    ],
    "site by key, day full": IDENTIFIED + [
        (keys("1"), ["say~ご希望の日にち", "listen:date"]),
        (said("12月5日"), ["store:find_available site=市役所本庁舎"]),
        (ok("find_available", slots=[], alternatives=[slot(30, "09:00", day="2026-12-07")]),
         ["say~十二月五日 土曜日は空きがありません。近い日では、十二月七日 月曜日の午前九時", "listen:date"]),
        (said("12月7日"), ["store:find_available date=2026-12-07"]),
        (ok("find_available", slots=[slot(30, "09:00", day="2026-12-07")]), ["say~午前九時に空き", "listen:time"]),
        (said("10時"), ["say~午前十時は空きがありません。近い時間では、午前九時", "listen:time"]),
        (said("11時"), ["say~午前十一時は空きがありません", "listen:time"]),
        (said("9時"), ["store:hold slot_id=30"]),
        (fail("hold", "slot_full", alternatives=[slot(31, "09:30", day="2026-12-07")]),
         ["say~午前九時は空きがありません。近い時間では、午前九時半が空いています", "listen:time"]),
        (said("9時"), ["say~午前九時は空きがありません", "listen:time"]),  # known taken now
        (said("9時半"), ["store:hold slot_id=31"]),
        (ok("hold", hold_id=6), ["say~十二月七日 月曜日、午前九時半", "listen:yesno"]),
    ],
    "the last place goes while the caller talks": IDENTIFIED + [
        (keys("1"), ["say~ご希望の日にち", "listen:date"]),
        (said("12月7日の9時"), ["store:find_available date=2026-12-07"]),
        (ok("find_available", slots=[slot(30, "09:00", 1, day="2026-12-07")]), ["store:hold slot_id=30"]),
        (fail("hold", "slot_full", alternatives=[]), ["say~十二月七日は空きがなくなりました", "listen:date"]),
        (said("12月8日"), ["store:find_available date=2026-12-08"]),
    ],
    "nothing open at all": IDENTIFIED + [
        (keys("2"), ["say~ご希望の日にち", "listen:date"]),
        (said("明日"), ["store:find_available site=北部保健センター"]),
        (ok("find_available", slots=[], alternatives=[]), ["say~ご予約いただける空きがありません", "say~ありがとうございました",
                                                           "hangup:completed"]),
    ],
    "choose again": TO_READBACK + [
        (said("いいえ"), ["say~選び直す場合は1", "listen:choice"]),
        (said("会場を変更したい"), ["store:release_hold hold_id=5"]),
        (ok("release_hold"), ["say~会場は、市役所なら1", "listen:choice"]),
    ],
    "give up": TO_READBACK + [
        (keys("2"), ["say~選び直す場合は1", "listen:choice"]),
        (keys("2"), ["store:release_hold hold_id=5"]),
        (ok("release_hold"), ["say~ありがとうございました", "hangup:completed"]),
    ],
    "expired": TO_READBACK + [
        (said("はい"), ["store:confirm"]),
        (fail("confirm", "hold_expired"), ["say~確保の時間が過ぎました", "store:find_available"]),
    ],
    "already booked": TO_READBACK + [
        (said("はい"), ["store:confirm"]),
        (fail("confirm", "already_booked"), ["store:release_hold hold_id=5"]),
        (ok("release_hold"), ["say~すでにご予約があります", "say~予約は1", "listen:choice"]),
    ],
    "confirm error goes to an operator": TO_READBACK + [
        (said("はい"), ["store:confirm"]),
        (fail("confirm", "slot_closed"), ["check-operators"]),
        (OPERATORS_IN, ["say~オペレーターにおつなぎします", "store:release_hold hold_id=5"]),
        (ok("release_hold"), ["transfer"]),
    ],
    "cancel, heard as カンセル": MANAGE + [
        (said("カンセルで"), ["say~取り消します。よろしいですか", "listen:yesno"]),
    ],
    "cancel": MANAGE + [
        (said("取り消したいです"), ["say~取り消します。よろしいですか", "listen:yesno"]),
        (said("はい"), ["store:cancel code=40912345"]),
        (ok("cancel", **BOOKING), ["say~取り消しました", "say~ありがとうございました", "hangup:completed"]),
    ],
    "cancel, then no": MANAGE + [
        (keys("1"), ["say~取り消します", "listen:yesno"]),
        (said("いや、やめておきます"), ["say~ありがとうございました", "hangup:completed"]),
    ],
    "keep": MANAGE + [(said("このままで大丈夫です"), ["say~ありがとうございました", "hangup:completed"])],
    "not found": START + [
        (keys("2"), ["say~受診券番号", "listen:digits"]),
        (keys("01234567890"), ["say~生年月日", "listen:birthdate"]),
        (said("昭和30年4月1日"), ["store:lookup"]),
        (fail("lookup", "not_found"), ["say~見つかりませんでした", "check-operators"]),
        (OPERATORS_IN, ["say~オペレーターにおつなぎします", "transfer"]),
    ],
    "silence ends politely": START + [
        (SILENCE, ["say~お声が聞き取れませんでした", "listen:choice"]),
        (SILENCE, ["say~お声が聞き取れませんでした。ボタンでお選びください", "keypad:choice"]),
        (SILENCE, ["say~ありがとうございました", "hangup:silence"]),
    ],
    "silence ends politely and releases the hold": TO_READBACK + [
        (SILENCE, ["say~お声が聞き取れませんでした", "listen:yesno"]),
        (SILENCE, ["say~お声が聞き取れませんでした。はいの場合は一、いいえの場合は二を押してください", "keypad:yesno"]),
        (SILENCE, ["say~健診の日をお待ちしております", "store:release_hold hold_id=5"]),
        (ok("release_hold"), ["hangup:silence"]),
    ],
}


@pytest.mark.parametrize("name", list(FLOWS))
def test_flow(name):
    play(Engine(SCRIPT, today=TODAY), FLOWS[name])


def test_every_step_and_outcome_is_covered():
    assert_covered(SCRIPT, FLOWS, TODAY)


def test_no_long_arabic_numbers_are_spoken():
    """Open JTalk reads 1430 as 千四百三十: keys and codes must be written digit by digit."""
    import re

    from dialogs.engine import Say
    from tests.dialogs import test_engine_vaccine as vaccine

    for script, flows in ((SCRIPT, FLOWS), (vaccine.SCRIPT, vaccine.FLOWS)):
        for name, turns in flows.items():
            for action in play(Engine(script, today=TODAY), turns):
                if isinstance(action, Say):
                    assert not re.search(r"\d{3,}", action.text), (name, action.text)
