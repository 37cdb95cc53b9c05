"""The Cedar policy engine: policies parsed and validated once, decisions cached.

Decision order (DESIGN.md): token scopes (checked by the gateway before) -> role / agency /
agreement policies -> patient consent -> regulatory forbids (42 CFR Part 2) -> obligations -> audit.
All four policy layers are Cedar policies (``policies/cedar/NN-layer.cedar``, ids reported in that
order); the agreement and consent layers are computed in Python first and handed to Cedar as facts.

Speed: ``cedarpy.is_authorized`` with pre-parsed ``PolicySet``/``Entities`` handles costs ~50 us
median but a few hundred us at p99, over the 0.5 ms budget once the pipeline is added; with the
policies as a string it re-parses every call (~2 ms p99). Every Cedar input here is a small
enumeration (role, action, type, view, purpose, classes, labels, a dozen booleans), so each distinct
combination is evaluated once and the decision kept in a dict (bench/policy_decision.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import cedarpy

from policies import btg
from policies.agreements import NON_PATIENT_CLASSES
from policies.model import (
    FULL,
    SUD_LABELS,
    AccessRequest,
    Decision,
    Facts,
    Obligations,
)
from policies.views import candidate_views, scope

CEDAR_DIR = Path(__file__).parent / "cedar"
NOTICE_PATH = Path(__file__).parent / "data" / "part2_notice.json"
DEFAULT_DENY = "default-deny"
DEFAULT_DENY_REASON = "No policy lets this role see this data for this purpose."
PART2_LABELS = ("R", "SUD", "42CFRPart2", "NORDSCLCDS")

FactsFor = Callable[[str, frozenset[str], frozenset[str]], Facts]


class PolicyLoadError(RuntimeError):
    """The policies, schema or entities cannot be loaded; start-up must stop."""


@dataclass(frozen=True, slots=True)
class PolicyInfo:
    """One Cedar policy as the decision log names it."""

    id: str
    layer: str
    effect: str
    order: int
    reason: str = ""
    refrain: str = ""
    # Naming this policy would tell the caller the record is of a protected kind: "" (no),
    # "sensitivity" (named only when no other policy refused) or "always" (never named).
    discloses: str = ""


class CedarKey(NamedTuple):
    """Every input of one Cedar evaluation (hashable: the decision cache key)."""

    role: str
    action: str
    resource_type: str
    view: str
    purpose: str
    purpose_granted: bool
    classes: frozenset[str]
    labels: frozenset[str]
    own_agency: bool
    serving: bool
    placement_addressed: bool
    placement_accepted: bool
    placement_own_request: bool
    active: bool
    mou: str
    consent: str
    consent_explicit: bool
    part2_consent: bool
    btg: bool
    medical_emergency: bool


@dataclass(frozen=True, slots=True)
class CedarOutcome:
    """Cedar's answer: allowed, and the ids of the policies that determined it."""

    allowed: bool
    policy_ids: tuple[str, ...]


@cache
def part2_notice() -> str:
    """42 CFR 2.32(a) Statement 1 (data file with source and date)."""
    return str(json.loads(NOTICE_PATH.read_text(encoding="utf-8"))["statement_1"])


