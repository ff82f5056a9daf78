"""Pure helpers that turn store and event data into what the pages show.

No I/O here: masking by role, durations, grids and chart series. (The "needs help" rule is
`ivr.live.LiveCall.needs_help`.)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo

from ivr.privacy import csv_cell, mask_code, mask_person

from slots.allocation import reserved_places
from slots.outcomes import CallOutcome

OUTCOME_LABELS = {
    CallOutcome.BOOKED: "予約完了",
    CallOutcome.CANCELLED: "取消",
    CallOutcome.TRANSFERRED: "オペレーター転送",
    CallOutcome.ABANDONED: "途中終了（切断）",
    CallOutcome.FAILED: "エラー",
    CallOutcome.COMPLETED: "完了",
}
WEEKDAYS = "月火水木金土日"


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    total = max(int(round(seconds)), 0)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_day(day: date) -> str:
    return f"{day.month}/{day.day}（{WEEKDAYS[day.weekday()]}）"


def format_local(moment: datetime | None, tz: tzinfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return moment.astimezone(tz).strftime(fmt) if moment else ""


def phone_reserve_text(spec) -> str:
    """The release preview's line on the phone reserve of a batch spec."""
    places = reserved_places(spec.capacity, spec.phone_reserved_percent)
    if not places:
        return "なし（すべての枠をWeb・電話で共通に受け付けます）"
    return (f"各枠の定員{spec.capacity}人のうち{places}人分（{spec.phone_reserved_percent}%）を、"
            f"枠の開始{spec.phone_reserved_hours}時間前まで電話受付用に確保します。その後はWebでも予約できます。")


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "—"


@dataclass(frozen=True)
class GridCell:
    slot_id: int
    time: str
    capacity: int
    booked: int
    held: int
    available: int
    closed: bool
    phone_reserved: int = 0
    phone_taken: int = 0
    phone_until: str = ""

    @property
    def level(self) -> str:
        if self.closed:
            return "closed"
        if self.available <= 0:
            return "full"
        return "few" if self.available * 4 <= self.capacity else "open"


@dataclass(frozen=True)
class Grid:
    site: str
    days: tuple[date, ...]
    times: tuple[str, ...]
    cells: dict[tuple[str, date], GridCell]

    def cell(self, time: str, day: date) -> GridCell | None:
        return self.cells.get((time, day))


def build_grids(slots: Iterable, tz: tzinfo, days: Sequence[date] = ()) -> list[Grid]:
    """Slot views -> one grid per site: rows are start times, columns are `days` (default: the days
    that have slots)."""
    by_site: dict[str, dict[tuple[str, date], GridCell]] = defaultdict(dict)
    for slot in slots:
        start = slot.start.astimezone(tz)
        time = start.strftime("%H:%M")
        by_site[slot.site][(time, start.date())] = GridCell(
            slot.id, time, slot.capacity, slot.booked, slot.held, slot.available, bool(slot.closed),
            slot.phone_reserved, slot.phone_taken, format_local(slot.phone_reserved_until, tz, "%m/%d %H:%M"),
        )
    grids = []
    for site in sorted(by_site):
        cells = by_site[site]
        shown = tuple(days) or tuple(sorted({d for _, d in cells}))
        times = tuple(sorted({t for t, _ in cells}))
        grids.append(Grid(site, shown, times, cells))
    return grids


def per_hour(moments: Iterable[datetime], tz: tzinfo) -> list[int]:
    counts = [0] * 24
    for moment in moments:
        counts[moment.astimezone(tz).hour] += 1
    return counts


def csv_rows(bookings: Sequence, tz: tzinfo, *, full: bool) -> list[list[str]]:
    header = ["予約番号", "状態", "サービス", "会場", "開始", "終了", "受付経路", "受付日時", "本人確認"]
    rows = [header]
    for b in bookings:
        rows.append([
            b.code if full else mask_code(b.code),
            "有効" if b.status == "confirmed" else "取消",
            b.service,
            b.site,
            format_local(b.start, tz),
            format_local(b.end, tz, "%H:%M"),
            b.channel,
            format_local(b.created_at, tz),
            (b.person_masked or "") if full else mask_person(b.person_masked),
        ])
    return [[csv_cell(cell) for cell in row] for row in rows]
