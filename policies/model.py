"""The values the policy layer works on: who asks, what for, and what was decided.

All frozen and hashable, so decisions can be cached on them. The gateway builds a ``Principal`` from
its resolved ``Caller`` (client_id, agency, role, user, purposes) plus the agency's kind from the
registry, and an ``AccessRequest`` per resource (or per search, for the SQL filter).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

ACTIONS = frozenset({"read", "search", "create", "update", "delete"})
VIEW_ACTIONS = frozenset({"read", "search"})

FULL = "full"
LAW_ENFORCEMENT = "law-enforcement"
PLACEMENT_STATUS = "placement-status"
CRISIS_PLAN_SUMMARY = "crisis-plan-summary"
INTAKE_MINIMUM = "intake-minimum"

# Sensitivity codes whose presence makes a resource "sensitive" for the purposes of this module.
SUD_LABELS = frozenset({"SUD", "ETH", "42CFRPart2"})
PSYTHPN_LABELS = frozenset({"PSYTHPN", "HIPAAPsyNotes"})


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller, as far as sharing rules care (gateway ``Caller`` + the agency's kind)."""

    client_id: str
    agency: str | None = None
    agency_kind: str | None = None
    role: str | None = None
    user: str | None = None
    purposes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AccessRequest:
    """One access to one resource (or one resource type, for a search filter).

    ``data_classes`` and ``labels`` describe the resource as stored (``policies.labelling.label`` and
    ``policies.data_classes.data_classes``); ``pipeline.request_for`` fills them from a resource.
    The relationship facts (``relations``, placement state, ``owning_agency``) come from the gateway's
    own tables: the policy layer never looks anything up.
    """

    principal: Principal
    action: str
    resource_type: str
    purpose: str
    data_classes: frozenset[str] = frozenset()
    labels: frozenset[str] = frozenset()
    owning_agency: str | None = None
    # How the caller's agency is linked to the patient: "encounter", "episode", "care-team", "placement".
    relations: frozenset[str] = frozenset()
    addressed_to_principal_facility: bool = False
    accepted: bool = False
    requested_by_principal_agency: bool = False
    active: bool = True
    btg_reason: str | None = None
    medical_emergency: bool = False
    patient: str | None = None
    at: datetime | None = None

    @property
    def serving(self) -> bool:
        """The caller's agency serves the patient (an encounter, episode, care team or placement)."""
        return bool(self.relations)

    @property
    def own_agency(self) -> bool:
        """The record was written by the caller's own agency."""
        return self.owning_agency is not None and self.owning_agency == self.principal.agency


@dataclass(frozen=True, slots=True)
class Obligations:
    """What the gateway must do to the resource and the audit trail when access is allowed.

    ``view`` names a projection (``policies.redaction.project``); ``redact`` lists top-level element
    paths to remove; ``add_labels`` are v3 codes to add to ``meta.security``; ``part2_notice`` is the
    42 CFR 2.32(a) statement and ``consent_copy`` the consents that 2.32(b) requires to accompany it;
    ``audit_events`` are audit kinds to record beyond the ordinary access event.
    """

    view: str = FULL
    redact: tuple[str, ...] = ()
    add_labels: tuple[str, ...] = ()
    part2_notice: str | None = None
    consent_copy: tuple[str, ...] = ()
    audit_events: tuple[str, ...] = ()
    review_queue: bool = False
    accounting: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome: allowed or not, what to do, and which policies, consents and agreements decided.

    ``refusal_codes`` are v3-ActCode refrain codes for the OperationOutcome (e.g. ``NOMOU``);
    ``reasons`` are sentences a person can act on. Neither ever contains patient data.
    """

    allowed: bool
    obligations: Obligations = field(default_factory=Obligations)
    policy_ids: tuple[str, ...] = ()
    consent_ids: tuple[str, ...] = ()
    consents_consulted: tuple[str, ...] = ()
    agreement_ids: tuple[str, ...] = ()
    refusal_codes: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()

    @property
    def view(self) -> str:
        """The projection the caller gets (``full`` when nothing is projected)."""
        return self.obligations.view


@dataclass(frozen=True, slots=True)
class Facts:
    """What the agreement and consent layers found for one view of one request."""

    mou: str = "not-needed"  # "not-needed" | "covered" | "missing"
    agreement_ids: tuple[str, ...] = ()
    consent: str = "none"  # "permit" | "deny" | "none"
    consent_explicit: bool = False
    part2_consent: bool = False
    consent_ids: tuple[str, ...] = ()
    part2_consent_ids: tuple[str, ...] = ()
    consents_consulted: tuple[str, ...] = ()
