"""はい / いいえ in their everyday forms; anything else has no value."""

import pytest

from dialogs.normalize import parse_yesno

YES = [
    "はい", "はい。", "はいはい", "ハイ", "はい、お願いします", "ええ", "ええ、そうです", "うん", "うん、それで",
    "そうです", "そう", "そうですね、お願いします", "お願いします", "おねがいします", "それでお願いします",
    "大丈夫です", "だいじょうぶです", "それで結構です", "それでいいです", "合ってます", "あっています",
    "はい、合っています", "えーと、はい", "あの、はい、大丈夫です", "オッケー", "OK", "ＯＫ", "はい です",
    "それで大丈夫です", "問題ありません", "構いません", "はい お願いします", "はい、予約してください", "はい 確定で",
]
NO = [
    "いいえ", "いいえ。", "いえ", "いえ、結構です", "いえ結構です", "いや", "いやいや", "いや、違います",
    "違います", "ちがいます", "違う", "だめです", "ダメ", "やめておきます", "やめときます", "やめます",
    "ううん", "ノー", "えーと、いいえ", "いいえ、違います", "間違っています", "日にちが違います",
    "いえ、やめておきます", "いいえ、大丈夫です", "入れね、違います。", "キャンセルで", "カンセルでお願いします",
]
NONE = ["もう一度", "えーと", "", "結構です", "いいです", "12月3日", "午後2時", "うーん", "あのー", "わかりません",
        "何ですか"]


@pytest.mark.parametrize("text", YES)
def test_yes(text):
    assert parse_yesno(text) is True


@pytest.mark.parametrize("text", NO)
def test_no(text):
    assert parse_yesno(text) is False


@pytest.mark.parametrize("text", NONE)
def test_no_value(text):
    assert parse_yesno(text) is None
