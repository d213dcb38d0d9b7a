"""Recurrence rules in a person's own time zone, and the check-in window arithmetic.

A check-in "every day at 09:00" means 09:00 on the wall clock where the person lives,
so rules are written in local wall time in an IANA zone and turned into UTC instants one
local date at a time; never by adding 24 hours, which drifts an hour at each DST change.

Two wall times need a defined answer:

* nonexistent (spring-forward gap, e.g. 03:30 on the last Sunday of March in Bucharest):
  the occurrence moves forward to the first valid instant, the end of the gap (04:00 EEST);
* ambiguous (fall-back overlap, e.g. 03:30 on the last Sunday of October): the first of
  the two instants (``fold=0``, still summer time). The second is never used, so one local
  occurrence fires once.

Each rule resolves a local date to at most one instant, and :meth:`Rule.next_after` is
strictly after its argument, so chaining ``next_after`` never yields a date twice.
:attr:`Occurrence.local` is the *requested* wall time (not the shifted one), which keeps a
job key such as ``reminder:<enrolment>:<local>`` stable whatever the offset.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

_SCAN_DAYS = 9  # a weekly rule with at least one weekday fires within 8 local dates


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One firing: ``at`` in UTC; ``local`` the requested naive wall time; ``shifted`` if in a gap."""

    at: datetime
    local: datetime
    zone: str
    shifted: bool = False

    @property
    def key(self) -> str:
        """A stable text form of the local occurrence for idempotency keys, e.g. ``2026-03-29T09:00``."""
        return self.local.isoformat(timespec="minutes")


def _check_utc(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError("instants must be timezone-aware")
    return instant.astimezone(UTC)


def _exists(naive: datetime, tz: ZoneInfo) -> bool:
    aware = naive.replace(tzinfo=tz)
    return aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive


def resolve(naive: datetime, zone: str) -> Occurrence:
    """The UTC instant of a local wall time under the gap and overlap policy above."""
    if naive.tzinfo is not None:
        raise ValueError("resolve takes a naive local wall time")
    tz = ZoneInfo(zone)
    if _exists(naive, tz):
        return Occurrence(naive.replace(tzinfo=tz, fold=0).astimezone(UTC), naive, zone)
    # In a gap: fold=1 reads the wall time with the offset after the transition (an
    # instant before it), fold=0 with the one before (an instant after it). The transition,
    # the first valid instant, lies between; bisect on whole seconds (transitions are).
    lo = math.floor(naive.replace(tzinfo=tz, fold=1).timestamp())
    hi = math.ceil(naive.replace(tzinfo=tz, fold=0).timestamp())
    if lo > hi:
        lo, hi = hi, lo
    before = datetime.fromtimestamp(lo, tz).utcoffset()
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, tz).utcoffset() == before:
            lo = mid
        else:
            hi = mid
    return Occurrence(datetime.fromtimestamp(hi, UTC), naive, zone, shifted=True)


class Rule(Protocol):
    @property
    def zone(self) -> str: ...

    def next_after(self, instant: datetime) -> Occurrence | None:
        """The first occurrence strictly after ``instant`` (aware), or None if the rule is exhausted."""
        ...


def occurrences(rule: Rule, after: datetime, until: datetime) -> Iterator[Occurrence]:
    """Occurrences in ``(after, until]``, in order: what a planner schedules ahead of time."""
    occ = rule.next_after(after)
    while occ is not None and occ.at <= until:
        yield occ
        occ = rule.next_after(occ.at)


@dataclass(frozen=True, slots=True)
class _DateRule:
    at: time
    zone: str

    def __post_init__(self) -> None:
        ZoneInfo(self.zone)  # fail fast on an unknown zone
        if self.at.tzinfo is not None:
            raise ValueError("the time of day is local wall time, without tzinfo")

    def _wants(self, day: date) -> bool:
        return True

    def next_after(self, instant: datetime) -> Occurrence | None:
        instant = _check_utc(instant)
        # Start a day early: a shifted occurrence can cross midnight.
        day = instant.astimezone(ZoneInfo(self.zone)).date() - timedelta(days=1)
        for offset in range(_SCAN_DAYS + 1):
            d = day + timedelta(days=offset)
            if self._wants(d):
                occ = resolve(datetime.combine(d, self.at.replace(fold=0)), self.zone)
                if occ.at > instant:
                    return occ
        return None


@dataclass(frozen=True, slots=True)
class Daily(_DateRule):
    """Every day at ``at`` local time in ``zone``."""


@dataclass(frozen=True, slots=True)
class Weekly(_DateRule):
    """On ``weekdays`` (0 = Monday ... 6 = Sunday) at ``at`` local time in ``zone``."""

    weekdays: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        _DateRule.__post_init__(self)
        if not self.weekdays or not self.weekdays <= set(range(7)):
            raise ValueError("weekdays must be a non-empty subset of 0..6 (Monday = 0)")

    def _wants(self, day: date) -> bool:
        return day.weekday() in self.weekdays


@dataclass(frozen=True, slots=True)
class Dates:
    """An explicit list of local wall times in ``zone`` (e.g. appointments)."""

    local: tuple[datetime, ...]
    zone: str

    def __post_init__(self) -> None:
        ZoneInfo(self.zone)
        if any(d.tzinfo is not None for d in self.local):
            raise ValueError("dates are local wall times, without tzinfo")

    @classmethod
    def of(cls, local: Iterable[datetime], zone: str) -> Dates:
        return cls(tuple(sorted(set(d.replace(fold=0) for d in local))), zone)

    def next_after(self, instant: datetime) -> Occurrence | None:
        instant = _check_utc(instant)
        found = [o for o in (resolve(d.replace(fold=0), self.zone) for d in self.local) if o.at > instant]
        return min(found, key=lambda o: (o.at, o.local), default=None)


@dataclass(frozen=True, slots=True)
class Window:
    """The answer window opened by an occurrence, in elapsed time (24 h is 24 h, even across DST)."""

    opens: datetime
    closes: datetime

    @classmethod
    def after(cls, occurrence: datetime | Occurrence, length: timedelta) -> Window:
        opens = occurrence.at if isinstance(occurrence, Occurrence) else _check_utc(occurrence)
        if length <= timedelta(0):
            raise ValueError("a window needs a positive length")
        return cls(opens, opens + length)

    def at_fraction(self, fraction: float) -> datetime:
        """The instant ``fraction`` of the way through, e.g. 0.75 for the one follow-up before close."""
        if not 0.0 < fraction < 1.0:
            raise ValueError("the fraction must be strictly between 0 and 1")
        return self.opens + (self.closes - self.opens) * fraction

    def follow_up(self, fraction: float = 0.75) -> datetime:
        return self.at_fraction(fraction)

    def contains(self, instant: datetime) -> bool:
        return self.opens <= _check_utc(instant) < self.closes
