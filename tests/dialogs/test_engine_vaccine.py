"""The vaccine script as tables of inputs and expected actions: every step and outcome."""

from datetime import date
from pathlib import Path

import pytest

from dialogs.engine import Engine, EngineError, Say
from dialogs.script import load_script
from dialogs.messages import OperatorStatus, Utterance
from tests.dialogs.helpers import (
    BOOKING, DAY, NOBODY_IN, OPERATORS_IN, SILENCE, assert_covered, fail, keys, ok, play, said, slot,
)

SCRIPT = load_script(Path(__file__).resolve().parents[2] / "dialogs" / "scripts" / "vaccine.yaml")
TODAY = date(2026, 11, 25)

START = [(None, ["say~ワクチン予約の窓口", "say~ご用件をお話しください", "listen:choice"])]
IDENTIFY = [
    (said("1234567890"), ["say~生年月日", "listen:birthdate"]),
    (said("昭和40年5月6日です"), None),  # filled in per flow
]
TO_DATE = START + [
    (said("予約したいです"), ["say~接種券番号", "listen:digits"]),
    (said("接種券番号は 1234 5678 90 です"), ["say~生年月日", "listen:birthdate"]),
    (said("昭和40年5月6日です"), ["say~ご希望の日にち", "listen:date"]),
]
TO_TIME = TO_DATE + [
    (said("えーと、12月3日"), ["store:find_available date=2026-12-03 service=vaccine"]),
    (ok("find_available", slots=DAY), ["say~十二月三日は、午前九時、午後二時半、午後三時に空きがあります", "listen:time"]),
]
TO_READBACK = TO_TIME + [
    (said("2時半でお願いします"), ["store:hold slot_id=4"]),
    (ok("hold", hold_id=70), ["say~十二月三日 木曜日、午後二時半、市役所本庁舎で、予約してよろしいですか", "listen:yesno"]),
]
BOOKED = [
    (ok("confirm", code="40912345"), ["say~予約番号は、ヨン、ゼロ、キュー、イチ、ニー、サン、ヨン、ゴー。もう一度",
                                      "say~ありがとうございました", "hangup:completed"]),
]

