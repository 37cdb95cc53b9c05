"""The ``:mdm`` search modifier: a reference to a Patient that also matches every Patient the MPI
linked to it (as HAPI FHIR's MDM ``:mdm`` modifier does), so ``Encounter?patient:mdm=Patient/X``
finds the Encounters that any agency recorded for the same person.

Links are followed transitively (police record - hospital record - authority record) through
``mpi_link`` rows with status ``linked``; candidates waiting for review and rejected pairs are not
followed. The search's sharing rules then filter what the links found, as for any other search.
"""

from __future__ import annotations

from sqlalchemy import CTE, Select, case, literal, or_, select

from gateway.db.tables_ingest import MpiLinkRow

L = MpiLinkRow.__table__  # type: ignore[attr-defined]


def linked_ids(patient_id: str, name: str = "mdm_linked") -> Select[tuple[str]]:
    """``SELECT`` of ``patient_id`` and the id of every Patient linked to it, at any distance."""
    seed: CTE = select(literal(patient_id, L.c.patient_a.type).label("pid")).cte(
        name, recursive=True
    )
    other = case((L.c.patient_a == seed.c.pid, L.c.patient_b), else_=L.c.patient_a)
    step = select(other.label("pid")).where(
        L.c.status == "linked", or_(L.c.patient_a == seed.c.pid, L.c.patient_b == seed.c.pid)
    )
    linked = seed.union(step)  # UNION, not UNION ALL: a cycle of links ends the recursion
    return select(linked.c.pid)
