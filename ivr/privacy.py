"""Masking of personal data, in one place: what callers say, caller IDs, booking codes.

Everything a caller says passes `mask_text` before it reaches an event (`UtteranceRecognized`,
`Transferred`), the dashboard, its SSE stream or the API. It masks by meaning, not by shape: any
run of digits in any script (ASCII, full-width, kanji numerals, circled, kana digit words), however
it is separated (「7、7、7」, 「1,234,567」, 「7 7 7」), and any date (「昭和25年3月4日」, 2026-03-04,
3月4日). Only a lone numeral (「1」, 「もう一度」) or a short number with a time or count unit
(「十時」, 「2番」) stays; anything else that looks like a number is masked.

The lower layers keep their own small tails (`slots.callbacks.mask_phone`, `dialogs.readings.masked`)
because they may not import `ivr`; this module reuses the latter instead of repeating it.
"""

from __future__ import annotations

import logging
import re

from dialogs.readings import masked as _tail

MASK = "****"
_MASKED_PHONE = re.compile(r"\*+\d{1,4}")  # what mask_phone gives for a number of five digits or more
CALLER_ID_MAX = 20  # E.164 has at most 15 digits; room for a trunk prefix

# One digit-like character: any Unicode decimal digit (\d: ASCII, full-width...), kanji numerals,
# circled and parenthesized numbers, Roman numerals.
_D = r"(?:\d|[〇零一二三四五六七八九十百千万億兆壱弐参拾①-⑳㉑-㉟㊱-㊿⓪⑴-⒇⒈-⒛Ⅰ-Ⅻⅰ-ⅻ])"
# Kana digit words (what Vosk writes, or a g2p reading), katakana too.
_KANA = (r"(?:いち|いっ|にい|にー|さん|よん|よ|し|ごー|ご|ろく|ろっ|なな|しち|はち|はっ|きゅう|きゅー|く|"
         r"ぜろ|れい|まる|じゅう|じゅっ|ひゃく|びゃく|ぴゃく|せん|ぜん|まん|に|"
         r"イチ|ニー|ニ|サン|ヨン|ゴー|ゴ|ロク|ナナ|ハチ|キュウ|キュー|ゼロ|レイ|マル|ジュウ|ヒャク|セン|マン)")
_SEP = r"[、,，・.．\s\-‐−ー－]"
_NUM = rf"(?:{_D}+|{_KANA}+)"
_ERA = r"(?:明治|大正|昭和|平成|令和|めいじ|たいしょう|しょうわ|へいせい|れいわ|[MTSHR](?=\s*\d))"
_YEAR, _MONTH = r"(?:年|ねん)", r"(?:月|がつ)"
_DAY = r"(?:日|にち|か)"
_KANA_DAY = r"(?:ついたち|ふつか|みっか|よっか|いつか|むいか|なのか|ようか|ここのか|とおか|はつか)"
_DATE = re.compile("|".join([
    rf"{_ERA}\s*(?:{_NUM}|元|がん)\s*(?:{_YEAR}|[./])(?:\s*{_NUM}\s*(?:{_MONTH}|[./])(?:{_KANA_DAY}|\s*{_NUM}\s*{_DAY}?)?)?",
    rf"{_D}+\s*{_YEAR}\s*{_D}+\s*{_MONTH}(?:\s*{_D}+\s*{_DAY})?",
    rf"{_D}+\s*{_MONTH}\s*{_D}+\s*{_DAY}?",
    rf"{_NUM}{_YEAR}{_NUM}{_MONTH}(?:{_NUM}{_DAY}|{_KANA_DAY})?",
    rf"{_NUM}{_MONTH}(?:{_NUM}{_DAY}|{_KANA_DAY})",
    r"\d+\s*[-/／.．]\s*\d+(?:\s*[-/／.．]\s*\d+)?",
]))
_TIME = re.compile(r"\d{1,2}:\d{2}")
_RUN = re.compile(rf"{_D}(?:{_SEP}*{_D})*|{_KANA}(?:{_SEP}*{_KANA}){{2,}}")
_UNITS = "時分半人名番個回つ目"  # 「十時」「2番」「一人」: a short number with a unit is not personal
_SHORT = 3
_PROTECTED = 0xE000  # private-use characters stand for the kept dates while the runs are masked
_PRIVATE_USE = re.compile("[\ue000-\uf8ff]")