FLOWS = {
    "book by voice": TO_READBACK + [(said("はい、お願いします"), ["store:confirm hold_id=70"])] + BOOKED,
    "book by keypad": START + [
        (keys("1"), ["say~接種券番号", "listen:digits"]),
        (keys("1234567890#"), ["say~生年月日", "listen:birthdate"]),
        (keys("19650506#"), ["say~ご希望の日にち", "listen:date"]),
        (keys("1203#"), ["store:find_available date=2026-12-03"]),
        (ok("find_available", slots=DAY), ["say~空きがあります", "listen:time"]),
        (keys("1430#"), ["store:hold slot_id=4"]),
        (ok("hold", hold_id=70), ["say~で、予約してよろしいですか", "listen:yesno"]),
        (keys("1"), ["store:confirm hold_id=70"]),
    ] + BOOKED,
    "day full, alternatives at once": TO_DATE + [
        (said("明日"), ["store:find_available date=2026-11-26"]),
        (ok("find_available", slots=[], alternatives=[slot(8, "10:00", day="2026-11-27")]),
         ["say~十一月二十六日 木曜日は空きがありません。近い日では、十一月二十七日 金曜日の午前十時が空いています", "listen:date"]),
        (said("あさって"), ["store:find_available date=2026-11-27"]),
        (ok("find_available", slots=[slot(8, "10:00", day="2026-11-27")]), ["say~午前十時に", "listen:time"]),
        (said("10時"), ["store:hold slot_id=8"]),
        (ok("hold", hold_id=71), ["say~十一月二十七日 金曜日、午前十時", "listen:yesno"]),
    ],
    "nothing open at all": TO_DATE + [
        (said("明日"), ["store:find_available"]),
        (ok("find_available", slots=[], alternatives=[]), ["say~ご予約いただける空きがありません", "say~ありがとうございました",
                                                           "hangup:completed"]),
    ],
    "called before the opening, nothing open yet": TO_DATE + [
        (said("12月3日"), ["store:find_available date=2026-12-03"]),
        (ok("find_available", slots=[], alternatives=[], opens="2026-11-26T09:00"),
         ["say~十二月三日 木曜日のご予約は、十一月二十六日 木曜日 午前九時から受け付けます",
          "say~受付が始まりましたら、もう一度おかけください", "say~ありがとうございました", "hangup:completed"]),
    ],
    "called before the opening, another day open now": TO_DATE + [
        (said("12月3日"), ["store:find_available date=2026-12-03"]),
        (ok("find_available", slots=[], alternatives=[slot(8, "10:00", day="2026-11-27")], opens="2026-11-26T09:00"),
         ["say~から受け付けます", "say~ほかの日にちでしたら、十一月二十七日 金曜日の午前十時が空いています", "listen:date"]),
        (said("27日"), ["store:find_available date=2026-11-27"]),
        (ok("find_available", slots=[slot(8, "10:00", day="2026-11-27")]), ["say~午前十時に空きがあります", "listen:time"]),
    ],
    "day full, an offered time taken as it is": TO_DATE + [
        (said("明日"), ["store:find_available date=2026-11-26"]),
        (ok("find_available", slots=[], alternatives=[slot(8, "10:00", day="2026-11-27"), slot(9, "13:00", day="2026-11-30")]),
         ["say~近い日では、十一月二十七日 金曜日の午前十時、十一月三十日 月曜日の午後一時が空いています", "listen:date"]),
        (said("じゃあ1時で"), ["store:find_available date=2026-11-30"]),
        (ok("find_available", slots=[slot(9, "13:00", day="2026-11-30")]), ["store:hold slot_id=9"]),
    ],
    "the earliest time, whatever it is": TO_TIME + [
        (said("一番早い時間でお願いします"), ["store:hold slot_id=1"]),
    ],
    "time full, nearest times at once": TO_TIME + [
        (said("2時"), ["say~午後二時は空きがありません。近い時間では、午前九時、午後二時半、午後三時が空いています", "listen:time"]),
        (said("9時半"), ["say~午前九時半は空きがありません", "listen:time"]),
        (said("3時"), ["store:hold slot_id=5"]),
        (fail("hold", "slot_full", alternatives=[slot(4, "14:30")]),
         ["say~午後三時は空きがありません。近い時間では、午後二時半が空いています", "listen:time"]),
        (said("3時"), ["say~午後三時は空きがありません", "listen:time"]),  # known taken: no second try
        (said("14時30分"), ["store:hold slot_id=4"]),
        (ok("hold", hold_id=72), ["say~午後二時半", "listen:yesno"]),
    ],
    "no at read-back, change the date": TO_READBACK + [
        (said("いいえ"), ["say~日にちの変更は1", "listen:choice"]),
        (said("日にちを変えたい"), ["store:release_hold hold_id=70"]),
        (ok("release_hold"), ["say~ご希望の日にち", "listen:date"]),
    ],
    "no at read-back, change the time": TO_READBACK + [
        (said("違います"), ["say~日にちの変更は1", "listen:choice"]),
        (keys("2"), ["store:release_hold hold_id=70"]),
        (ok("release_hold"), ["say~空きがあります", "listen:time"]),
        (said("午前9時"), ["store:hold slot_id=1"]),
        (ok("hold", hold_id=73), ["say~午前九時", "listen:yesno"]),
    ],
    "no at read-back, correct the number": TO_READBACK + [
        (said("いいえ"), ["say~日にちの変更は1", "listen:choice"]),
        (said("番号が違います"), ["store:release_hold hold_id=70"]),
        (ok("release_hold"), ["say~接種券番号", "listen:digits"]),
    ],
    "no at read-back, give up": TO_READBACK + [
        (said("いえ、やめておきます"), ["say~日にちの変更は1", "listen:choice"]),
        (said("やめます"), ["store:release_hold hold_id=70"]),
        (ok("release_hold"), ["say~ありがとうございました", "hangup:completed"]),
    ],
    "hold expired before confirming": TO_READBACK + [
        (said("はい"), ["store:confirm"]),
        (fail("confirm", "hold_expired"), ["say~確保の時間が過ぎました", "store:find_available date=2026-12-03"]),
    ],
    "already booked goes to an operator": TO_READBACK + [
        (said("はい"), ["store:confirm"]),
        (fail("confirm", "already_booked"), ["say~すでにご予約があります", "check-operators"]),
        (OPERATORS_IN, ["say~オペレーターにおつなぎします", "store:release_hold hold_id=70"]),
        (ok("release_hold"), ["transfer"]),
    ],
    "check a booking": START + [
        (said("予約の確認"), ["say~接種券番号", "listen:digits"]),
        (said("1234567890"), ["say~生年月日", "listen:birthdate"]),
        (said("昭和40年5月6日"), ["store:lookup service=vaccine"]),
        (ok("lookup", **BOOKING), ["say~ご予約は、十二月一日 火曜日、午前十時、市役所本庁舎です。予約番号は、ヨン、ゼロ",
                                   "say~ありがとうございました", "hangup:completed"]),
    ],
    "lookup not found, try again": START + [
        (keys("2"), ["say~接種券番号", "listen:digits"]),
        (keys("1234567890"), ["say~生年月日", "listen:birthdate"]),
        (keys("19650506"), ["store:lookup"]),
        (fail("lookup", "not_found"), ["say~見つかりませんでした", "listen:yesno"]),
        (said("はい"), ["say~接種券番号", "listen:digits"]),
    ],
    "lookup not found, give up": START + [
        (keys("2"), ["say~接種券番号", "listen:digits"]),
        (keys("1234567890"), ["say~生年月日", "listen:birthdate"]),
        (keys("19650506"), ["store:lookup"]),
        (fail("lookup", "identity_mismatch"), ["say~見つかりませんでした", "listen:yesno"]),
        (said("いいえ"), ["say~ありがとうございました", "hangup:completed"]),
    ],
    "cancel a booking": START + [
        (said("キャンセルしたいです"), ["say~接種券番号", "listen:digits"]),
        (said("1234567890"), ["say~生年月日", "listen:birthdate"]),
        (said("平成元年2月3日"), ["store:lookup birthdate=1989-02-03"]),
        (ok("lookup", **BOOKING), ["say~十二月一日 火曜日、午前十時のご予約を取り消します", "listen:yesno"]),
        (said("はい"), ["store:cancel code=40912345"]),
        (ok("cancel", **BOOKING), ["say~取り消しました", "say~ありがとうございました", "hangup:completed"]),
    ],
    "cancel, heard as カンセル": START + [
        (said("カンセルしたいです"), ["say~接種券番号", "listen:digits"]),  # how recognizers write キャンセル
    ],
    "cancel, then keep it": START + [
        (keys("3"), ["say~接種券番号", "listen:digits"]),
        (keys("1234567890"), ["say~生年月日", "listen:birthdate"]),
        (keys("19650506"), ["store:lookup"]),
        (ok("lookup", **BOOKING), ["say~取り消します", "listen:yesno"]),
        (keys("2"), ["say~ありがとうございました", "hangup:completed"]),
    ],
    "move a booking": START + [
        (said("日にちを変えたい"), ["say~接種券番号", "listen:digits"]),
        (said("1234567890"), ["say~生年月日", "listen:birthdate"]),
        (said("1965年5月6日"), ["store:lookup"]),
        (ok("lookup", **BOOKING), ["say~今のご予約は、十二月一日 火曜日、午前十時です", "say~ご希望の日にち", "listen:date"]),
        (said("12月3日"), ["store:find_available"]),
        (ok("find_available", slots=DAY), ["say~空きがあります", "listen:time"]),
        (said("3時"), ["store:hold slot_id=5"]),
        (ok("hold", hold_id=74), ["say~午後三時、市役所本庁舎に、変更してよろしいですか", "listen:yesno"]),
        (said("はい"), ["store:reschedule code=40912345 slot_id=5 hold_id=74"]),
        (ok("reschedule", **BOOKING), ["say~変更しました。予約番号は、ヨン", "say~ありがとうございました", "hangup:completed"]),
    ],
}
MOVE_READBACK = FLOWS["move a booking"][:-2]
FLOWS |= {
    "move, no at read-back": MOVE_READBACK + [(said("いいえ"), ["say~日にちの変更は1", "listen:choice"])],
    "move, new slot taken": MOVE_READBACK + [
        (said("はい"), ["store:reschedule"]),
        (fail("reschedule", "slot_full", alternatives=[slot(1, "09:00")]), ["say~午後三時は空きがありません", "listen:time"]),
    ],
    "move, the slot went, nearest others offered": MOVE_READBACK + [
        (said("はい"), ["store:reschedule"]),
        (fail("reschedule", "slot_full"), ["say~午後三時は空きがありません。近い時間では、午前九時、午後二時半が", "listen:time"]),
    ],
    "move, the last place of the day went": START + [
        (keys("4"), ["say~接種券番号", "listen:digits"]),
        (keys("1234567890"), ["say~生年月日", "listen:birthdate"]),
        (keys("19650506"), ["store:lookup"]),
        (ok("lookup", **BOOKING), ["say~今のご予約は", "say~ご希望の日にち", "listen:date"]),
        (said("12月4日の10時"), ["store:find_available date=2026-12-04"]),
        (ok("find_available", slots=[slot(9, "10:00", 1, day="2026-12-04")]), ["store:hold slot_id=9"]),
        (ok("hold", hold_id=76), ["say~に、変更してよろしいですか", "listen:yesno"]),
        (said("はい"), ["store:reschedule slot_id=9 hold_id=76"]),
        (fail("reschedule", "slot_full"), ["say~十二月四日は空きがなくなりました", "listen:date"]),
    ],
    "the last place of the day goes while the caller talks": TO_DATE + [
        (said("12月4日の10時"), ["store:find_available date=2026-12-04"]),
        (ok("find_available", slots=[slot(9, "10:00", 1, day="2026-12-04")]), ["store:hold slot_id=9"]),
        (fail("hold", "slot_full", alternatives=[]), ["say~十二月四日は空きがなくなりました。ほかの日にちをどうぞ", "listen:date"]),
        (said("12月3日"), ["store:find_available date=2026-12-03"]),
    ],
    "move, hold expired": MOVE_READBACK + [
        (said("はい"), ["store:reschedule"]),
        (fail("reschedule", "hold_expired"), ["say~確保の時間が過ぎました", "store:find_available"]),
    ],
    "date and time in one breath": TO_DATE + [
        (said("12月3日の2時半でお願いします"), ["store:find_available date=2026-12-03"]),
        (ok("find_available", slots=DAY), ["store:hold slot_id=4"]),
        (ok("hold", hold_id=75), ["say~十二月三日 木曜日、午後二時半", "listen:yesno"]),
    ],
    "date and time in one breath, that time is full": TO_DATE + [
        (said("12月3日の午後2時"), ["store:find_available date=2026-12-03"]),
        (ok("find_available", slots=DAY), ["say~午後二時は空きがありません。近い時間では、午前九時、午後二時半、午後三時",
                                           "listen:time"]),
    ],
    "menu answered with the number said aloud": START + [
        (said("2番"), ["say~接種券番号", "listen:digits"]),
    ],
    "menu number not on the menu": START + [
        (said("7番"), ["say~恐れ入ります", "listen:choice"]),
    ],
    "operator by voice": START + [
        (said("予約"), ["say~接種券番号", "listen:digits"]),
        (said("オペレーターと話したい"), ["check-operators"]),
        (OPERATORS_IN, ["say~オペレーターにおつなぎします", "transfer"]),
    ],
    "operator asked for, nobody there: a call-back to the caller's number": START + [
        (said("オペレーターをお願いします"), ["check-operators"]),
        (NOBODY_IN, ["say~おつなぎできません。受付時間は、平日の午前八時半から午後五時十五分までです", "say~折り返しのお電話",
                     "listen:yesno"]),
        (said("はい"), ["store:request_callback service=vaccine reason=asked phone=None"]),
        (ok("request_callback", id=1, phone_tail="5678"), ["say~承りました", "hangup:completed"]),
    ],
    "nobody there, a call-back to a typed number": START + [
        (keys("0"), ["check-operators"]),
        (OperatorStatus(False), ["say~おつなぎできません。", "say~折り返しのお電話", "listen:yesno"]),
        (keys("1"), ["say~お電話番号を", "listen:digits"]),
        (keys("0312345678#"), ["store:request_callback phone=0312345678"]),
        (fail("request_callback", "invalid_phone"), ["say~お電話番号を", "listen:digits"]),
        (keys("0312345678#"), ["store:request_callback phone=0312345678"]),
        (fail("request_callback", "db_unavailable"), ["say~処理ができませんでした", "hangup:completed"]),
    ],
    "nobody there, no call-back wanted, the hold given back": TO_READBACK + [
        (keys("0"), ["check-operators"]),
        (NOBODY_IN, ["say~おつなぎできません", "store:release_hold hold_id=70"]),
        (ok("release_hold"), ["say~折り返しのお電話", "listen:yesno"]),
        (said("いいえ、結構です"), ["say~ありがとうございました", "hangup:completed"]),
    ],
    "operator by key 0, hold released first": TO_READBACK + [
        (keys("0"), ["check-operators"]),
        (OPERATORS_IN, ["say~オペレーターにおつなぎします", "store:release_hold hold_id=70"]),
        (ok("release_hold"), ["transfer"]),
    ],
    "repeat by voice and by star": TO_DATE + [
        (said("もう一度お願いします"), ["say~ご希望の日にち", "listen:date"]),
        (keys("*"), ["say~ご希望の日にち", "listen:date"]),
    ],
    "restart from the top releases the hold": TO_READBACK + [
        (said("最初からやり直したい"), ["store:release_hold hold_id=70"]),
        (ok("release_hold"), ["say~ご用件をお話しください", "listen:choice"]),
    ],
    "an example, then the keypad, then a person": TO_DATE + [
        (said("えーと"), ["say~12月3日、来週の水曜日のように", "listen:date"]),
        (said("いつでもいいです"), ["say~ボタンで、月と日を4桁で押してください", "keypad:date"]),
        (keys("99#"), ["check-operators"]),
        (OPERATORS_IN, ["say~オペレーターにおつなぎします", "transfer"]),
    ],
    "speech fails twice, the keypad answers": TO_DATE + [
        (said("ちょっと待ってください"), ["say~12月3日、来週の水曜日のように", "listen:date"]),
        (said("ちょっと待ってください"), ["say~ボタンで", "keypad:date"]),
        (keys("1203#"), ["store:find_available date=2026-12-03"]),
    ],
    "a past date is not accepted": TO_DATE + [
        (said("11月20日"), ["say~恐れ入ります", "listen:date"]),  # 11月20日 is next year: accepted? no: see below
    ],
    "silence reprompts then transfers": START + [
        (SILENCE, ["say~恐れ入ります。予約は1、確認は2", "listen:choice"]),
        (SILENCE, ["say~お声が聞き取れませんでした。ボタンでお選びください。予約は1", "keypad:choice"]),
        (SILENCE, ["check-operators"]),
        (OPERATORS_IN, ["say~オペレーターにおつなぎします", "transfer"]),
    ],
    "wrong-length ticket is asked again": START + [
        (keys("1"), ["say~接種券番号", "listen:digits"]),
        (said("12345"), ["say~10桁の番号をお話しいただくか", "listen:digits"]),
        (keys("123456789#"), ["say~ボタンで番号を押して", "keypad:digits"]),
        (keys("1234567890#"), ["say~生年月日", "listen:birthdate"]),
    ],
    "unmapped store failure apologises and transfers": TO_DATE + [
        (said("12月3日"), ["store:find_available"]),
        (fail("find_available", "bad_arguments"), ["say~処理ができませんでした", "check-operators"]),
        (OPERATORS_IN, ["say~オペレーターにおつなぎします", "transfer"]),
    ],
}
# 11月20日 said on 11月25日 means next year's, which is a valid date: the flow above goes on to a store call.
FLOWS["a past date is not accepted"] = TO_DATE + [
    (keys("20261120"), ["say~恐れ入ります", "listen:date"]),
    (said("昨日"), ["say~ボタンで", "keypad:date"]),
]


