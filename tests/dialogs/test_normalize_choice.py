"""Choices matched by kana reading (pyopenjtalk g2p), tolerant of recognition errors."""

import pytest

from dialogs.normalize import match_choice
from dialogs.normalize.choice import reading

MENU = {
    "book": ("予約", "予約したい", "新しく予約", "申し込み"),
    "check": ("確認", "予約の確認", "確かめたい"),
    "cancel": ("キャンセル", "取り消し", "とりけし", "取消"),
    "move": ("変更", "日時の変更", "日にちを変えたい", "変えたい"),
}
SITES = {"city_hall": ("市役所", "本庁舎"), "north": ("北部保健センター", "北部", "保健センター")}

CASES = [
    (MENU, "予約", "book"), (MENU, "予約したいです", "book"), (MENU, "よやく", "book"), (MENU, "ヨヤク", "book"),
    (MENU, "えーと、予約をお願いします", "book"), (MENU, "新しく予約したい", "book"), (MENU, "申し込みです", "book"),
    (MENU, "予約の確認", "check"), (MENU, "確認です", "check"), (MENU, "かくにん", "check"),
    (MENU, "予約を確認したい", "check"), (MENU, "キャンセル", "cancel"), (MENU, "きゃんせるで", "cancel"),
    (MENU, "予約を取り消したい", "cancel"), (MENU, "とりけし", "cancel"), (MENU, "キャンセルお願いします", "cancel"),
    (MENU, "変更", "move"), (MENU, "予約の変更", "move"), (MENU, "へんこう", "move"), (MENU, "日にちを変えたい", "move"),
    (MENU, "ヘンコ", "move"), (MENU, "気にちを変えたい", "move"), (MENU, "予約の確認もしたいです", "check"), (MENU, "キャンセレ", "cancel"), (MENU, "よやきゅ", "book"),
    (MENU, "えーと", None), (MENU, "", None), (MENU, "天気はどうですか", None), (MENU, "こんにちは", None),
    (SITES, "市役所", "city_hall"), (SITES, "しやくしょ", "city_hall"), (SITES, "市役所でお願いします", "city_hall"),
    (SITES, "北部保健センター", "north"), (SITES, "ほくぶ", "north"), (SITES, "保健センターで", "north"),
    (SITES, "北部保険センター", "north"), (SITES, "駅前", None),
]


@pytest.mark.parametrize(("options", "text", "expected"), CASES)
def test_choice(options, text, expected):
    match = match_choice(text, options)
    assert (match.key if match else None) == expected
    if match:
        assert 0.75 <= match.confidence <= 1.0


def test_confidence_is_lower_for_a_misheard_word():
    exact = match_choice("キャンセル", MENU)
    fuzzy = match_choice("キャンセレ", MENU)
    assert exact.confidence == 1.0 and fuzzy.confidence < 1.0


def test_reading_folds_long_vowels_and_particles():
    assert reading("変更") == reading("へんこう") == "へんこ"
    assert reading("予約を") == "よやくお"
