"""Recurrence rules across DST changes, with properties checked by hypothesis."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caseline.schedule_rules import Daily, Dates, Occurrence, Weekly, Window, occurrences, resolve

BUC = "Europe/Bucharest"  # EET = UTC+2 in winter, EEST = UTC+3 in summer


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def fire_times(rule: Daily | Weekly | Dates, after: datetime, until: datetime) -> list[datetime]:
    return [o.at for o in occurrences(rule, after, until)]


@pytest.mark.parametrize(("change", "before_utc", "after_utc"), [
    (date(2026, 3, 29), 7, 6),   # spring forward: 09:00 EET = 07:00Z, then 09:00 EEST = 06:00Z
    (date(2026, 10, 25), 6, 7),  # fall back
    (date(2027, 3, 28), 7, 6),
    (date(2027, 10, 31), 6, 7),
])
def test_daily_0900_bucharest_stays_at_0900_local_across_dst(change: date, before_utc: int, after_utc: int) -> None:
    rule = Daily(time(9, 0), BUC)
    start = datetime.combine(change - timedelta(days=3), time(0), UTC)
    fired = fire_times(rule, start, start + timedelta(days=6, hours=23))
    assert len(fired) == 7
    assert [f.astimezone(ZoneInfo(BUC)).time() for f in fired] == [time(9, 0)] * 7
    assert [f.date() for f in fired] == [change + timedelta(days=d) for d in range(-3, 4)]
    assert [f.hour for f in fired] == [before_utc] * 3 + [after_utc] * 4
    gaps = {b - a for a, b in zip(fired, fired[1:], strict=False)}
    assert gaps == {timedelta(hours=24), timedelta(hours=24 - (before_utc - after_utc))}


def test_nonexistent_time_moves_to_the_end_of_the_gap() -> None:
    # 2026-03-29 in Bucharest: 03:00 EET jumps to 04:00 EEST.
    occ = resolve(datetime(2026, 3, 29, 3, 30), BUC)
    assert occ.shifted and occ.at == utc(2026, 3, 29, 1, 0)
    assert occ.at.astimezone(ZoneInfo(BUC)).time() == time(4, 0)
    assert occ.key == "2026-03-29T03:30", "the key keeps the requested wall time"
    fired = fire_times(Daily(time(3, 30), BUC), utc(2026, 3, 27), utc(2026, 3, 31))
    assert fired == [utc(2026, 3, 27, 1, 30), utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 0, 30)]


def test_ambiguous_time_fires_once_at_the_first_occurrence() -> None:
    # 2026-10-25 in Bucharest: 04:00 EEST falls back to 03:00 EET; 03:30 happens twice.
    occ = resolve(datetime(2026, 10, 25, 3, 30), BUC)
    assert not occ.shifted and occ.at == utc(2026, 10, 25, 0, 30)
    fired = fire_times(Daily(time(3, 30), BUC), utc(2026, 10, 24), utc(2026, 10, 27))
    assert fired == [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]
    between = Daily(time(3, 30), BUC).next_after(utc(2026, 10, 25, 1, 0))  # after the first 03:30, before the second
    assert between is not None and between.at == utc(2026, 10, 26, 1, 30)


def test_weekly_on_chosen_weekdays_across_the_october_change() -> None:
    rule = Weekly(time(18, 15), BUC, weekdays=frozenset({0, 3, 6}))  # Mon, Thu, Sun
    fired = list(occurrences(rule, utc(2026, 10, 19), utc(2026, 11, 2)))
    local = [o.at.astimezone(ZoneInfo(BUC)) for o in fired]
    assert [d.date() for d in local] == [date(2026, 10, d) for d in (19, 22, 25, 26, 29)] + [date(2026, 11, 1)]
    assert {d.time() for d in local} == {time(18, 15)}
    assert fired[1].at.hour == 15 and fired[3].at.hour == 16  # EEST then EET
    with pytest.raises(ValueError):
        Weekly(time(9), BUC, weekdays=frozenset())


def test_explicit_dates_in_order_once_each() -> None:
    rule = Dates.of([datetime(2027, 3, 28, 3, 15), datetime(2027, 1, 5, 14, 0), datetime(2027, 1, 5, 14, 0)], BUC)
    first = rule.next_after(utc(2026, 12, 1))
    assert first is not None and first.at == utc(2027, 1, 5, 12, 0)
    second = rule.next_after(first.at)
    assert second is not None and second.shifted and second.at == utc(2027, 3, 28, 1, 0)
    assert rule.next_after(second.at) is None


def test_window_close_and_follow_up() -> None:
    occ = Daily(time(9), BUC).next_after(utc(2026, 10, 24, 12))
    assert occ is not None and occ.at == utc(2026, 10, 25, 7)
    window = Window.after(occ, timedelta(hours=24))
    assert window.closes == utc(2026, 10, 26, 7), "24 elapsed hours: 09:00 local again only because no change"
    assert window.follow_up() == utc(2026, 10, 26, 1) and window.at_fraction(0.5) == utc(2026, 10, 25, 19)
    assert window.contains(utc(2026, 10, 25, 7)) and not window.contains(window.closes)
    spring = Window.after(utc(2026, 3, 28, 7), timedelta(hours=24))
    assert spring.closes.astimezone(ZoneInfo(BUC)).time() == time(10, 0), "elapsed time, not wall time"
    with pytest.raises(ValueError):
        window.at_fraction(1.0)


def test_naive_instants_and_unknown_zones_are_refused() -> None:
    with pytest.raises(ValueError):
        Daily(time(9), BUC).next_after(datetime(2026, 1, 1))  # noqa: DTZ001
    with pytest.raises(Exception):  # noqa: B017 - ZoneInfoNotFoundError
        Daily(time(9), "Mars/Olympus_Mons")


ZONES = ["Europe/Bucharest", "America/New_York", "Australia/Lord_Howe", "Pacific/Chatham", "America/Santiago",
         "Asia/Kolkata", "UTC", "Africa/Casablanca", "America/St_Johns", "Europe/London", "Pacific/Apia",
         "Asia/Tehran", "America/Havana"]
instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2037, 12, 31),
                        timezones=st.just(UTC))
wall_times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45, 59]))


def _check_lands_on_wall_time(occ: Occurrence, wanted: time, zone: str) -> None:
    tz = ZoneInfo(zone)
    local = occ.at.astimezone(tz)
    requested = datetime.combine(occ.local.date(), wanted)
    assert occ.local == requested
    if not occ.shifted:
        assert local.replace(tzinfo=None) == requested
        assert local.fold == 0, "an ambiguous wall time fires at its first occurrence"
    else:  # in a gap: the first valid instant after it, and the wall time really did not exist
        assert local.replace(tzinfo=None) > requested
        assert (occ.at - timedelta(seconds=1)).astimezone(tz).utcoffset() != local.utcoffset()
        assert requested.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) != requested


@settings(max_examples=400, deadline=None)
@given(zone=st.sampled_from(ZONES), wanted=wall_times, instant=instants)
def test_daily_next_is_strictly_after_and_on_the_wall_time(zone: str, wanted: time, instant: datetime) -> None:
    rule = Daily(wanted, zone)
    occ = rule.next_after(instant)
    assert occ is not None and occ.at > instant
    _check_lands_on_wall_time(occ, wanted, zone)
    previous_day = resolve(datetime.combine(occ.local.date() - timedelta(days=1), wanted), zone)
    assert previous_day.at <= instant, "no occurrence between the instant and the one returned"
    nxt = rule.next_after(occ.at)
    assert nxt is not None and nxt.local.date() > occ.local.date(), "never the same local occurrence twice"


@settings(max_examples=200, deadline=None)
@given(zone=st.sampled_from(ZONES), wanted=wall_times, instant=instants,
       days=st.frozensets(st.integers(0, 6), min_size=1))
def test_weekly_next_is_strictly_after_on_a_chosen_day(
    zone: str, wanted: time, instant: datetime, days: frozenset[int]
) -> None:
    occ = Weekly(wanted, zone, weekdays=days).next_after(instant)
    assert occ is not None and occ.at > instant and occ.local.weekday() in days
    _check_lands_on_wall_time(occ, wanted, zone)
