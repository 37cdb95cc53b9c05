"""One person across agencies: link certain matches (``Patient.link`` seealso, both ways), queue
uncertain ones for a person to confirm or reject, and answer ``Patient/$match``.

Thresholds come from settings (``GATEWAY_MPI_LINK`` / ``GATEWAY_MPI_REVIEW``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from gateway.fhir.errors import Conflict, NotFound
from gateway.fhir.service import ResourceService
from gateway.mpi.matching import NICKNAMES, Features, Score, Thresholds, features, score
from gateway.mpi.repository import MpiRepository


@dataclass(slots=True)
class Candidate:
    patient_id: str
    content: str
    score: Score

    @property
    def grade(self) -> str:
        """FHIR match-grade (http://terminology.hl7.org/CodeSystem/match-grade)."""
        if self.score.deterministic or self.score.total >= 0.95:
            return "certain"
        if self.score.total >= 0.85:
            return "probable"
        if self.score.total >= 0.6:
            return "possible"
        return "certainly-not"


def _phone_keys(patient: dict[str, Any], mine: Features) -> list[str]:
    """Phone values to block on: the digits and each number as the record writes it (the index
    keeps the value as stored, so a number stored as 806-555-0101 is found by that spelling)."""
    raw = {
        str(t["value"])
        for t in patient.get("telecom") or []
        if isinstance(t, dict) and t.get("system") == "phone" and t.get("value")
    }
    return sorted(raw | set(mine.phones))


def initials(patient: dict[str, Any], mine: Features) -> list[str]:
    """First letters a stored record of the same person may give: the first given name as sent,
    its full form, and every nickname of that full form (Bill, William, Will)."""
    names = patient.get("name") or []
    given = [g for n in names[:1] for g in (n.get("given") or [])[:1] if isinstance(g, str)]
    full = mine.given[0] if mine.given else ""
    nicknames = [nick for nick, name in NICKNAMES.items() if name == full]
    return sorted({w[:1].casefold() for w in [*given, full, *nicknames] if w})


class MpiService:
    def __init__(self, service: ResourceService, thresholds: Thresholds | None = None) -> None:
        self.service = service
        self.repo = MpiRepository(service.session)
        self.thresholds = thresholds or Thresholds()

    def candidates(self, patient: dict[str, Any], exclude: str = "") -> list[Candidate]:
        mine = features(patient)
        rows = self.repo.candidates(
            exclude,
            sorted(mine.identifiers),
            mine.birth,
            _phone_keys(patient, mine),
            mine.family,
            initials(patient, mine),
        )
        scored = []
        for pid, content in rows:
            other = features(orjson.loads(content))
            scored.append(Candidate(pid, content, score(mine, other)))
        scored.sort(key=lambda c: (-c.score.total, c.patient_id))
        return scored

    def on_patient_written(self, patient: dict[str, Any]) -> list[tuple[str, str]]:
        """Link or queue the matches of a stored Patient; returns (other id, status) decisions."""
        pid = str(patient["id"])
        decisions: list[tuple[str, str]] = []
        for cand in self.candidates(patient, exclude=pid):
            total = cand.score.total
            if total < self.thresholds.review:
                continue
            existing = self.repo.link(pid, cand.patient_id)
            if (
                existing is not None
                and existing.status in ("rejected", "linked")
                and existing.method == "manual"
            ):
                continue  # a person's decision stands
            if total >= self.thresholds.link:
                method = "identifier" if cand.score.deterministic else "probabilistic"
                self.repo.save_link(pid, cand.patient_id, total, "linked", method)
                self._write_links(pid, cand.patient_id)
                decisions.append((cand.patient_id, "linked"))
            elif existing is None or existing.status == "review":
                self.repo.save_link(pid, cand.patient_id, total, "review", "probabilistic")
                decisions.append((cand.patient_id, "review"))
        return decisions

    def decide(self, link_pk: int, confirm: bool, by: str) -> dict[str, Any]:
        row = self.repo.by_pk(link_pk)
        if row is None:
            raise NotFound(f"no match candidate {link_pk}")
        if row.status != "review":
            raise Conflict(f"match candidate {link_pk} was already decided ({row.status})")
        status = "linked" if confirm else "rejected"
        self.repo.save_link(row.patient_a, row.patient_b, row.score, status, "manual", by=by)
        if confirm:
            self._write_links(row.patient_a, row.patient_b)
        return {"id": link_pk, "status": status, "patients": [row.patient_a, row.patient_b]}

    def _write_links(self, a: str, b: str) -> None:
        for me, other in ((a, b), (b, a)):
            stored = self.service.read("Patient", me)
            data = orjson.loads(stored.content or "{}")
            links = data.get("link") or []
            ref = f"Patient/{other}"
            if any((link.get("other") or {}).get("reference") == ref for link in links):
                continue
            data["link"] = [*links, {"other": {"reference": ref}, "type": "seealso"}]
            self.service.update("Patient", me, data)
