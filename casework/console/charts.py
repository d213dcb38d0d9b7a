"""Dashboard figures and their SVG charts, drawn on the server so the page needs no script."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from html import escape
from statistics import median

from casework.model import SEVERITIES, Case

W, H, PAD = 420, 180, 28


def bar_chart(title: str, data: Sequence[tuple[str, float]], unit: str = "") -> str:
    """A labelled bar chart; the numbers are also in the SVG's text for screen readers."""
    top = max((v for _k, v in data), default=0) or 1
    step = (W - 2 * PAD) / max(len(data), 1)
    bars = []
    for i, (label, value) in enumerate(data):
        h = (H - 2 * PAD) * value / top
        x, y = PAD + i * step, H - PAD - h
        bars.append(
            f'<rect x="{x + 4:.1f}" y="{y:.1f}" width="{step - 8:.1f}" height="{h:.1f}" class="bar"/>'
            f'<text x="{x + step / 2:.1f}" y="{H - PAD + 14}" text-anchor="middle">{escape(label)}</text>'
            f'<text x="{x + step / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle">'
            f"{value:g}{escape(unit)}</text>"
        )
    return (
        f'<figure><svg role="img" aria-label="{escape(title)}" viewBox="0 0 {W} {H}" width="{W}" '
        f'height="{H}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{"".join(bars)}'
        f"</svg><figcaption>{escape(title)}</figcaption></figure>"
    )


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p * (len(ordered) - 1))))]


def dashboard_svg(cases: Sequence[Case], now: datetime, days: int = 14) -> str:
    open_by_sev = Counter(c.severity for c in cases if c.is_open)
    waits = [(c.first_response_at - c.opened_at).total_seconds() / 60 for c in cases if c.first_response_at]
    breaches = Counter(c.severity for c in cases if c.sla_due and ((c.first_response_at or now) > c.sla_due))
    per_day = Counter(c.opened_at.date() for c in cases)
    start = (now - timedelta(days=days - 1)).date()
    day_series = [
        (f"{d:%d}", float(per_day.get(d, 0))) for d in (start + timedelta(days=i) for i in range(days))
    ]
    return "".join(
        [
            bar_chart("Open cases by severity", [(s, float(open_by_sev.get(s, 0))) for s in SEVERITIES[1:]]),
            bar_chart(
                "Time to first response (minutes)",
                [
                    ("median", round(median(waits), 1) if waits else 0.0),
                    ("p90", round(percentile(waits, 0.9), 1)),
                ],
            ),
            bar_chart("SLA breaches by severity", [(s, float(breaches.get(s, 0))) for s in SEVERITIES[1:]]),
            bar_chart(f"Cases per day (last {days} days)", day_series),
        ]
    )
