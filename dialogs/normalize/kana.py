"""Spell a folded kana reading the way the normalizers parse: じゅじ -> 十時, あさって -> 明後日.

The normalizers read kanji and digits. A reading rewritten with kanji numerals, counters and the
date words they know can go through the same parsers as a recognizer's spelling, so one set of
parsers serves both. Counters (時, 月, 日, 年, 分) are written only after a number: じかん stays kana.
"""

from __future__ import annotations

# Folded forms (see reading.fold): long vowels dropped, じゅう -> じゅ, ようか -> よか.
_DIGITS = {
    "ぜろ": "〇", "れ": "〇", "まる": "〇", "いち": "一", "いっ": "一", "に": "二", "さん": "三", "よん": "四",
    "よ": "四", "し": "四", "ご": "五", "ろく": "六", "ろっ": "六", "なな": "七", "しち": "七", "はち": "八",
    "はっ": "八", "きゅ": "九", "く": "九",
}
_UNITS = {"じゅ": "十", "じゅっ": "十", "じっ": "十", "ひゃく": "百", "びゃく": "百", "ぴゃく": "百",
          "ひゃっ": "百", "せん": "千", "ぜん": "千", "まん": "万"}
_COUNTERS = {"じ": "時", "がつ": "月", "にち": "日", "ねん": "年", "ふん": "分", "ぷん": "分", "はん": "半"}
_DAYS = {  # day words carry their number: じゅうよっか is 十 + 四日
    "ついたち": "一日", "ふつか": "二日", "みっか": "三日", "よっか": "四日", "いつか": "五日", "むいか": "六日",
    "なのか": "七日", "なぬか": "七日", "よか": "八日", "ここのか": "九日", "とか": "十日", "はつか": "二十日",
}
_WORDS = {
    "しあさって": "明明後日", "みょごにち": "明後日", "あさって": "明後日", "あした": "明日", "あす": "明日",
    "きょ": "今日", "ほんじつ": "本日", "さらいしゅ": "再来週", "らいしゅ": "来週", "こんしゅ": "今週",
    "さらいげつ": "再来月", "らいげつ": "来月", "こんげつ": "今月", "つぎの": "次の",
    "げつよび": "月曜日", "かよび": "火曜日", "すいよび": "水曜日", "もくよび": "木曜日", "きんよび": "金曜日",
    "どよび": "土曜日", "にちよび": "日曜日",
    "ごぜん": "午前", "ごご": "午後", "しょご": "正午", "ゆがた": "夕方", "あさ": "朝", "よる": "夜",
    "めじ": "明治", "たいしょ": "大正", "しょわ": "昭和", "へせ": "平成", "れわ": "令和", "がんねん": "元年",
}
_LEXICON = sorted(
    [(w, "digit", k) for w, k in _DIGITS.items()] + [(w, "unit", k) for w, k in _UNITS.items()]
    + [(w, "counter", k) for w, k in _COUNTERS.items()] + [(w, "day", k) for w, k in _DAYS.items()]
    + [(w, "word", k) for w, k in _WORDS.items()],
    key=lambda entry: -len(entry[0]),
)


def spell(folded: str) -> str:
    """Rewrite a folded reading with kanji numerals, counters and date words; other kana stay."""
    out: list[str] = []
    number = False  # the last thing written was part of a number
    hour = False  # ... or the 時 after one (はん is 半 there)
    i = 0
    while i < len(folded):
        for word, kind, kanji in _LEXICON:
            if not folded.startswith(word, i):
                continue
            if kind == "counter" and not (number or (hour and kanji == "半")):
                continue  # じかん, はんい: not a counted number
            out.append(kanji)
            number, hour = kind in ("digit", "unit"), kanji == "時"
            i += len(word)
            break
        else:
            out.append(folded[i])
            number = hour = False
            i += 1
    return "".join(out)
