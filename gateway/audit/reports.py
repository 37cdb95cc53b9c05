"""What auditors read: the accounting of disclosures (45 CFR 164.528), the break-the-glass review
queue (45 CFR 164.312(a)(2)(ii)), searches over the log, and their CSV forms.

Accounting (164.528(a)(1), (b)(2)): for one person, every disclosure recorded in the six years before
the request (or a shorter period they ask for), each with its date, the recipient, a description of
what was disclosed and the purpose. Disclosures to law enforcement (164.512(f)) are included. A
suspension requested by a law-enforcement official or health-oversight agency (164.528(a)(2))
withholds the disclosures to that recipient while it lasts; an oral request lasts at most 30 days
(164.528(a)(2)(ii)). The accounting never says that anything was withheld.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from gateway.audit.events import instant
from gateway.audit.repository import AuditRepository, LeafFilter
from gateway.fhir.dates import BadDate, date_range
from gateway.fhir.errors import InvalidRequest

ORAL_SUSPENSION_DAYS = 30
PURPOSE_TEXT = {
    "HLEGAL": "law enforcement or legal proceedings (45 CFR 164.512(e)-(f))",
    "THREAT": "to prevent a serious and imminent threat (45 CFR 164.512(j))",
    "PUBHLTH": "public health (45 CFR 164.512(b))",
    "GOV": "specialized government functions (45 CFR 164.512(k))",
}
EVENT_COLUMNS = (
    "index",
    "event_id",
    "recorded",
    "kind",
    "action",
    "outcome",
    "agency",
    "client_id",
    "username",
    "purpose",
    "disclosure",
    "recipient",
    "what",
)


def _when(ts: float) -> str:
    return instant(datetime.fromtimestamp(ts, UTC))


def six_years_before(now: float) -> float:
    moment = datetime.fromtimestamp(now, UTC)
    try:
        earlier = moment.replace(year=moment.year - 6)
    except ValueError:  # 29 February
        earlier = moment.replace(year=moment.year - 6, day=28)
    return earlier.timestamp()


def parse_bound(value: str | None, name: str, *, upper: bool) -> float | None:
    if value is None or value == "":
        return None
    try:
        low, high = date_range(value)
    except BadDate:
        raise InvalidRequest(
            f"{name} must be a FHIR date or instant, e.g. 2024-05-01", expression=name
        ) from None
    return high if upper else low


def event_row(row: Any) -> dict[str, Any]:
    return {
        "index": row.idx,
        "event_id": row.event_id,
        "recorded": _when(row.recorded),
        "kind": row.kind,
        "action": row.action,
        "outcome": row.outcome,
        "agency": row.agency,
        "client_id": row.client_id,
        "username": row.username,
        "purpose": row.purpose,
        "disclosure": bool(row.disclosure),
        "recipient": row.recipient,
        "what": row.what,
    }


def search_events(
    repo: AuditRepository, flt: LeafFilter, *, count: int, offset: int
) -> list[dict[str, Any]]:
    rows = repo.search(flt, limit=count, offset=offset)
    patients = repo.patients_of([int(r.seq) for r in rows])
    return [{**event_row(r), "patients": patients.get(int(r.seq), [])} for r in rows]


@dataclass(frozen=True, slots=True)
class Accounting:
    patient: str
    start: float
    end: float
    disclosures: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return {
            "patient": self.patient,
            "from": _when(self.start),
            "to": _when(self.end),
            "disclosures": self.disclosures,
        }


def accounting(
    repo: AuditRepository,
    patient: str,
    start: float | None,
    end: float | None,
    *,
    now: float | None = None,
) -> Accounting:
    """The accounting of disclosures of ``patient`` between ``start`` and ``end``."""
    now = time.time() if now is None else now
    earliest = six_years_before(now)
    end = now if end is None else min(end, now)
    start = earliest if start is None else start
    if start < earliest - 1:
        raise InvalidRequest(
            "an accounting covers at most the six years before the request "
            "(45 CFR 164.528(a)(1)); choose a later 'from'",
            expression="from",
        )
    if start > end:
        raise InvalidRequest("'from' must not be after 'to'", expression="from")
    withheld = {s.recipient for s in repo.suspensions(patient, active_at=now)}
    items = []
    for row in repo.disclosures(patient, start, end):
        if row.recipient in withheld:
            continue
        items.append(
            {
                "date": _when(row.recorded),
                "recipient": row.recipient,
                "recipient_agent": row.username or row.client_id,
                "what": row.what,
                "purpose": PURPOSE_TEXT.get(row.purpose or "", row.purpose),
                "purpose_code": row.purpose,
                "index": row.idx,
                "event_id": row.event_id,
            }
        )
    return Accounting(patient, start, end, items)


def add_suspension(
    repo: AuditRepository,
    *,
    patient: str,
    recipient: str,
    until: float,
    requested_by: str,
    written: bool,
    statement: str,
    created_by: str,
    now: float | None = None,
) -> dict[str, Any]:
    now = time.time() if now is None else now
    if until <= now:
        raise InvalidRequest("'until' must be in the future", expression="until")
    if not written and until > now + ORAL_SUSPENSION_DAYS * 86400:
        raise InvalidRequest(
            "an oral request suspends the accounting for at most 30 days "
            "(45 CFR 164.528(a)(2)(ii)); record the written statement for longer",
            expression="until",
        )
    values = {
        "patient": patient,
        "recipient": recipient,
        "until": until,
        "requested_by": requested_by,
        "written": written,
        "statement": statement,
        "created_by": created_by,
        "created_at": now,
    }
    pk = repo.insert_suspension(**values)
    return suspension_row({"pk": pk, **values})


def suspension_row(row: Any) -> dict[str, Any]:
    get = row.get if isinstance(row, dict) else lambda k: getattr(row, k)
    return {
        "id": get("pk"),
        "patient": get("patient"),
        "recipient": get("recipient"),
        "until": _when(get("until")),
        "requested_by": get("requested_by"),
        "written": bool(get("written")),
        "statement": get("statement"),
        "created_by": get("created_by"),
        "created_at": _when(get("created_at")),
    }


def btg_queue(
    repo: AuditRepository, status: str, *, count: int, offset: int
) -> list[dict[str, Any]]:
    rows = repo.btg_events(status, limit=count, offset=offset)
    patients = repo.patients_of([int(r.seq) for r in rows])
    out = []
    for r in rows:
        reason = orjson.loads(bytes(r.body)).get("outcomeDesc")
        out.append(
            {
                **event_row(r),
                "patients": patients.get(int(r.seq), []),
                "reason": reason,
                "reviewed": r.reviewer is not None,
                "reviewer": r.reviewer,
                "review_note": r.note,
                "reviewed_at": _when(r.reviewed_at) if r.reviewed_at is not None else None,
            }
        )
    return out


def to_csv(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> str:
    """CSV with a header row; cells that a spreadsheet would run as a formula are quoted with '."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(col)) for col in columns])
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        value = " ".join(str(v) for v in value)
    text = str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text
