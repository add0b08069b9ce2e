"""Legal processing deadlines (민원 처리에 관한 법률 시행령) counted in working time.

Kinds and defaults (editable through ``DeadlinePolicy``):
  즉시    3 working hours   (기타민원: 즉시 처리 = 3근무시간 이내; urgent safety hazards)
  단순질의 7 working days   (제도·절차 등 질의)
  고충    7 working days
  생활불편 7 working days   (everyday inconvenience: repair, cleaning, enforcement)
  건의    14 working days   (건의·제안)
Working days skip weekends and Korean public holidays; working hours are the office hours.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from ..hours import SEOUL, OfficeHours

KINDS = ("즉시", "단순질의", "고충", "생활불편", "건의")


@dataclass(frozen=True, slots=True)
class DeadlinePolicy:
    working_days: dict[str, int] = field(default_factory=lambda: {
        "단순질의": 7, "고충": 7, "생활불편": 7, "건의": 14})
    working_hours: dict[str, int] = field(default_factory=lambda: {"즉시": 3})
    near_due_hours: float = 24.0  # "near due" when less than this much calendar time remains


def add_working_hours(start: dt.datetime, hours: float, office: OfficeHours) -> dt.datetime:
    """``start`` plus ``hours`` of office time (a report at 17:00 with 3 hours is due 11:00 next workday)."""
    t = start.astimezone(SEOUL)
    remaining = dt.timedelta(hours=hours)
    for _ in range(400):
        if not office.is_open(t):
            t = office.next_open(t)
        close = dt.datetime.combine(t.date(), office.close_at, SEOUL)
        available = close - t
        if remaining <= available:
            return t + remaining
        remaining -= available
        t = close
    raise RuntimeError("deadline beyond 400 office periods")  # pragma: no cover


def add_working_days(start: dt.datetime, days: int, office: OfficeHours) -> dt.datetime:
    """End of office hours on the ``days``-th working day after ``start`` (the day of receipt is not
    counted, as in the civil-complaint rules)."""
    day = start.astimezone(SEOUL).date()
    counted = 0
    while counted < days:
        day += dt.timedelta(days=1)
        if office.is_workday(day):
            counted += 1
    return dt.datetime.combine(day, office.close_at, SEOUL)


def due_at(kind: str, received: dt.datetime, office: OfficeHours,
           policy: DeadlinePolicy | None = None) -> dt.datetime:
    policy = policy or DeadlinePolicy()
    if kind in policy.working_hours:
        return add_working_hours(received, policy.working_hours[kind], office)
    return add_working_days(received, policy.working_days.get(kind, 7), office)


def due_state(expected: dt.datetime, now: dt.datetime, closed: bool,
              policy: DeadlinePolicy | None = None) -> str:
    """"done" | "overdue" | "near_due" | "on_time"."""
    policy = policy or DeadlinePolicy()
    if closed:
        return "done"
    if now >= expected:
        return "overdue"
    if expected - now <= dt.timedelta(hours=policy.near_due_hours):
        return "near_due"
    return "on_time"
