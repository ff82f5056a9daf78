"""Pure helpers of the recognizers and the evaluation (no models loaded)."""

import json

import pytest

from ivr.speech.asr import Hints
from ivr.speech.evaluation import cer, corpus_cer, edit_distance, kana_reading
from ivr.speech.vosk_backend import _parse_final
from ivr.speech.whisper_backend import _echoes, collapse_repeats, max_tokens, window_seconds


@pytest.mark.parametrize(
    ("text", "expected"),
    [("はいはいはいはい", "はい"), ("予約予約予約です", "予約です"), ("12341234", "12341234"), ("はい、そうです", "はい、そうです"),
     ("7、7、7、5、8、3、4、3、8、6", "7、7、7、5、8、3、4、3、8、6"), ("1、1、1、1", "1、1、1、1"),
     ("090-1111-1111", "090-1111-1111"), ("１、１、１、２", "１、１、１、２"),
     ("お願いします。お願いします。お願いします。", "お願いします。")],
)
def test_collapse_repeats(text, expected):
    assert collapse_repeats(text) == expected


def test_window_has_a_floor_and_a_ceiling():
    assert window_seconds(0.5) == 10
    assert window_seconds(9.2) == 11
    assert window_seconds(45) == 30
    assert window_seconds(0.8, short_answers=True) == 4  # a yes/no answer
    assert window_seconds(5.5, short_answers=True) == 7
    assert max_tokens(2.0) < max_tokens(4.0)


def test_prompt_echo_detection():
    prompt = Hints(words=("接種券番号", "生年月日")).prompt()
    assert prompt == "接種券番号、生年月日"
    assert _echoes("接種券番号、生年月日", prompt)
    assert not _echoes("接種券番号は1234です", prompt)
    assert not _echoes("", prompt)
    offered = Hints(words=("時間", "午前十時", "午後一時", "午後五時半")).prompt()
    assert _echoes("午後一時、午後一時", offered) and _echoes("午後五時半、午後五時半、午後五時半", offered)
    assert _echoes("十時、午後一時、午", offered)  # a stretch of the prompt
    assert not _echoes("午後一時でお願いします", offered) and not _echoes("十時、十一時", offered)
    # One offered word alone is decoded again without the prompt too: `ivr eval understanding`
    # with it taken as the answer had 28 wrong turns of 208 instead of 16 (えーと heard as 午後一時).
    assert _echoes("午後一時", offered)


def test_vosk_result_parsing():
    raw = {"alternatives": [{"text": "예약 [unk]", "confidence": 300.0}, {"text": "네", "confidence": 100.0}]}
    final = _parse_final(json.dumps(raw, ensure_ascii=False))
    assert final.text == "예약" and final.nbest == ("예약", "네") and final.confidence == pytest.approx(0.75)
    assert _parse_final(json.dumps({"alternatives": [{"text": "", "confidence": 5.0}]})).text == ""
    words = {"text": "네", "result": [{"word": "네", "conf": 0.8}]}
    assert _parse_final(json.dumps(words, ensure_ascii=False)).confidence == pytest.approx(0.8)


def test_cer_on_kana_readings_accepts_digits_and_kanji_alike():
    assert kana_reading("12月3日") == kana_reading("十二月三日")
    assert cer("接種券番号は一二三四です。", "接種券番号は1234です") == 0.0
    assert cer("はい", "いいえ") > 0.5
    assert edit_distance("abc", "abd") == 1
    assert corpus_cer([("はい", "はい"), ("いいえ", "いいえ")]) == 0.0


def test_a_number_of_known_length_caps_the_decoding_below_the_audio_s_length():
    from dialogs.messages import Listen
    from ivr.listen_hints import hints_for, number_tokens

    ticket = hints_for(Listen("digits", hints=("接種券番号",), max_digits=10))
    assert ticket.max_tokens == number_tokens(10) < max_tokens(5.0)  # 10 digits said in about 5 s
    assert hints_for(Listen("date", hints=(), max_digits=4)).max_tokens is None  # 十二月十三日でお願いします