@pytest.mark.parametrize("name", list(FLOWS))
def test_flow(name):
    play(Engine(SCRIPT, today=TODAY), FLOWS[name])


def test_every_step_and_outcome_is_covered():
    assert_covered(SCRIPT, FLOWS, TODAY)


def test_summary_is_masked_and_one_line():
    engine = Engine(SCRIPT, today=TODAY)
    for event, _ in TO_READBACK:
        engine.start() if event is None else engine.handle(event)
    summary = engine.summary()
    assert "\n" not in summary
    assert "1234567890" not in summary and "******7890" in summary
    assert "1965" not in summary and "40年" not in summary and "05-06" not in summary
    assert "用件: 予約" in summary and "希望日: 12/03" in summary and "仮押さえ中" in summary


def test_store_call_repr_hides_personal_data():
    engine = Engine(SCRIPT, today=TODAY)
    actions = play(engine, TO_READBACK + [(said("はい"), ["store:confirm"])])
    call = actions[-1]
    assert call.args["ticket"] == "1234567890" and call.args["birthdate"] == "1965-05-06"
    assert "1234567890" not in repr(call) and "1965" not in repr(call)


def test_the_code_is_not_interruptible():
    engine = Engine(SCRIPT, today=TODAY)
    actions = play(engine, FLOWS["book by voice"])
    code = [a for a in actions if isinstance(a, Say) and a.kind == "code"]
    assert len(code) == 1 and code[0].interruptible is False
    assert code[0].text.count("ヨン、ゼロ、キュー、イチ、ニー、サン、ヨン、ゴー") == 2


