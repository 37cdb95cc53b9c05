"""The dashboard as CSV: one row per figure, measure and month (``total`` for the whole period,
``current`` for the moment the report was made, ``target.*`` rows for the people-served target)."""

from __future__ import annotations

import csv
import io
from typing import Any

from gateway.outcomes.schemas import CSV_COLUMNS, CURRENT, TOTAL


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def rows(dashboard: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Every (figure, measure, month, value) of a (suppressed) dashboard, months in order."""
    out: list[tuple[str, str, str, str]] = []
    months = dashboard["months"]
    for name, figure in dashboard["figures"].items():
        cells = [(m, figure["byMonth"].get(m, {})) for m in months] + [(TOTAL, figure["total"])]
        measures: list[str] = []
        for _, cell in cells:
            measures.extend(k for k in cell if k not in measures)
        for measure in measures:
            for month, cell in cells:
                out.append((name, measure, month, _cell(cell.get(measure))))
        target = figure.get("target")
        if isinstance(target, dict):
            for key in ("perYear", "forPeriod", "share"):
                out.append((name, f"target.{key}", TOTAL, _cell(target.get(key))))
        now = figure.get("now")
        if isinstance(now, dict):
            for key in ("units", "staleUnits", "share"):
                out.append((name, f"now.{key}", CURRENT, _cell(now.get(key))))
    return out


def to_csv(dashboard: dict[str, Any]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(rows(dashboard))
    return buf.getvalue()
