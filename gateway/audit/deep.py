"""``gateway audit verify --deep``: the searchable columns must say what the leaf bytes say.

Accounting, the break-the-glass queue and the CSV exports read the derived columns and patient links,
not the leaf bytes. An attacker who edits only those (say, deletes the patient link of a police
disclosure) leaves the Merkle tree intact, so this pass derives every field again from the canonical
event and compares.
"""

from __future__ import annotations

import orjson

from gateway.audit.fields import derive
from gateway.audit.report import Problem
from gateway.audit.repository import LEAF, AuditRepository
from gateway.db.session import Database

_BATCH = 2000
_MAX_PROBLEMS = 20


def deep_check(db: Database, total: int) -> list[Problem]:
    """Problems with the derived columns of entries ``[0, total)`` (at most a handful)."""
    problems: list[Problem] = []
    with db.unit_of_work() as session:
        repo = AuditRepository(session)
        for start in range(0, total, _BATCH):
            rows = repo.session.execute(
                LEAF.select()
                .where(LEAF.c.idx >= start, LEAF.c.idx < start + _BATCH)
                .order_by(LEAF.c.idx)
            ).all()
            links = repo.patients_of([int(r.seq) for r in rows])
            for row in rows:
                index = int(row.idx)
                try:
                    fields = derive(orjson.loads(bytes(row.body)))
                except (ValueError, KeyError, TypeError):
                    problems.append(Problem(f"entry {index} is not a readable AuditEvent", index))
                    continue
                stored = {name: getattr(row, name) for name in fields.columns()}
                stored["recorded"] = float(stored["recorded"])
                expected = fields.columns()
                wrong = sorted(k for k in expected if stored[k] != expected[k])
                if sorted(links.get(int(row.seq), [])) != sorted(fields.patients):
                    wrong.append("patients")
                if wrong:
                    problems.append(
                        Problem(
                            f"entry {index}: the stored {', '.join(wrong)} differ from the event",
                            index,
                        )
                    )
                if len(problems) >= _MAX_PROBLEMS:
                    return problems
    return problems