def test_nbest_alternatives_are_tried_in_order():
    engine = Engine(SCRIPT, today=TODAY)
    play(engine, TO_DATE)
    from dialogs.engine import Utterance

    actions = engine.handle(Utterance(("えーと", "12月3日"), 0.4))
    assert actions[0].text == "十二月三日ですね。" and actions[0].kind == "readback"  # not the top one: confirmed
    assert engine.handle(said("はい"))[0].args["date"] == "2026-12-03"


@pytest.mark.parametrize(
    "event",
    [ok("hold", hold_id=1), said("はい")],
    ids=["result for another op", "speech while waiting for the store"],
)
def test_unexpected_inputs_raise(event):
    engine = Engine(SCRIPT, today=TODAY)
    play(engine, TO_DATE + [(said("12月3日"), ["store:find_available"])])
    with pytest.raises(EngineError):
        engine.handle(event)


def test_input_after_the_end_raises():
    engine = Engine(SCRIPT, today=TODAY)
    play(engine, FLOWS["book by voice"])
    assert engine.done
    with pytest.raises(EngineError, match="ended"):
        engine.handle(said("はい"))


def test_transfer_summary_after_the_hold_is_given_back():
    engine = Engine(SCRIPT, today=TODAY)
    actions = play(engine, FLOWS["operator by key 0, hold released first"])
    summary = actions[-1].summary
    assert "仮押さえ中" not in summary and "希望時刻: 14:30" in summary and "******7890" in summary
    assert "1234567890" not in summary and "最後の質問: readback" in summary


