"""はい / いいえ and their everyday forms; anything else has no value."""

from __future__ import annotations

import re

from dialogs.normalize.text import strip_fillers, to_hiragana, width

_NO = (
    "いいえ", "いえ", "いや", "ううん", "違います", "ちがいます", "違う", "ちがう", "違って", "ちがって",
    "だめ", "ダメ", "駄目", "やめておきます", "やめときます", "やめます", "やめて", "止めて",
    "ノー", "間違って", "まちがって", "間違い", "まちがい", "困ります", "結構ですいい", "キャンセル",
    "カンセル",  # how recognizers often write キャンセル
    "しないです", "しません", "いらない", "いりません",
)
_YES = (
    "はい", "ええ", "うん", "そうです", "そう", "お願いします", "おねがいします", "お願い", "大丈夫",
    "だいじょうぶ", "それで結構です", "それでいいです", "それでいい", "結構です", "合ってます",
    "あってます", "合っています", "あっています", "正しい", "いいですよ", "オッケー", "OK", "ok",
    "了解", "よろしく", "かしこまりました", "その通り", "そのとおり", "いいです", "構いません",
    "かまいません", "問題ありません", "予約して", "確定",
)
_BARE_AMBIGUOUS = ("結構です", "いいです")  # alone these are as often a refusal
_MARKERS = sorted(
    [(to_hiragana(w), False) for w in _NO] + [(to_hiragana(w), True) for w in _YES], key=lambda m: -len(m[0])
)
_PUNCT_RE = re.compile(r"[\s、。,.!?！？]+")


def parse_yesno(text: str) -> bool | None:
    """True for yes, False for no, None for anything else (never a guess)."""
    text = to_hiragana(_PUNCT_RE.sub("", strip_fillers(width(text))))
    if text in map(to_hiragana, _BARE_AMBIGUOUS):
        return None
    best: tuple[int, bool] | None = None
    for word, polarity in _MARKERS:
        position = text.find(word)
        if position >= 0 and (best is None or position < best[0]):
            best = (position, polarity)
    return None if best is None else best[1]
