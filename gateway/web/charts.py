"""The program dashboard's figures as simple charts: one bar per month of a figure's headline
measure, drawn as inline SVG by the template (no script, no library), with the same numbers in a
table for screen readers and a CSV download of everything.

Figures with no single headline measure (declines by reason, referrals by service type and by
referring agency) are drawn as one bar per key over the whole period instead.

Suppressed cells (``"<11"``, ``"suppressed"``) are drawn as an outlined stub with their label, never
as a number; a month with nothing to measure shows a dash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Used when the dashboard does not name a figure's headline measure (``headline``, ``unit``).
FALLBACK: dict[str, tuple[str, str]] = {"timeToPlacement": ("medianSeconds", "seconds")}
SECOND: dict[str, tuple[str, str]] = {"timeToPlacement": ("p90Seconds", "90th percentile")}
# Figures drawn one bar per key: key -> (unit, what a key is, plural of it for the headline).
KEYED: dict[str, tuple[str, str, str]] = {
    "declinesByReason": ("declines", "Reason", "reason(s)"),
    "referralsByType": ("referrals", "Service type", "service type(s)"),
    "referralsBySourceAgency": ("referrals", "Referring agency", "agency(ies)"),
}


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float | None
    text: str
    height: float = 0.0  # 0..100, filled in by :func:`chart`
    mark: float | None = None  # a second measure (0..100), e.g. the 90th percentile


@dataclass(slots=True)
class Chart:
    key: str
    title: str
    unit: str
    headline: str
    bars: list[Bar] = field(default_factory=list)
    note: str = ""
    target: str = ""
    mark_label: str = ""
    axis: str = "Month"  # what a bar's label is, for the table of numbers


def _number(value: Any, scale: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) / scale


def _text(value: Any, scale: float) -> str:
    number = _number(value, scale)
    if number is None:
        return "—" if value is None else str(value)
    return f"{number:.0f}" if number == int(number) else f"{number:.1f}"


def headline(key: str, figure: dict[str, Any]) -> tuple[str, str, float]:
    """The measure to draw, its unit as shown, and the divisor that turns it into that unit."""
    measure, unit = FALLBACK.get(key, ("count", ""))
    measure = str(figure.get("headline") or measure)
    unit = str(figure.get("unit") or unit)
    if measure.endswith("Seconds"):
        return measure, "hours" + (" (median)" if measure.startswith("median") else ""), 3600.0
    if measure in ("share", "rate"):
        return measure, "% of " + unit.removeprefix("share of "), 0.01
    return measure, unit, 1.0


def chart(key: str, figure: dict[str, Any]) -> Chart:
    """One figure as a monthly bar chart of its headline measure."""
    measure, unit, scale = headline(key, figure)
    second = SECOND.get(key)
    total = figure.get("total") or {}
    out = Chart(
        key=key,
        title=str(figure.get("label") or key),
        unit=unit,
        headline=f"{_text(total.get(measure), scale)}{'' if unit[:1] == '%' else ' '}{unit}".strip(),
        note=str(figure.get("definition") or ""),
        mark_label=second[1] if second else "",
    )
    target = figure.get("target") or {}
    if target.get("forPeriod") is not None:
        share = target.get("share")
        share_text = f" ({_text(share, 0.01)}%)" if share is not None else ""
        out.target = f"target {_text(target['forPeriod'], 1.0)} for the period{share_text}"
    months = figure.get("byMonth") or {}
    values = []
    for month, cell in months.items():
        value = _number((cell or {}).get(measure), scale)
        mark = _number((cell or {}).get(second[0]), scale) if second else None
        values.append((month, value, _text((cell or {}).get(measure), scale), mark))
    top = max([v for _, v, _, _ in values if v] + [m for *_, m in values if m] + [1.0])
    out.bars = [
        Bar(
            label=month,
            value=value,
            text=text,
            height=0.0 if value is None else 100.0 * value / top,
            mark=None if mark is None else 100.0 * mark / top,
        )
        for month, value, text, mark in values
    ]
    return out


def by_key(key: str, figure: dict[str, Any]) -> Chart:
    """A figure with one count per key (a reason, a service type, an agency): one bar per key over
    the whole period, suppressed keys shown by their label (``"<11"``) as an outlined stub."""
    unit, axis, plural = KEYED.get(key, (str(figure.get("unit") or ""), "Key", "key(s)"))
    total = figure.get("total") or {}
    items = [(str(k), v) for k, v in total.items()]
    top = max([float(v) for _, v in items if _number(v, 1.0)] + [1.0])
    return Chart(
        key=key,
        title=str(figure.get("label") or key),
        unit=unit,
        headline=f"{len(items)} {plural}" if items else f"no {unit}".strip(),
        axis=axis,
        bars=[
            Bar(
                label=label,
                value=_number(v, 1.0),
                text=_text(v, 1.0),
                height=100.0 * (_number(v, 1.0) or 0.0) / top,
            )
            for label, v in items
        ],
    )


def declines(figure: dict[str, Any]) -> Chart:
    """Declines by reason: one bar per reason over the whole period."""
    return by_key("declinesByReason", figure)


def _keyed(key: str, figure: dict[str, Any]) -> bool:
    return key in KEYED or ("headline" in figure and figure["headline"] is None)


def charts(dashboard: dict[str, Any]) -> list[Chart]:
    """Every figure of the dashboard as a chart, in the report's order."""
    figures = dashboard.get("figures") or {}
    out = []
    for key, figure in figures.items():
        out.append(by_key(key, figure) if _keyed(key, figure) else chart(key, figure))
    return out