def mask_text(text: str, *, keep_dates: bool = False) -> str:
    """What a caller said, every date and every digit-like run but a short counted one masked.

    `keep_dates`: for the engine's own summary (希望日: 12/03, 時間: 10:30), which holds no birth
    date; its dates and times stay and everything else is masked as usual.
    """
    text = _PRIVATE_USE.sub("", text or "")  # never speech; they stand for kept dates below
    if not text:
        return ""
    kept: list[str] = []

    def keep(match: re.Match[str]) -> str:
        kept.append(match.group())
        return chr(_PROTECTED + len(kept) - 1)

    text = _DATE.sub(keep if keep_dates else MASK, text)
    if keep_dates:
        text = _TIME.sub(keep, text)
    text = _RUN.sub(lambda m: m.group() if _is_short(m, text) else MASK, text)
    if not kept:
        return text
    return re.sub(f"[{chr(_PROTECTED)}-{chr(_PROTECTED + len(kept) - 1)}]", lambda m: kept[ord(m.group()) - _PROTECTED], text)


def _is_short(run: re.Match[str], text: str) -> bool:
    """A lone numeral, or up to three with a unit after them (十時, 二十三時, 2番)."""
    value = run.group()
    if not re.fullmatch(f"{_D}+", value):
        return False
    after = text[run.end():run.end() + 1]
    return len(value) == 1 and not after.isdigit() or len(value) <= _SHORT and after != "" and after in _UNITS


def mask_phone(number: str | None) -> str:
    """The digits of a phone number, all but the last four hidden: "090-1234-5678" -> "*******5678".

    Nothing else of the caller ID is kept (no separators, no name); "" when it has no digits. A
    number masked already (another node's queue, shared masked) stays as it is.
    """
    if number and _MASKED_PHONE.fullmatch(number):
        return number
    return _tail(re.sub(r"\D", "", number or ""), 4)


def shows_callback_phone(role: str, status: str) -> bool:
    """Whether `role` sees a call-back request's number in full (API and dashboard alike).

    Staff and admins always. An operator only while the request is `called`: whoever takes an open
    entry must dial it, and the list of open entries itself gives away no numbers. Nobody else.
    """
    return role in ("staff", "admin") or (role == "operator" and status == "called")


def mask_code(code: str) -> str:
    """Operators see only the last three digits of a booking code."""
    return _tail(code, 3)


def mask_person(masked: str | None) -> str:
    """Operators see no part of the ticket number at all."""
    return "（非表示）" if masked else ""


def sanitize_caller_id(raw: str | None) -> str:
    """A caller ID as digits only (a leading + kept), at most `CALLER_ID_MAX` characters.

    Caller IDs come from the carrier and are not trusted: this is what may enter a dialplan
    UserEvent, an AMI action or a log line (no separators, names, CR/LF or header text).
    """
    lines = (raw or "").strip().splitlines()
    first = lines[0].strip() if lines else ""
    plus = "+" if first.startswith("+") else ""
    return (plus + re.sub(r"[^0-9]", "", first))[:CALLER_ID_MAX]


def csv_cell(value: object) -> str:
    """A value for an exported CSV cell that a spreadsheet never runs as a formula: text starting
    with =, +, -, @, a tab or a carriage return gets a leading apostrophe (OWASP's CSV injection rule)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in _FORMULA_STARTS else text


_FORMULA_STARTS = frozenset("=+-@\t\r")


# Path segments that are secrets or personal: booking codes, and hold ids (a channel's capability).
_SECRET_SEGMENTS = re.compile(r"(/(?:bookings|holds)/)[^/?#\s]+")
_SECRET_QUERY = re.compile(r"([?&](?:code|ticket_number|ticket|birthdate|phone|token)=)[^&#\s]*", re.I)


def redact_path(path: str) -> str:
    """A request path as it may be logged: `/api/v1/bookings/40912345` -> `/api/v1/bookings/***`."""
    return _SECRET_QUERY.sub(r"\1***", _SECRET_SEGMENTS.sub(r"\1***", path))


class RedactedAccessLog(logging.Filter):
    """For uvicorn's access logger: its record's args are (client, method, path, http version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_path(args[2]), *args[3:])
        return True


def redact_access_log(logger_name: str = "uvicorn.access") -> None:
    """Install the redaction once on uvicorn's access logger (idempotent)."""
    access = logging.getLogger(logger_name)
    if not any(isinstance(f, RedactedAccessLog) for f in access.filters):
        access.addFilter(RedactedAccessLog())
