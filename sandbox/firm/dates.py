"""Dates, holiday calendars and each vendor's timestamp style.

Every timestamp the generator writes comes from a date and a wall-clock time drawn from the
seed, never from the system clock, so one seed always gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

MONDAY, THURSDAY, SATURDAY = 0, 3, 5
ONE_DAY = timedelta(days=1)


def parse_period(period: str) -> date:
    """The first day of a ``YYYY-MM`` period."""
    year, month = period.split("-")
    return date(int(year), int(month), 1)


def add_months(first: date, months: int) -> date:
    """The first day of the month ``months`` after the month of ``first``."""
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def month_end(d: date) -> date:
    """The last day of the month of ``d``."""
    return add_months(d.replace(day=1), 1) - ONE_DAY


def days_between(start: date, end: date) -> Iterator[date]:
    """Every day from ``start`` to ``end`` inclusive."""
    d = start
    while d <= end:
        yield d
        d += ONE_DAY


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The ``n``-th given weekday of a month (``n = -1``: the last one)."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = month_end(date(year, month, 1))
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _easter(year: int) -> date:
    """Easter Sunday (anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    g = (b - (b + 8) // 25 + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    weekday = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * weekday) // 451
    month, day = divmod(h + weekday - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _observed_next_weekday(days: list[date]) -> set[date]:
    """UK/AU style: a holiday on a weekend moves to the next free weekday."""
    observed: set[date] = set()
    for holiday in sorted(days):
        d = holiday
        while d.weekday() >= SATURDAY or d in observed:
            d += ONE_DAY
        observed.add(d)
    return observed


@cache
def holidays(country: str, year: int) -> frozenset[date]:
    """Public holidays a legal entity observes (US federal, England, New South Wales)."""
    if country == "US":
        fixed = [date(year, 1, 1), date(year, 6, 19), date(year, 7, 4), date(year, 12, 25)]
        observed = {
            d - ONE_DAY if d.weekday() == SATURDAY else d + ONE_DAY if d.weekday() == 6 else d
            for d in fixed
        }
        thanksgiving = _nth_weekday(year, 11, THURSDAY, 4)
        return frozenset(
            observed
            | {
                _nth_weekday(year, 1, MONDAY, 3),
                _nth_weekday(year, 2, MONDAY, 3),
                _nth_weekday(year, 5, MONDAY, -1),
                _nth_weekday(year, 9, MONDAY, 1),
                thanksgiving,
                thanksgiving + ONE_DAY,
            }
        )
    easter = _easter(year)
    moving = {easter - 2 * ONE_DAY, easter + ONE_DAY}
    if country == "GB":
        fixed = [date(year, 1, 1), date(year, 12, 25), date(year, 12, 26)]
        moving |= {
            _nth_weekday(year, 5, MONDAY, 1),
            _nth_weekday(year, 5, MONDAY, -1),
            _nth_weekday(year, 8, MONDAY, -1),
        }
    else:
        fixed = [
            date(year, 1, 1),
            date(year, 1, 26),
            date(year, 4, 25),
            date(year, 12, 25),
            date(year, 12, 26),
        ]
        moving |= {_nth_weekday(year, 6, MONDAY, 2), _nth_weekday(year, 10, MONDAY, 1)}
    return frozenset(_observed_next_weekday(fixed) | moving)


def is_business_day(country: str, d: date) -> bool:
    """A weekday that is not a public holiday of the country."""
    return d.weekday() < SATURDAY and d not in holidays(country, d.year)


def business_day_on_or_after(country: str, d: date) -> date:
    """``d`` if it is a business day of the country, else the next one."""
    while not is_business_day(country, d):
        d += ONE_DAY
    return d


def business_days(country: str, start: date, end: date) -> list[date]:
    """The country's business days from ``start`` to ``end`` inclusive."""
    return [d for d in days_between(start, end) if is_business_day(country, d)]


@cache
def zone(name: str) -> ZoneInfo:
    """A cached time zone."""
    return ZoneInfo(name)


def local(tz: str, d: date, minute: int, second: int = 0) -> datetime:
    """Wall-clock time ``minute`` minutes after midnight of ``d`` in zone ``tz``."""
    return datetime(d.year, d.month, d.day, minute // 60, minute % 60, second, tzinfo=zone(tz))


def kantata_time(dt: datetime) -> str:
    """Kantata style: ISO 8601 with the local offset (``2026-10-05T17:42:11-04:00``)."""
    return dt.isoformat()


def netsuite_time(dt: datetime) -> str:
    """NetSuite style: UTC with a ``Z`` (``2026-09-30T18:22:05Z``)."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def salesforce_time(dt: datetime) -> str:
    """Salesforce style: UTC, milliseconds, offset without colon (``…T09:30:00.000+0000``)."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def workday_time(dt: datetime) -> str:
    """Workday style: local time with milliseconds and offset (``…T08:00:00.000-04:00``)."""
    return dt.isoformat(timespec="milliseconds")