def test_failed_questions_are_named_in_the_summary():
    engine = Engine(SCRIPT, today=TODAY)
    actions = play(engine, FLOWS["an example, then the keypad, then a person"])
    assert "聞き取れなかった質問: date" in actions[-1].summary


def test_listen_says_what_to_expect():
    engine = Engine(SCRIPT, today=TODAY)
    menu = engine.start()[-1]
    assert menu.kind == "choice" and menu.max_digits == 1 and {"予約", "キャンセル", "変更"} <= set(menu.hints)
    ticket = engine.handle(said("予約"))[-1]
    assert (ticket.kind, ticket.max_digits, ticket.hints) == ("digits", 10, ("接種券番号",))
    birth = engine.handle(said("1234567890"))[-1]
    assert (birth.kind, birth.max_digits, birth.hints) == ("birthdate", 8, ("生年月日",))


def test_min_confidence_asks_again_but_still_hears_intents():
    from dataclasses import replace

    from dialogs.engine import Utterance

    script = replace(SCRIPT, min_confidence=0.5)
    engine = Engine(script, today=TODAY)
    play(engine, START)
    unsure = engine.handle(Utterance(("予約",), 0.3))
    assert "恐れ入ります" in unsure[0].text and engine.step == "menu"
    sure = engine.handle(Utterance(("予約",), 0.8))
    assert engine.step == "ticket" and "接種券番号" in sure[0].text
    asked = engine.handle(Utterance(("オペレーター",), 0.2))
    assert asked[-1].__class__.__name__ == "CheckOperators"
    assert engine.handle(OPERATORS_IN)[-1].__class__.__name__ == "Transfer"


