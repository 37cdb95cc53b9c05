"""FHIR R4 ``Consent`` resources compiled into per-patient rules (HL7 FHIR R4 Consent, HL7 DS4P).

* Only ``status = active`` consents apply: revoking (status inactive / rejected / entered-in-error) takes
  effect on the next request, since consents are compiled per request version.
* The root provision's ``type`` is the base rule: ``permit`` = opt-in to sharing, ``deny`` = opt-out.
  Without a root type, ``policyRule`` OPTIN/OPTOUT decides; with neither the base is deny (privacy first).
* A provision applies when every criterion it states matches: ``actor`` (``Organization/<agency>``,
  ``PractitionerRole/<role>``, ``Practitioner/<user>``), ``action``, ``purpose`` (with v3-ActReason
  subsumption), ``securityLabel`` / ``class`` (data classes of ``policies/data/data_classes.json`` or
  FHIR resource types), ``period``. Nested provisions are exceptions: the most specific matching
  provision decides. ``provision.code`` cannot be checked at this level: a deny provision with codes is
  applied to all data (safe), a permit with codes never applies. ``dataPeriod`` is not evaluated.
* Across consents deny wins (deny-overrides).
* 42 CFR Part 2 (2.31, 2.33): a consent is a Part 2 consent when its ``policy``, ``policyRule`` or
  ``category`` names 42 CFR Part 2. It covers a disclosure of SUD records when its permitting provision
  names the recipient (actor) or it is the 2024 single consent for treatment, payment and operations
  (purposes all TPO, request purpose TPO). A general authorization is not enough (2.31).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from policies.model import PSYTHPN_LABELS, SUD_LABELS, VIEW_ACTIONS, Principal
from policies.purposes import covers, tpo_purposes

PART2_PATTERN = re.compile(r"42\s*CFR\s*(part\s*)?2\b|42CFRPart2|part-2|part2", re.IGNORECASE)
OPT_IN = frozenset({"OPTIN", "OPTINR"})
OPT_OUT = frozenset({"OPTOUT", "OPTOUTE"})
VIEW_CONSENT_ACTIONS = frozenset({"access", "use", "disclose"})
WRITE_CONSENT_ACTIONS = frozenset({"collect", "correct"})


class ConsentError(ValueError):
    """A Consent resource that cannot be compiled (not a dict, wrong type)."""


@dataclass(frozen=True, slots=True)
class Provision:
    """One compiled ``Consent.provision`` (criteria + nested exceptions)."""

    type: str | None
    agencies: frozenset[str]
    roles: frozenset[str]
    users: frozenset[str]
    actions: frozenset[str]
    purposes: frozenset[str]
    labels: frozenset[str]
    classes: frozenset[str]
    has_code: bool
    start: datetime | None
    end: datetime | None
    children: tuple[Provision, ...]

    @property
    def names_actor(self) -> bool:
        """The provision names its recipients (42 CFR 2.31(a)(4))."""
        return bool(self.agencies or self.roles or self.users)


@dataclass(frozen=True, slots=True)
class CompiledConsent:
    """A Consent reduced to what decisions need."""

    id: str
    patient: str | None
    active: bool
    part2: bool
    root: Provision


@dataclass(frozen=True, slots=True)
class ConsentQuery:
    """What the consent layer is asked about: one view of one request."""

    principal: Principal
    action: str
    purpose: str
    resource_type: str
    classes: frozenset[str]
    labels: frozenset[str]
    patient: str | None = None
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ConsentOutcome:
    """The consent layer's answer."""

    decision: str = "none"  # "permit" | "deny" | "none"
    consent_ids: tuple[str, ...] = ()
    explicit: bool = False
    part2_permit: bool = False
    part2_ids: tuple[str, ...] = ()
    consulted: tuple[str, ...] = ()


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    text = value.replace("Z", "+00:00")
    if len(text) == 4:
        text += "-01-01"
    elif len(text) == 7:
        text += "-01"
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _codes(concepts: Any) -> frozenset[str]:
    out: set[str] = set()
    for item in concepts if isinstance(concepts, list) else [concepts]:
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("code"), str):
            out.add(item["code"])  # a Coding (purpose, securityLabel, class)
        for c in item.get("coding", []):  # a CodeableConcept (action, code)
            if isinstance(c, dict) and isinstance(c.get("code"), str):
                out.add(c["code"])
    return frozenset(out)


def _provision(raw: Mapping[str, Any]) -> Provision:
    agencies: set[str] = set()
    roles: set[str] = set()
    users: set[str] = set()
    for actor in raw.get("actor", []):
        ref = actor.get("reference", {}).get("reference", "") if isinstance(actor, dict) else ""
        kind, _, value = str(ref).partition("/")
        {"Organization": agencies, "PractitionerRole": roles, "Practitioner": users}.get(
            kind, set()
        ).add(value)
    period = raw.get("period", {})
    return Provision(
        type=raw.get("type"),
        agencies=frozenset(agencies),
        roles=frozenset(roles),
        users=frozenset(users),
        actions=_codes(raw.get("action", [])),
        purposes=_codes(raw.get("purpose", [])),
        labels=_codes(raw.get("securityLabel", [])),
        classes=_codes(raw.get("class", [])),
        has_code=bool(raw.get("code")),
        start=_time(period.get("start")),
        end=_time(period.get("end")),
        children=tuple(_provision(p) for p in raw.get("provision", []) if isinstance(p, dict)),
    )


