"""Server-side SVG for the officer: a check-in calendar and a mood trend line.

Drawn on the server with presentation attributes only (no inline script or style: the
console's CSP forbids both), and every figure is also in the SVG's text for screen readers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from html import escape
from zoneinfo import ZoneInfo

from casework.probation.model import CheckinWindow

FILL = {"checked_in": "#2e7d32", "missed": "#c62828", "open": "#9e9e9e"}
LABEL = {"checked_in": "checked in", "missed": "missed", "open": "open"}
CELL, GAP = 18, 3


def calendar_svg(windows: Sequence[CheckinWindow], zone: str, today: date, weeks: int = 8) -> str:
    """Weeks as columns, Monday to Sunday as rows; one square per day with a check-in."""
    tz = ZoneInfo(zone)
    by_day: dict[date, CheckinWindow] = {}
    for w in windows:
        by_day[w.opens_at.astimezone(tz).date()] = w
    last = max([today, *by_day])
    start = last - timedelta(days=last.weekday()) - timedelta(weeks=weeks - 1)
    cells = []
    for i in range(weeks * 7):
        day = start + timedelta(days=i)
        x, y = 30 + (i // 7) * (CELL + GAP), 4 + (i % 7) * (CELL + GAP)
        found = by_day.get(day)
        fill = FILL[found.status] if found else "#eeeeee"
        label = f"{day.isoformat()}: {LABEL[found.status] if found else 'no check-in planned'}"
        cells.append(f'<rect x="{x}" y="{y}" width="{CELL}" height="{CELL}" rx="3" fill="{fill}">'
                     f"<title>{escape(label)}</title></rect>")
    days = "".join(f'<text x="0" y="{4 + r * (CELL + GAP) + 13}" font-size="10">{d}</text>'
                   for r, d in enumerate(("Mon", "", "Wed", "", "Fri", "", "Sun")))
    width, height = 30 + weeks * (CELL + GAP), 4 + 7 * (CELL + GAP)
    title = "Check-in calendar: green checked in, red missed, grey open"
    return (f'<figure><svg role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{days}'
            f'{"".join(cells)}</svg><figcaption>{escape(title)}</figcaption></figure>')


def mood_svg(windows: Sequence[CheckinWindow], width: int = 420, height: int = 160) -> str:
    """Mood (1 really bad .. 5 great) per check-in, oldest left."""
    points = [(w, int(w.mood)) for w in windows if w.mood and w.mood.isdigit()]
    title = "Mood trend (1 = really bad, 5 = great)"
    pad = 24
    step = (width - 2 * pad) / max(len(points) - 1, 1)

    def y(mood: int) -> float:
        return height - pad - (height - 2 * pad) * (mood - 1) / 4

    grid = "".join(
        f'<line x1="{pad}" x2="{width - pad}" y1="{y(m):.1f}" y2="{y(m):.1f}" stroke="#dddddd"/>'
        f'<text x="4" y="{y(m) + 4:.1f}" font-size="10">{m}</text>' for m in range(1, 6)
    )
    coords = [(pad + i * step, y(m)) for i, (_w, m) in enumerate(points)]
    line = (f'<polyline fill="none" stroke="#1565c0" stroke-width="2" '
            f'points="{" ".join(f"{x:.1f},{yy:.1f}" for x, yy in coords)}"/>') if len(coords) > 1 else ""
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{yy:.1f}" r="3" fill="#1565c0"><title>'
        f'{escape(w.occ_key)}: mood {m}</title></circle>' for (x, yy), (w, m) in zip(coords, points, strict=True)
    )
    empty = "" if points else f'<text x="{pad}" y="{height / 2:.0f}">No check-ins yet</text>'
    return (f'<figure><svg role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{grid}{line}'
            f"{dots}{empty}</svg><figcaption>{escape(title)}</figcaption></figure>")
