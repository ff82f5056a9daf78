"""Global intents understood at every question: repeat, operator, restart."""

from __future__ import annotations

import re

from dialogs.normalize.text import kanji_numerals, width

REPEAT, OPERATOR, RESTART = "repeat", "operator", "restart"

_PATTERNS = (  # checked in this order: 'もう一度最初から' is a restart
    # レーター also catches what Whisper writes for a muffled オペレーター on the phone (オケレーター).
    (OPERATOR, ("オペレーター", "オペレータ", "おぺれーたー", "レーター", "人と話", "ひとと話", "人間", "担当者", "担当の方",
                "職員", "係の人", "係の方", "窓口の人", "人に代わ", "人につな", "電話を代わ", "と話したい", "と話せ")),
    (RESTART, ("最初から", "さいしょから", "初めから", "はじめから", "始めから", "やり直", "やりなおし")),
    (REPEAT, ("もう1度", "もう1回", "もういちど", "もういっかい", "もっかい", "繰り返し", "くりかえし",
              "聞こえな", "聞き取れ", "聞こえませ", "よく分かりませ", "よくわかりませ", "何ですか", "なんですか")),
)
_SPACE_RE = re.compile(r"[\s、。,.!?！？]+")


def parse_intent(text: str) -> str | None:
    """`repeat`, `operator`, `restart` or None."""
    text = kanji_numerals(_SPACE_RE.sub("", width(text)))
    for intent, words in _PATTERNS:
        if any(word in text for word in words):
            return intent
    return None