class PolicyEngine:
    """Loads ``policies/cedar`` once; ``decide`` answers an ``AccessRequest``."""

    def __init__(self, directory: Path = CEDAR_DIR, *, cache_size: int = 200_000) -> None:
        files = sorted(directory.glob("*.cedar"))
        if not files:
            raise PolicyLoadError(f"no *.cedar files in {directory}")
        self._info: dict[str, PolicyInfo] = {}
        texts = []
        for path in files:
            text = path.read_text(encoding="utf-8")
            texts.append(text)
            self._index(path, text)
        self.text = "\n".join(texts)
        self.schema_text = (directory / "schema.cedarschema").read_text(encoding="utf-8")
        result = cedarpy.validate_policies(self.text, self.schema_text)
        if not result.validation_passed:
            errors = "; ".join(str(e) for e in result.errors)
            raise PolicyLoadError(f"policies do not validate against the schema: {errors}")
        self._policies = cedarpy.PolicySet.from_str(self.text)
        entities = (directory / "entities.json").read_text(encoding="utf-8")
        self._entities = cedarpy.Entities.from_json_str(entities)
        # Labels no policy mentions cannot change a decision: drop them from cache keys.
        self._mentioned = frozenset(re.findall(r'"([^"\\]*)"', self.text))
        self._cache: dict[CedarKey, CedarOutcome] = {}
        self._cache_size = cache_size

    def _index(self, path: Path, text: str) -> None:
        layer = path.stem.split("-", 1)[-1]
        parsed = json.loads(cedarpy.policies_to_json_str(text))["staticPolicies"]
        for cedar_id, body in sorted(
            parsed.items(), key=lambda kv: int(kv[0].removeprefix("policy"))
        ):
            notes = body.get("annotations", {})
            pid = notes.get("id")
            if not pid:
                raise PolicyLoadError(f"{path.name}: policy {cedar_id} has no @id annotation")
            if pid in self._info:
                raise PolicyLoadError(f"{path.name}: duplicate policy id {pid!r}")
            self._info[pid] = PolicyInfo(
                id=pid,
                layer=layer,
                effect=body["effect"],
                order=len(self._info),
                reason=notes.get("reason", ""),
                refrain=notes.get("refrain", ""),
                discloses=notes.get("discloses", ""),
            )

    @property
    def policies(self) -> Mapping[str, PolicyInfo]:
        """Every policy by id, in decision-layer order."""
        return self._info

    def _request(self, key: CedarKey) -> dict[str, Any]:
        context = {
            name: (sorted(value) if isinstance(value, frozenset) else value)
            for name, value in key._asdict().items()
            if name not in ("role", "action", "resource_type")
        }
        return {
            "principal": {"type": "Role", "id": key.role},
            "action": {"type": "Action", "id": key.action},
            "resource": {"type": "FhirType", "id": key.resource_type},
            "context": context,
        }

    def _outcome(self, result: cedarpy.AuthzResult) -> CedarOutcome:
        if result.diagnostics.errors:
            # An evaluation error must never allow: the forbids that errored did not get a say.
            return CedarOutcome(False, ("evaluation-error",))
        names = result.diagnostics.id_annotations_by_reason
        ids = sorted(
            {names[r] for r in result.diagnostics.reasons}, key=lambda i: self._info[i].order
        )
        return CedarOutcome(
            result.allowed, tuple(ids) or ((DEFAULT_DENY,) if not result.allowed else ())
        )

    def authorize(self, key: CedarKey) -> CedarOutcome:
        """Evaluate one Cedar request (cached on its discrete inputs)."""
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        outcome = self._outcome(
            cedarpy.is_authorized(self._request(key), self._policies, self._entities)
        )
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[key] = outcome
        return outcome

    def authorize_many(self, keys: Sequence[CedarKey]) -> list[CedarOutcome]:
        """Evaluate many requests with one ``is_authorized_batch`` call for the uncached ones."""
        missing = list(dict.fromkeys(k for k in keys if k not in self._cache))
        if missing:
            results = cedarpy.is_authorized_batch(
                [self._request(k) for k in missing], self._policies, self._entities
            )
            if len(self._cache) + len(missing) >= self._cache_size:
                self._cache.clear()
            for k, r in zip(missing, results, strict=True):
                self._cache[k] = self._outcome(r)
        return [self._cache[k] if k in self._cache else self.authorize(k) for k in keys]

    def key(
        self,
        request: AccessRequest,
        view: str,
        classes: frozenset[str],
        labels: frozenset[str],
        facts: Facts,
    ) -> CedarKey:
        """The Cedar inputs for one view of one request."""
        return CedarKey(
            role=request.principal.role or "anonymous",
            action=request.action,
            resource_type=request.resource_type,
            view=view,
            purpose=request.purpose,
            purpose_granted=btg.purpose_granted(request),
            classes=classes,
            labels=labels & self._mentioned,
            own_agency=request.own_agency,
            serving=request.serving,
            placement_addressed=request.addressed_to_principal_facility,
            # accepted only means something for a request addressed to the caller's facility
            placement_accepted=request.accepted and request.addressed_to_principal_facility,
            placement_own_request=request.requested_by_principal_agency,
            active=request.active,
            mou=facts.mou,
            consent=facts.consent,
            consent_explicit=facts.consent_explicit,
            part2_consent=facts.part2_consent,
            btg=btg.asserted(request),
            medical_emergency=request.medical_emergency,
        )

    def decide(self, request: AccessRequest, facts: Facts | FactsFor | None = None) -> Decision:
        """Decide one request: the first view (full, then projections) the policies allow.

        ``facts`` are the agreement and consent findings, either fixed or computed per view (the
        pipeline does that). Without them: no consent, and no agreement for another agency's data
        (NOMOU), which is the safe default.
        """
        tried: list[tuple[CedarOutcome, Facts]] = []
        for view in candidate_views(request):
            classes, labels = scope(
                view, request.resource_type, request.data_classes, request.labels
            )
            if callable(facts):
                found = facts(view, classes, labels)
            else:
                found = facts or default_facts(request, classes)
            outcome = self.authorize(self.key(request, view, classes, labels, found))
            if outcome.allowed:
                return self._allow(request, view, labels, found, outcome)
            tried.append((outcome, found))
        return self._deny(tried)

    def _allow(
        self,
        request: AccessRequest,
        view: str,
        labels: frozenset[str],
        facts: Facts,
        outcome: CedarOutcome,
    ) -> Decision:
        disclosure = request.owning_agency is not None and not request.own_agency
        part2 = bool(labels & SUD_LABELS) and disclosure
        events: list[str] = list(btg.audit_events(request, part2, facts.part2_consent))
        if disclosure:
            events.append("disclosure")  # DCM 110106, HIPAA 164.528 accounting
        consent_ids = tuple(dict.fromkeys(facts.consent_ids + facts.part2_consent_ids))
        obligations = Obligations(
            view=view,
            add_labels=(PART2_LABELS if part2 else ()) + (("REDACT",) if view != FULL else ()),
            part2_notice=part2_notice() if part2 else None,
            consent_copy=facts.part2_consent_ids if part2 else (),
            audit_events=tuple(events),
            review_queue=btg.asserted(request),
            accounting=disclosure,
        )
        return Decision(
            allowed=True,
            obligations=obligations,
            policy_ids=outcome.policy_ids,
            consent_ids=consent_ids if facts.consent == "permit" else (),
            consents_consulted=facts.consents_consulted,
            agreement_ids=facts.agreement_ids,
            reasons=tuple(r for i in outcome.policy_ids if (r := self._info[i].reason)),
        )

    def outward(self, decision: Decision) -> Decision:
        """The refusal as the caller may see it: without the policies that would tell the record is
        of a protected kind, when other policies refused it too.

        42 CFR 2.13(c) restricts acknowledging that a Part 2 record exists, and knowing that a
        refused document is a psychotherapy note discloses as much; a caller that any other rule
        refuses learns only that rule. Allowed decisions, and refusals only such a policy decided
        (actionable: ask the patient for consent), are returned unchanged.
        """
        if decision.allowed:
            return decision
        plain = [i for i in decision.policy_ids if not self._discloses(i)]
        if len(plain) == len(decision.policy_ids):
            return decision
        if not plain:
            if not any(self._discloses(i) == "always" for i in decision.policy_ids):
                return decision
            plain = [DEFAULT_DENY]
        return replace(
            decision,
            policy_ids=tuple(plain),
            refusal_codes=tuple(
                dict.fromkeys(self._info[i].refrain for i in plain if self._refrain(i))
            ),
            reasons=tuple(
                dict.fromkeys(
                    self._info[i].reason if i in self._info else DEFAULT_DENY_REASON for i in plain
                )
            ),
        )

    def _discloses(self, pid: str) -> str:
        return self._info[pid].discloses if pid in self._info else ""

    def _refrain(self, pid: str) -> bool:
        return pid in self._info and bool(self._info[pid].refrain)

    def _deny(self, tried: Iterable[tuple[CedarOutcome, Facts]]) -> Decision:
        ids: list[str] = []
        consent_ids: list[str] = []
        consulted: list[str] = []
        for outcome, facts in tried:
            ids.extend(i for i in outcome.policy_ids if i not in ids)
            if facts.consent == "deny":
                consent_ids.extend(c for c in facts.consent_ids if c not in consent_ids)
            consulted.extend(c for c in facts.consents_consulted if c not in consulted)
        if len(ids) > 1 and DEFAULT_DENY in ids:
            ids.remove(DEFAULT_DENY)
        ids.sort(key=lambda i: self._info[i].order if i in self._info else -1)
        reasons = tuple(
            self._info[i].reason if i in self._info else DEFAULT_DENY_REASON for i in ids
        )
        refrain = tuple(
            dict.fromkeys(
                self._info[i].refrain for i in ids if i in self._info and self._info[i].refrain
            )
        )
        return Decision(
            allowed=False,
            policy_ids=tuple(ids),
            consent_ids=tuple(consent_ids),
            consents_consulted=tuple(consulted),
            refusal_codes=refrain,
            reasons=tuple(dict.fromkeys(r for r in reasons if r)),
        )


def default_facts(request: AccessRequest, classes: frozenset[str]) -> Facts:
    """Facts when the caller supplies none: no consent; another agency's patient data has no MOU."""
    needs_mou = (
        request.owning_agency is not None
        and not request.own_agency
        and bool(classes - NON_PATIENT_CLASSES)
    )
    return Facts(mou="missing" if needs_mou else "not-needed")


@cache
def default_engine() -> PolicyEngine:
    """The shipped policies, loaded once per process."""
    return PolicyEngine()
