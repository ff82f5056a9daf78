"""Japanese era (元号) tables: first and last day of each era, Gregorian calendar."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Era:
    name: str
    reading: str
    start: date
    end: date | None  # last day, None for the current era

    def to_western(self, year: int) -> int:
        return self.start.year + year - 1

    def contains(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


ERAS: tuple[Era, ...] = (
    Era("明治", "めいじ", date(1868, 10, 23), date(1912, 7, 29)),
    Era("大正", "たいしょう", date(1912, 7, 30), date(1926, 12, 24)),
    Era("昭和", "しょうわ", date(1926, 12, 25), date(1989, 1, 7)),
    Era("平成", "へいせい", date(1989, 1, 8), date(2019, 4, 30)),
    Era("令和", "れいわ", date(2019, 5, 1), None),
)
BY_NAME = {era.name: era for era in ERAS} | {era.reading: era for era in ERAS}
# Recognizers sometimes write the era in kana or with a letter (S40, H3), or mishear it on the phone
# (Whisper base wrote 生成 for 平成 in telephone-band tests).
BY_NAME |= {"M": BY_NAME["明治"], "T": BY_NAME["大正"], "S": BY_NAME["昭和"], "H": BY_NAME["平成"], "R": BY_NAME["令和"],
            "生成": BY_NAME["平成"]}
FIRST_YEAR_WORDS = ("ガンネン", "がんねん")  # 元年 as a recognizer may write it
ERA_PATTERN = "|".join(sorted(map(str, BY_NAME), key=len, reverse=True))


def era_of(day: date) -> Era:
    for era in reversed(ERAS):
        if era.contains(day):
            return era
    raise ValueError(f"{day} is before the Meiji era")