def test_failures_count_the_failed_turns_of_the_current_step():
    engine = Engine(SCRIPT, today=TODAY)
    engine.start()
    asked = engine.step
    assert engine.failures == 0
    engine.handle(said("ぜんぜん関係ない話"))
    assert (engine.step, engine.failures) == (asked, 1)
    engine.handle(SILENCE)
    assert engine.failures == 2  # a silence is a failed turn too
    engine.handle(said("予約したいです"))
    assert engine.failures == 0  # a new step starts clean


def test_a_near_miss_of_an_open_date_is_confirmed_before_it_is_used():
    engine = Engine(SCRIPT, today=TODAY, open_days=[date(2026, 11, 28), date(2026, 12, 3)])
    play(engine, TO_DATE)
    asked = engine.handle(said("仕上さってでお願いします"))  # しあさって as Whisper spelled it
    assert [a.__class__.__name__ for a in asked] == ["Say", "Listen"]
    assert asked[0].text == "十一月二十八日ですね。" and asked[1].kind == "yesno"
    assert engine.handle(said("はい"))[0].args["date"] == "2026-11-28"


def test_a_confirmation_answered_no_is_a_miss_and_the_question_is_asked_again():
    engine = Engine(SCRIPT, today=TODAY, open_days=[date(2026, 11, 28)])
    play(engine, TO_DATE)
    engine.handle(said("仕上さってでお願いします"))
    again = engine.handle(said("いいえ、違います"))
    assert "12月3日、来週の水曜日のように" in again[0].text and engine.failures == 1
    assert engine.handle(keys("1203#"))[0].args["date"] == "2026-12-03"


