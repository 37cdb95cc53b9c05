"""Break-the-glass: emergency access to data normally withheld (45 CFR 164.312(a)(2)(ii)).

* Who: the person roles in Cedar ``RoleGroup::"btg"`` (crisis_clinician, ed_clinician,
  bh_case_manager). Never police (``btg.never-police``), never a system client, never for writing.
* How: purpose of use ``BTG`` (v3-ActReason, below ETREAT) with a stated reason of at least
  ``MIN_REASON_LENGTH`` characters; the caller's token must carry a treatment purpose.
* What it unlocks: the clinical classes for a patient the caller's agency is not serving, and a
  patient's consent restriction. Not psychotherapy notes (45 CFR 164.508(a)(2)). Not 42 CFR Part 2
  records, except under the medical-emergency exception (42 CFR 2.51) asserted explicitly with
  ``medical_emergency``, which is then recorded as such (2.51(c): who disclosed, to whom, when, why).
* Every such access is audited as a security alert (DCM 110113) with a break-the-glass start event
  (DCM 110127) and lands in the review queue.
"""

from __future__ import annotations

from policies.model import AccessRequest
from policies.purposes import descendants

BTG = "BTG"
MIN_REASON_LENGTH = 10
BTG_ROLES = frozenset({"crisis_clinician", "ed_clinician", "bh_case_manager"})

AUDIT_SECURITY_ALERT = "security-alert"  # DCM 110113
AUDIT_BTG = "break-the-glass"  # DCM 110127
AUDIT_PART2_EMERGENCY = "part2-medical-emergency"  # 42 CFR 2.51(c)


def valid_reason(reason: str | None) -> bool:
    """A stated reason a reviewer can read (HIPAA 164.312(a)(2)(ii) emergency access procedure)."""
    return reason is not None and len(reason.strip()) >= MIN_REASON_LENGTH


def asserted(request: AccessRequest) -> bool:
    """The request asserts break-the-glass with a valid reason (the Cedar context ``btg``)."""
    return request.purpose == BTG and valid_reason(request.btg_reason)


def purpose_granted(request: AccessRequest) -> bool:
    """The asserted purpose is within the token's purposes (SMART scopes are a ceiling).

    BTG need not be on the token: a clinician holding a treatment purpose may escalate to it.
    """
    held = frozenset(request.principal.purposes)
    if request.purpose == BTG:
        return bool(held & (descendants("TREAT") - {BTG}))
    return request.purpose in held


def audit_events(
    request: AccessRequest, part2_disclosed: bool, part2_consented: bool
) -> tuple[str, ...]:
    """Audit kinds a break-the-glass access adds; Part 2 data without consent is a 2.51 disclosure."""
    if not asserted(request):
        return ()
    events = [AUDIT_SECURITY_ALERT, AUDIT_BTG]
    if part2_disclosed and not part2_consented and request.medical_emergency:
        events.append(AUDIT_PART2_EMERGENCY)
    return tuple(events)
