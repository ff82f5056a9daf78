"""Shared clean-up of recognizer output: width, spacing, fillers, kanji numerals, politeness."""

from __future__ import annotations

import re
import unicodedata

import jaconv

FILLERS = (
    "えーっと", "ええっと", "えーと", "ええと", "えっと", "えーっとですね", "えとですね",
    "あのー", "あのう", "あの", "えー", "ええー", "んー", "うーん", "まあ", "そうですねえ",
    "そうですね", "あっ", "あー", "えっ",
)
_FILLER_RE = re.compile(
    r"(?:^|(?<=[\s、。,.]))(?:" + "|".join(sorted(map(re.escape, FILLERS), key=len, reverse=True)) + r")(?=[\s、。,.]|$)"
)
# Glued to the next word only the unmistakable fillers are cut (あっ in あっています is not one).
_LEADING_FILLER_RE = re.compile(
    r"^(?:" + "|".join(sorted((re.escape(f) for f in FILLERS if len(f) >= 3 or "ー" in f), key=len, reverse=True))
    + r")[ー〜]*"
)
_PUNCT_RE = re.compile(r"[\s、。,.!?！？「」『』・…〜~]+")
TRAILERS = (
    "でお願いいたします", "でお願いします", "お願いいたします", "お願いします", "でございます",
    "になります", "ですけど", "ですが", "ですね", "ですよ", "です", "でした", "かな", "ね", "よ", "で",
)

_KANJI_DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_KANJI_UNITS = {"十": 10, "百": 100, "千": 1000}
_KANJI_RUN_RE = re.compile(r"[〇零一二三四五六七八九十百千万]+")


def width(text: str) -> str:
    """NFKC: full-width digits and letters to ASCII, half-width katakana to full-width."""
    return unicodedata.normalize("NFKC", text)


def kanji_number(run: str) -> str | None:
    """`十二` -> `12`, `二〇二六` -> `2026`, `三十一` -> `31`; None if malformed."""
    if not any(ch in _KANJI_UNITS or ch == "万" for ch in run):
        return "".join(str(_KANJI_DIGITS[ch]) for ch in run)
    total, section, digit = 0, 0, None
    for ch in run:
        if ch in _KANJI_DIGITS:
            if digit is not None:
                return None
            digit = _KANJI_DIGITS[ch]
        elif ch in _KANJI_UNITS:
            section += (1 if digit is None else digit) * _KANJI_UNITS[ch]
            digit = None
        else:  # 万
            total += (section + (digit or 0)) * 10000
            section, digit = 0, None
    return str(total + section + (digit or 0))


def kanji_numerals(text: str) -> str:
    """Replace every run of kanji numerals by Arabic digits (一週間 -> 1週間, 十二月 -> 12月)."""

    def repl(match: re.Match[str]) -> str:
        value = kanji_number(match.group(0))
        return match.group(0) if value is None else value

    return _KANJI_RUN_RE.sub(repl, text)


def strip_fillers(text: str) -> str:
    text = _FILLER_RE.sub(" ", text)
    previous = None
    while previous != text:
        previous = text
        text = _LEADING_FILLER_RE.sub("", text.strip(" 、。,.")).strip()
    return text


def strip_trailers(text: str, trailers: tuple[str, ...] = TRAILERS) -> str:
    """Take off trailing politeness, repeatedly; `trailers` longest first."""
    changed = True
    while changed and text:
        changed = False
        for trailer in trailers:
            if text.endswith(trailer) and len(text) > len(trailer):
                text, changed = text[: -len(trailer)], True
                break
    return text


_CORRECTION_RE = re.compile(r"(?:じゃなくて|ではなくて|じゃなく|ではなく|じゃない|ではない|じゃありません|ではありません|"
                            r"間違えました|まちがえました|訂正します)")


def split_correction(text: str) -> tuple[str, str]:
    """(what was taken back, what stands): 「3日じゃなくて4日」 -> ("3日", "4日"); no marker -> ("", text)."""
    parts = _CORRECTION_RE.split(text)
    if len(parts) == 1:
        return "", text
    return "".join(parts[:-1]), parts[-1]


def clean(text: str) -> str:
    """Width, fillers, a taken-back answer, punctuation and spaces, kanji numerals, trailing politeness."""
    text = split_correction(strip_fillers(width(text)))[1]
    text = _PUNCT_RE.sub("", text)
    return strip_trailers(kanji_numerals(text))


def to_hiragana(text: str) -> str:
    return jaconv.kata2hira(text)
