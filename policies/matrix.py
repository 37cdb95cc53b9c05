"""The policy matrix: role x data class x purpose, evaluated by the real engine (for ``gateway policy matrix``).

Each cell is a real ``PolicyEngine.decide`` call on a representative request (resource type and
labels from ``policies/data/data_classes.json`` ``examples``), under each relationship the gateway can
report, each consent outcome and with or without an inter-agency agreement. Nothing here restates a
rule: if the matrix and the policies disagree, the policies are what the matrix shows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from policies.agreements import NON_PATIENT_CLASSES
from policies.data_classes import DATA_CLASSES, class_rules
from policies.engine import PolicyEngine, default_engine
from policies.model import AccessRequest, Facts, Principal

ROLES = (
    "police_officer",
    "cit_officer",
    "police_rms",
    "crisis_clinician",
    "ed_clinician",
    "bh_case_manager",
    "hospital_ehr",
    "crisis_team_system",
    "bha_system",
    "facility_intake",
    "facility_system",
    "bha_auditor",
    "gateway_admin",
    "program_reader",
    "web_console",
)
ROLE_AGENCY = {
    "police": ("matrix-police", "police"),
    "cit": ("matrix-police", "police"),
    "crisis": ("matrix-crisis-team", "crisis-team"),
    "ed": ("matrix-hospital", "hospital"),
    "hospital": ("matrix-hospital", "hospital"),
    "facility": ("matrix-facility", "facility"),
}
PURPOSES = (
    "TREAT",
    "ETREAT",
    "BTG",
    "BTG+2.51",
    "HPAYMT",
    "HOPERAT",
    "CAREMGT",
    "HLEGAL",
    "GOV",
    "PUBHLTH",
    "THREAT",
)
RELATIONS = (
    "none",
    "serving",
    "own-agency",
    "placement-addressed",
    "placement-accepted",
    "own-placement-request",
)
CONSENTS = ("none", "permit", "permit-part2", "permit-explicit", "permit-all", "deny")
OTHER_AGENCY = "matrix-other-agency"
AT = datetime(2026, 6, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class MatrixRow:
    """One cell of the matrix with its scenario and the policies that decided."""

    role: str
    data_class: str
    purpose: str
    relation: str
    consent: str
    agreement: bool
    allowed: bool
    view: str
    policy_ids: tuple[str, ...]


def principal_for(role: str) -> Principal:
    """A principal of ``role`` whose token carries every purpose (the matrix shows policy, not tokens)."""
    agency, kind = ROLE_AGENCY.get(role.split("_", 1)[0], ("matrix-bha", "bha"))
    return Principal(
        client_id=f"matrix-{role}",
        agency=agency,
        agency_kind=kind,
        role=role,
        user=f"matrix-{role}-user",
        purposes=tuple(p for p in PURPOSES if "+" not in p),
    )


def request_for(role: str, data_class: str, purpose: str, relation: str) -> AccessRequest:
    """The representative read request for one cell (the data file's example for ``data_class``)."""
    principal = principal_for(role)
    example = class_rules().examples[data_class]
    classes = (
        frozenset({data_class}) | example.with_classes | class_rules().for_labels(example.labels)
    )
    emergency = purpose.endswith("+2.51")
    return AccessRequest(
        principal=principal,
        action="read",
        resource_type=example.resource_type,
        purpose=purpose.removesuffix("+2.51"),
        data_classes=classes,
        labels=example.labels,
        owning_agency=principal.agency if relation == "own-agency" else OTHER_AGENCY,
        relations=frozenset({"encounter"}) if relation == "serving" else frozenset(),
        addressed_to_principal_facility=relation in ("placement-addressed", "placement-accepted"),
        accepted=relation == "placement-accepted",
        requested_by_principal_agency=relation == "own-placement-request",
        btg_reason="matrix: unconscious patient, no history available"
        if purpose.startswith("BTG")
        else None,
        medical_emergency=emergency,
        at=AT,
    )


def facts_for(request: AccessRequest, consent: str, agreement: bool) -> Facts:
    """The agreement and consent findings of one scenario, as the engine receives them."""
    cross = not request.own_agency and bool(request.data_classes - NON_PATIENT_CLASSES)
    mou = "not-needed" if not cross else ("covered" if agreement else "missing")
    ids = ("matrix-consent",) if consent != "none" else ()
    return Facts(
        mou=mou,
        agreement_ids=("matrix-agreement",) if mou == "covered" else (),
        consent="none" if consent == "none" else ("deny" if consent == "deny" else "permit"),
        consent_explicit=consent in ("permit-explicit", "permit-all"),
        part2_consent=consent in ("permit-part2", "permit-all"),
        consent_ids=ids,
        part2_consent_ids=ids if consent in ("permit-part2", "permit-all") else (),
        consents_consulted=ids,
    )


def rows(
    engine: PolicyEngine | None = None,
    roles: Iterable[str] = ROLES,
    data_classes: Iterable[str] = DATA_CLASSES,
    purposes: Iterable[str] = PURPOSES,
    relations: Iterable[str] = RELATIONS,
    consents: Iterable[str] = CONSENTS,
    agreements: Iterable[bool] = (True, False),
) -> Iterator[MatrixRow]:
    """Every combination, decided by the real engine."""
    engine = engine or default_engine()
    classes, purposes, relations = tuple(data_classes), tuple(purposes), tuple(relations)
    consents, agreements = tuple(consents), tuple(agreements)
    for role in roles:
        for data_class in classes:
            for purpose in purposes:
                for relation in relations:
                    request = request_for(role, data_class, purpose, relation)
                    for consent in consents:
                        for agreement in agreements:
                            d = engine.decide(request, facts_for(request, consent, agreement))
                            yield MatrixRow(
                                role,
                                data_class,
                                purpose,
                                relation,
                                consent,
                                agreement,
                                d.allowed,
                                d.view if d.allowed else "-",
                                d.policy_ids,
                            )


def to_csv(matrix: Iterable[MatrixRow]) -> str:
    """CSV with one row per cell (``gateway policy matrix --csv``)."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(
        [
            "role",
            "data_class",
            "purpose",
            "relation",
            "consent",
            "agreement",
            "allowed",
            "view",
            "policy_ids",
        ]
    )
    for r in matrix:
        out.writerow(
            [
                r.role,
                r.data_class,
                r.purpose,
                r.relation,
                r.consent,
                r.agreement,
                r.allowed,
                r.view,
                " ".join(r.policy_ids),
            ]
        )
    return buf.getvalue()


SHORT = {
    "full": "F",
    "law-enforcement": "LE",
    "placement-status": "PS",
    "crisis-plan-summary": "CP",
    "intake-minimum": "IM",
    "-": ".",
}


def to_text(matrix: Iterable[MatrixRow]) -> str:
    """A role x data class table; a cell lists the purposes allowed, with the view when projected.

    Pass rows of one scenario (relation, consent, agreement) to read it as "who sees what".
    """
    cells: dict[tuple[str, str], list[str]] = {}
    roles: list[str] = []
    classes: list[str] = []
    for r in matrix:
        if r.role not in roles:
            roles.append(r.role)
        if r.data_class not in classes:
            classes.append(r.data_class)
        if r.allowed:
            tag = r.purpose if r.view == "full" else f"{r.purpose}:{SHORT.get(r.view, r.view)}"
            cells.setdefault((r.role, r.data_class), []).append(tag)
    width = max((len(c) for c in roles), default=4) + 2
    lines = []
    for data_class in classes:
        lines.append(data_class)
        for role in roles:
            allowed = cells.get((role, data_class))
            lines.append(f"  {role:<{width}}{','.join(dict.fromkeys(allowed)) if allowed else '-'}")
    return "\n".join(lines) + "\n"