def test_an_unclear_confirmation_is_asked_once_more_then_counts_as_a_miss():
    engine = Engine(SCRIPT, today=TODAY, open_days=[date(2026, 11, 28)])
    play(engine, TO_DATE)
    engine.handle(said("仕上さってでお願いします"))
    assert engine.handle(said("えーと"))[0].text == "十一月二十八日ですね。"
    assert "のように" in engine.handle(SILENCE)[0].text


def test_homophones_book_the_time_said():
    engine = Engine(SCRIPT, today=TODAY)
    play(engine, TO_DATE)
    found = engine.handle(said("朝っての十字でお願いいします"))  # あさっての十時
    assert found[0].args["date"] == "2026-11-27"
    held = engine.handle(ok("find_available", slots=[slot(8, "10:00", day="2026-11-27"), slot(9, "11:00", day="2026-11-27")]))
    assert held[0].op == "hold" and held[0].args["slot_id"] == 8  # the time said with the date: not asked again


def test_low_confidence_values_are_confirmed_but_clear_ones_are_not():
    from dataclasses import replace

    from dialogs.engine import Utterance

    engine = Engine(replace(SCRIPT, confirm_below=0.6), today=TODAY)
    play(engine, TO_TIME)
    unsure = engine.handle(Utterance(("2時半で",), 0.4))
    assert unsure[0].text == "午後二時半ですね。"
    assert engine.handle(keys("1"))[0].args["slot_id"] == 4


