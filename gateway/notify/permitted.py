"""Which topics a caller may subscribe to: only those whose notifications the sharing rules could
ever let it see.

Subscriptions R5 Backport (STU 1.1), Safety and Security: servers SHOULD take a subscription's topic
and filters into account when authorising its creation, and SHOULD ensure authorisation is still in
place when sending each notification (the second half is :mod:`gateway.notify.release`).

A topic's notifications focus on the resource types in :data:`topics.FOCUS_TYPES`. The caller may
subscribe when, for one of them, the policy engine allows it in the most favourable situation the
gateway can report: its own agency's record or another agency's under an agreement, a patient it
serves, a placement addressed to it and accepted, a request it made, with or without the patient's
consent (including a 42 CFR Part 2 consent). A role no rule ever lets see such a resource (an
auditor, a police officer on a topic of clinical alerts) is refused with 403 naming the policies.
"""

from __future__ import annotations

from collections.abc import Iterator

from gateway.fhir.guard import Guard
from gateway.notify import topics
from gateway.sharing.guard import SharingGuard, purpose_of, refusal
from policies.data_classes import data_classes
from policies.engine import default_engine
from policies.model import AccessRequest, Decision, Facts, Principal

OTHER_AGENCY = "another-agency"
_CONSENTS = (
    Facts(),
    Facts(consent="permit", consent_explicit=True, part2_consent=True),
)


def _requests(principal: Principal, purpose: str, rtype: str) -> Iterator[AccessRequest]:
    classes = data_classes({"resourceType": rtype}, frozenset())
    for owner in (principal.agency or OTHER_AGENCY, OTHER_AGENCY):
        yield AccessRequest(
            principal=principal,
            action="read",
            resource_type=rtype,
            purpose=purpose,
            data_classes=classes,
            owning_agency=owner,
            relations=frozenset({"encounter", "placement", "referral"}),
            addressed_to_principal_facility=True,
            accepted=True,
            requested_by_principal_agency=True,
            patient="any-patient",
        )


def _decisions(principal: Principal, purpose: str, topic: str) -> Iterator[Decision]:
    engine = default_engine()
    for rtype in topics.FOCUS_TYPES[topic]:
        for request in _requests(principal, purpose, rtype):
            mou = "not-needed" if request.own_agency else "covered"
            for consent in _CONSENTS:
                facts = Facts(
                    mou=mou,
                    agreement_ids=() if request.own_agency else ("an-agreement",),
                    consent=consent.consent,
                    consent_explicit=consent.consent_explicit,
                    part2_consent=consent.part2_consent,
                )
                yield engine.decide(request, facts)


def check_topic(guard: Guard, topic: str) -> None:
    """Raise ``Forbidden`` (403) unless ``topic``'s notifications could ever be shown to the caller
    ``guard`` decides for, with the purpose notifications are decided with (never break-the-glass).
    With the sharing rules switched off (storage-layer tests) nothing is checked."""
    if not isinstance(guard, SharingGuard):
        return
    first: Decision | None = None
    for decision in _decisions(guard.principal, purpose_of(guard.caller, None), topic):
        if decision.allowed:
            return
        first = first or decision
    assert first is not None
    raise refusal(first, f"a subscription to {topic}")
