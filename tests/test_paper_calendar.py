"""The NYSE calendar as sessions see it (holidays, half days, the run time after a close),
and the loop: it runs the last closed session, then sleeps until the next close."""

from __future__ import annotations

import pandas as pd

from ploutos.paper import calendar

DELAY = pd.Timedelta(minutes=30)


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="America/New_York").tz_convert("UTC")


def test_holidays_and_half_days() -> None:
    assert not calendar.is_session("2021-11-25")  # Thanksgiving
    assert calendar.next_session("2021-11-24") == "2021-11-26"
    assert calendar.next_session("2021-11-25") == "2021-11-26"
    assert calendar.session_close("2021-11-26") == ts("2021-11-26 13:00")  # half day
    assert calendar.session_close("2021-11-24") == ts("2021-11-24 16:00")
    assert calendar.sessions_in("2021-11-22", "2021-11-26") == 4


def test_the_session_to_run_is_the_last_closed_one() -> None:
    # Before Friday's half-day close + delay, Wednesday is the last closed session.
    assert calendar.last_closed_session(ts("2021-11-26 13:20"), DELAY) == "2021-11-24"
    assert calendar.last_closed_session(ts("2021-11-26 13:30"), DELAY) == "2021-11-26"
    assert calendar.last_closed_session(ts("2021-11-28 09:00"), DELAY) == "2021-11-26"
    date, at = calendar.next_run_time(ts("2021-11-24 17:00"), DELAY)
    assert (date, at) == ("2021-11-26", ts("2021-11-26 13:30"))
    date, at = calendar.next_run_time(ts("2021-11-26 13:30"), DELAY)
    assert (date, at) == ("2021-11-29", ts("2021-11-29 16:30"))