def test_every_listen_tells_the_recognizer_what_the_step_expects():
    engine = Engine(SCRIPT, today=TODAY)
    actions = play(engine, TO_TIME)
    listen = actions[-1]
    assert {"時間", "午前九時", "午後二時半", "午後三時"} <= set(listen.hints)  # the script's words and the offers
    assert {"九時", "二時半", "三時"} <= set(listen.grammar) and not listen.keypad
    assert engine.handle(said("ええと"))[-1].grammar == listen.grammar


def test_a_caller_not_understood_at_the_call_back_offer_is_not_offered_it_for_ever():
    engine = Engine(SCRIPT, today=TODAY)
    play(engine, START + [(keys("0"), ["check-operators"]), (NOBODY_IN, ["say~おつなぎできません", "say~折り返し", "listen:yesno"])])
    engine.handle(SILENCE)
    engine.handle(SILENCE)
    last = engine.handle(SILENCE)
    assert [a.__class__.__name__ for a in last] == ["Say", "Hangup"] and last[-1].reason == "no_operator"
    assert engine.done


def test_a_doubtful_time_said_with_the_date_is_confirmed_with_it():
    engine = Engine(SCRIPT, today=TODAY)
    play(engine, TO_DATE)
    asked = engine.handle(said("あさってのちゅうじでお願いします"))  # ちゅうじ: nearest to じゅうじ
    assert asked[0].text == "十一月二十七日の午前十時ですね。"
    assert engine.handle(said("はい"))[0].args["date"] == "2026-11-27"
    held = engine.handle(ok("find_available", slots=[slot(8, "10:00", day="2026-11-27")]))
    assert held[0].op == "hold" and held[0].args["slot_id"] == 8


def test_prompts_with_a_callers_data_are_private_and_never_cached():
    """Any Say carrying a value of the caller's own (a code, their booking's date, a number) is
    private: the session keeps it out of the prompt cache, on disk and in memory."""
    from datetime import time

    from dialogs.engine import PUBLIC_PLACEHOLDERS
    from dialogs.script import placeholders

    script = load_script(Path(__file__).resolve().parents[2] / "dialogs" / "scripts" / "vaccine.yaml")
    engine = Engine(script, today=date(2026, 11, 25))
    engine.values.update({"booking_date": date(2026, 12, 1), "booking_time": time(10), "code": "40912345",
                          "site": "市役所", "date": date(2026, 12, 1), "time": time(10)})
    checked = 0
    for step in engine.script.steps.values():
        if not step.say:
            continue
        say = engine._say(step.say, step)
        personal = set(placeholders(step.say)) - PUBLIC_PLACEHOLDERS
        if personal:
            checked += 1
            assert say.private, (step.name, personal)
        elif step.kind == "prompt" and "{code}" not in step.say:
            assert not say.private, step.name
    assert checked >= 4


def test_understands_tells_whether_an_answer_would_be_taken_and_changes_nothing():
    engine = Engine(SCRIPT, today=TODAY)
    play(engine, TO_TIME)
    before = (engine.step, dict(engine.values), engine.failures)
    assert engine.understands(said("2時半でお願いします"))
    assert not engine.understands(said("ええと"))
    assert engine.understands(said("オペレーターお願いします"))  # a global intent is acted on too
    assert (engine.step, dict(engine.values), engine.failures) == before
    play(engine, [(said("2時半でお願いします"), ["store:hold slot_id=4"])])  # still answers as before


def test_a_whole_ticket_number_ends_the_pause_even_when_it_is_to_be_confirmed():
    engine = Engine(SCRIPT, today=TODAY)
    play(engine, START + [(said("予約したいです"), ["say~接種券番号", "listen:digits"])])
    doubtful = Utterance(("1234567890", "1234567899"), 0.9)  # hypotheses disagree: confirmed first
    assert engine.understands(doubtful)
    assert not engine.understands(said("1234"))  # the caller may be pausing between groups
    play(engine, [(doubtful, ["say~イチ、ニー、サン", "listen:yesno"])])
