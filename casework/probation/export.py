"""The compliance record as CSV: dates, checked-in or missed, mood, attendance. Nothing typed.

Free text (the note for the officer, messages) is left out on purpose: the record goes to
courts and partner agencies, and anything the young person wrote belongs in the case file,
not in a spreadsheet. Cells are guarded against spreadsheet formula injection.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from casework.probation.model import CheckinWindow, Enrolment

COLUMNS = ("occurrence_local", "opens_at_utc", "closes_at_utc", "status", "checked_in_at_utc", "mood",
           "attendance", "needs_talk")
STATUS = {"checked_in": "checked-in", "missed": "missed", "open": "open"}


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def compliance_csv(enrolment: Enrolment, windows: Sequence[CheckinWindow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    zone = ZoneInfo(enrolment.schedule.zone)
    for w in windows:
        local = w.occ_key if not w.occ_key.startswith("adhoc:") else f"{w.opens_at.astimezone(zone):%Y-%m-%dT%H:%M}"
        writer.writerow([_cell(v) for v in (
            local, w.opens_at.isoformat(), w.closes_at.isoformat(), STATUS[w.status],
            w.checked_in_at.isoformat() if w.checked_in_at else "", w.mood, w.attendance, w.needs_talk,
        )])
    return out.getvalue()


def attendance_rate(windows: Sequence[CheckinWindow]) -> float | None:
    """Checked-in share of the windows that have an outcome (open ones are not counted yet)."""
    done = [w for w in windows if w.status != "open"]
    if not done:
        return None
    return sum(w.status == "checked_in" for w in done) / len(done)