def _is_part2(resource: Mapping[str, Any]) -> bool:
    texts = [p.get("uri", "") + " " + p.get("authority", "") for p in resource.get("policy", [])]
    texts += list(_codes(resource.get("policyRule", {})))
    texts += list(_codes(resource.get("category", [])))
    return any(PART2_PATTERN.search(t) for t in texts if t)


def compile_consent(resource: Mapping[str, Any]) -> CompiledConsent:
    """Compile one FHIR R4 Consent (a JSON dict) into a rule tree (FHIR R4 Consent.provision)."""
    if not isinstance(resource, Mapping) or resource.get("resourceType") != "Consent":
        raise ConsentError("not a FHIR Consent resource")
    root_raw = dict(resource.get("provision") or {})
    if not root_raw.get("type"):
        rule = _codes(resource.get("policyRule", {}))
        root_raw["type"] = "permit" if rule & OPT_IN else "deny"
    ref = (resource.get("patient") or {}).get("reference")
    return CompiledConsent(
        id=str(resource.get("id", "")),
        patient=ref.split("/", 1)[1] if isinstance(ref, str) and "/" in ref else None,
        active=resource.get("status") == "active",
        part2=_is_part2(resource),
        root=_provision(root_raw),
    )


def _matches(p: Provision, q: ConsentQuery, at: datetime) -> bool:
    pr = q.principal
    if p.names_actor and not (
        (pr.agency in p.agencies) or (pr.role in p.roles) or (pr.user in p.users)
    ):
        return False
    if p.actions:
        wanted = VIEW_CONSENT_ACTIONS if q.action in VIEW_ACTIONS else WRITE_CONSENT_ACTIONS
        if not p.actions & wanted:
            return False
    if p.purposes and not any(covers(g, q.purpose) for g in p.purposes):
        return False
    if (p.labels or p.classes) and not (
        p.labels & q.labels or p.classes & (q.classes | {q.resource_type})
    ):
        return False
    if p.has_code and p.type != "deny":
        return False
    if p.start and at < p.start:
        return False
    return not (p.end and at > p.end)


def _evaluate(
    p: Provision, q: ConsentQuery, at: datetime, inherited: str
) -> tuple[str, tuple[Provision, ...]] | None:
    """(decision, matched chain root..leaf) for a provision tree, or None when it does not apply."""
    if not _matches(p, q, at):
        return None
    own = p.type or ("deny" if inherited == "permit" else "permit")
    results = [r for child in p.children if (r := _evaluate(child, q, at, own)) is not None]
    denies = [r for r in results if r[0] == "deny"]
    if denies:
        return "deny", (p, *denies[0][1])
    if results:
        return results[0][0], (p, *results[0][1])
    return own, (p,)


def _part2_covers(chain: tuple[Provision, ...], q: ConsentQuery) -> bool:
    named = any(p.names_actor for p in chain)
    purposes = frozenset().union(*(p.purposes for p in chain))
    tpo = bool(purposes) and purposes <= tpo_purposes() and q.purpose in tpo_purposes()
    data = [p for p in chain if p.labels or p.classes]
    about_sud = not data or any(p.labels & SUD_LABELS or "sud" in p.classes for p in data)
    return (named or tpo) and about_sud


def evaluate_consents(
    consents: Iterable[CompiledConsent | Mapping[str, Any]], query: ConsentQuery
) -> ConsentOutcome:
    """Evaluate every applicable consent; deny wins across them (FHIR R4 Consent; 42 CFR 2.31/2.33).

    ``consents`` may be compiled or raw Consent dicts. Consents for another patient and consents not
    ``active`` are ignored (revocation applies from the next request).
    """
    at = query.at or datetime.now(UTC)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    permits: list[tuple[CompiledConsent, tuple[Provision, ...]]] = []
    denies: list[str] = []
    consulted: list[str] = []
    for item in consents:
        c = item if isinstance(item, CompiledConsent) else compile_consent(item)
        if not c.active or (query.patient and c.patient and c.patient != query.patient):
            continue
        consulted.append(c.id)
        result = _evaluate(c.root, query, at, "deny")
        if result is None:
            continue
        if result[0] == "deny":
            denies.append(c.id)
        else:
            permits.append((c, result[1]))
    if denies:
        return ConsentOutcome("deny", tuple(denies), consulted=tuple(consulted))
    if not permits:
        return ConsentOutcome(consulted=tuple(consulted))
    explicit = any(
        p.labels & PSYTHPN_LABELS or "psychotherapy-note" in p.classes
        for _, chain in permits
        for p in chain
    )
    part2 = tuple(c.id for c, chain in permits if c.part2 and _part2_covers(chain, query))
    return ConsentOutcome(
        "permit",
        tuple(c.id for c, _ in permits),
        explicit=explicit,
        part2_permit=bool(part2),
        part2_ids=part2,
        consulted=tuple(consulted),
    )
