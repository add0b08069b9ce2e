"""The call center's calendar: office hours (default weekdays 09:00-18:00, Asia/Seoul) minus Korean
public holidays (``holidays`` package, substitute holidays included). Decides whether a person can
take over now (chat hand-off, phone routing) and when the next office period starts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

SEOUL = ZoneInfo("Asia/Seoul")


@lru_cache(maxsize=8)
def _korean_holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("KR", years=year, language="ko")


@dataclass(frozen=True, slots=True)
class OfficeHours:
    open_at: dt.time = dt.time(9, 0)
    close_at: dt.time = dt.time(18, 0)
    workdays: frozenset[int] = field(default_factory=lambda: frozenset(range(5)))  # Mon=0 .. Fri=4
    extra_closed: frozenset[dt.date] = frozenset()  # city-specific closures (e.g. 시 개청 기념일)

    def is_holiday(self, day: dt.date) -> bool:
        return day in _korean_holidays(day.year) or day in self.extra_closed

    def holiday_name(self, day: dt.date) -> str | None:
        name = _korean_holidays(day.year).get(day)
        return str(name) if name else None

    def is_workday(self, day: dt.date) -> bool:
        return day.weekday() in self.workdays and not self.is_holiday(day)

    def is_open(self, when: dt.datetime) -> bool:
        local = when.astimezone(SEOUL) if when.tzinfo else when.replace(tzinfo=SEOUL)
        return self.is_workday(local.date()) and self.open_at <= local.time() < self.close_at

    def next_open(self, when: dt.datetime) -> dt.datetime:
        """The start of the next office period at or after ``when`` (Seoul time)."""
        local = when.astimezone(SEOUL) if when.tzinfo else when.replace(tzinfo=SEOUL)
        if self.is_open(local):
            return local
        day = local.date()
        if self.is_workday(day) and local.time() < self.open_at:
            return dt.datetime.combine(day, self.open_at, SEOUL)
        for _ in range(60):
            day += dt.timedelta(days=1)
            if self.is_workday(day):
                return dt.datetime.combine(day, self.open_at, SEOUL)
        raise RuntimeError("no workday within 60 days")  # pragma: no cover - misconfiguration


def describe_next_open(hours: OfficeHours, when: dt.datetime) -> str:
    """Korean phrase for the next office period, e.g. "내일(11월 24일 월요일) 오전 9시"."""
    nxt = hours.next_open(when)
    local = when.astimezone(SEOUL) if when.tzinfo else when.replace(tzinfo=SEOUL)
    days = (nxt.date() - local.date()).days
    weekday = "월화수목금토일"[nxt.weekday()]
    rel = {0: "오늘", 1: "내일", 2: "모레"}.get(days, "")
    date = f"{nxt.month}월 {nxt.day}일 {weekday}요일"
    ampm = "오전" if nxt.hour < 12 else "오후"
    hour = nxt.hour if nxt.hour <= 12 else nxt.hour - 12
    minute = f" {nxt.minute}분" if nxt.minute else ""
    return f"{rel}({date}) {ampm} {hour}시{minute}" if rel else f"{date} {ampm} {hour}시{minute}"
