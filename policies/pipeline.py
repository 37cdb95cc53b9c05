"""One entry point for the gateway: ``evaluate(request, resource, consents, agreements) -> Decision``.

Runs the decision order of DESIGN.md below the token-scope check (the gateway's): role / agency /
agreement policies -> patient consent -> regulatory forbids (42 CFR Part 2) -> obligations. The
agreement (``policies.agreements``) and consent (``policies.consent``) layers are computed here per
view and handed to the Cedar engine as facts; the engine names every policy that decided. When the
full resource is refused only because of labelled elements that can be removed on their own (HL7 DS4P
element-level labels, ``redactable_elements`` in policies/labels/rules.json), the resource is offered
without them and the decision carries the element paths to redact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from policies.agreements import NON_PATIENT_CLASSES, AgreementSet
from policies.consent import CompiledConsent, ConsentQuery, compile_consent, evaluate_consents
from policies.data_classes import data_classes
from policies.engine import FactsFor, PolicyEngine, default_engine
from policies.labelling import default_rules, element_labels, required_codes
from policies.model import SUD_LABELS, VIEW_ACTIONS, AccessRequest, Decision, Facts, Principal
from policies.redaction import redact

Resource = dict[str, Any]
SENSITIVE = SUD_LABELS | {"NORDSCLCDS", "PSY", "MH", "BH", "PSYTHPN", "HIPAAPsyNotes", "HIV"}
REDACTION_STEPS = (SUD_LABELS | {"NORDSCLCDS"}, SENSITIVE)


def resource_labels(resource: Mapping[str, Any]) -> frozenset[str]:
    """Labels to decide on: the stored ``meta.security`` plus whatever the content calls for.

    Recomputed on every decision so that an unlabelled resource can never be under-protected
    (HL7 DS4P; 42 CFR 2.32 labels travel with Part 2 records).
    """
    codes, level = required_codes(dict(resource))
    return codes | {level}


def request_for(
    principal: Principal,
    action: str,
    resource: Mapping[str, Any],
    *,
    purpose: str,
    **facts: Any,
) -> AccessRequest:
    """An ``AccessRequest`` for one stored resource; ``facts`` are the other AccessRequest fields."""
    labels = resource_labels(resource)
    return AccessRequest(
        principal=principal,
        action=action,
        resource_type=str(resource.get("resourceType", "")),
        purpose=purpose,
        data_classes=data_classes(resource, labels),
        labels=labels,
        **facts,
    )


def facts_provider(
    request: AccessRequest,
    consents: Iterable[CompiledConsent | Mapping[str, Any]] = (),
    agreements: AgreementSet | None = None,
) -> FactsFor:
    """Per-view agreement and consent findings for ``request`` (the engine's ``facts`` callback)."""
    compiled = [c if isinstance(c, CompiledConsent) else compile_consent(c) for c in consents]
    at = request.at or datetime.now(UTC)
    principal = request.principal

    def facts_for(view: str, classes: frozenset[str], labels: frozenset[str]) -> Facts:
        owner = request.owning_agency
        if owner is None or request.own_agency or not (classes - NON_PATIENT_CLASSES):
            mou, agreement_ids = "not-needed", ()
        elif agreements is None or principal.agency is None:
            mou, agreement_ids = "missing", ()
        else:
            ok, agreement_ids = agreements.covers_all(
                owner, principal.agency, classes, request.purpose, at
            )
            mou = "covered" if ok else "missing"
        if not compiled:
            return Facts(mou=mou, agreement_ids=agreement_ids)
        outcome = evaluate_consents(
            compiled,
            ConsentQuery(
                principal=principal,
                action=request.action,
                purpose=request.purpose,
                resource_type=request.resource_type,
                classes=classes,
                labels=labels,
                patient=request.patient,
                at=at,
            ),
        )
        return Facts(
            mou=mou,
            agreement_ids=agreement_ids,
            consent=outcome.decision,
            consent_explicit=outcome.explicit,
            part2_consent=outcome.part2_permit,
            consent_ids=outcome.consent_ids,
            part2_consent_ids=outcome.part2_ids,
            consents_consulted=outcome.consulted,
        )

    return facts_for


def _redaction_candidates(resource: Resource, labels: frozenset[str]) -> list[str]:
    redactable = default_rules().redactable.get(str(resource.get("resourceType")), frozenset())
    return [
        path
        for path, found in element_labels(resource).items()
        if found & labels and path.split("[", 1)[0] in redactable
    ]


def evaluate(
    request: AccessRequest,
    resource: Mapping[str, Any] | None = None,
    consents: Iterable[CompiledConsent | Mapping[str, Any]] = (),
    agreements: AgreementSet | None = None,
    *,
    engine: PolicyEngine | None = None,
) -> Decision:
    """Decide one access and return the obligations the gateway must apply (DESIGN.md decision order).

    With ``resource``, its labels and data classes are recomputed from its content (never trusting
    an unlabelled copy) and element-level redaction is tried when the whole would be refused.
    Token scopes are the gateway's to check before calling this (SMART v2: scopes are a ceiling).
    """
    engine = engine or default_engine()
    consents = list(consents)
    if resource is not None:
        labels = request.labels | resource_labels(resource)
        request = replace(
            request,
            labels=labels,
            data_classes=request.data_classes | data_classes(resource, labels),
        )
    decision = engine.decide(request, facts_provider(request, consents, agreements))
    if decision.allowed or resource is None or request.action not in VIEW_ACTIONS:
        return decision
    for step in REDACTION_STEPS:
        paths = _redaction_candidates(dict(resource), step)
        if not paths:
            continue
        reduced = redact(dict(resource), paths)
        labels = resource_labels(reduced)
        smaller = replace(request, labels=labels, data_classes=data_classes(reduced, labels))
        retry = engine.decide(smaller, facts_provider(smaller, consents, agreements))
        if retry.allowed and retry.view == "full":
            add = tuple(dict.fromkeys((*retry.obligations.add_labels, "REDACT")))
            return replace(
                retry,
                obligations=replace(retry.obligations, redact=tuple(paths), add_labels=add),
                reasons=(*retry.reasons, "Some elements were withheld."),
                consents_consulted=tuple(
                    dict.fromkeys(decision.consents_consulted + retry.consents_consulted)
                ),
            )
    return decision
