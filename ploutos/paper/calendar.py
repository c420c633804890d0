"""The NYSE trading calendar (exchange-calendars' XNYS): sessions, holidays and half days.

A session for trade date D runs after D's close (13:00 New York on a half day) plus a delay
for the day's bars to be published; a live run picks the latest session whose close plus
that delay has passed, so a cron job at any hour runs the right day or finds it done.
"""

from __future__ import annotations

import functools

import exchange_calendars as xcals
import pandas as pd

EXCHANGE = "XNYS"


@functools.cache
def nyse() -> xcals.ExchangeCalendar:
    return xcals.get_calendar(EXCHANGE)


def _day(value: str | pd.Timestamp) -> pd.Timestamp:
    return pd.Timestamp(str(value)[:10])


def is_session(day: str) -> bool:
    return bool(nyse().is_session(_day(day)))


def next_session(day: str) -> str:
    """The session after `day` (which need not be a session itself)."""
    cal = nyse()
    d = _day(day)
    nxt = cal.next_session(d) if cal.is_session(d) else cal.date_to_session(d, "next")
    return str(nxt.date())


def session_close(day: str) -> pd.Timestamp:
    """The close of session `day` in UTC (early on half days)."""
    return nyse().session_close(_day(day))


def last_closed_session(now: pd.Timestamp, delay: pd.Timedelta) -> str:
    """The latest session whose close + delay is at or before `now` (tz-aware)."""
    cal = nyse()
    day = cal.date_to_session(_day(now.tz_convert("America/New_York").date()), "previous")
    while cal.session_close(day) + delay > now:
        day = cal.previous_session(day)
    return str(day.date())


def next_run_time(now: pd.Timestamp, delay: pd.Timedelta) -> tuple[str, pd.Timestamp]:
    """(trade date, when to run it): the first session whose close + delay is after `now`."""
    cal = nyse()
    day = _day(last_closed_session(now, delay))
    nxt = cal.next_session(day)
    return str(nxt.date()), cal.session_close(nxt) + delay


def sessions_in(start: str, end: str) -> int:
    """Number of sessions from start to end, both included."""
    return len(nyse().sessions_in_range(_day(start), _day(end)))
