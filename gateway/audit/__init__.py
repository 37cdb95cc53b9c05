"""The tamper-evident audit trail: BALP AuditEvents in an RFC 9162 Merkle log with C2SP checkpoints.

Modules, named after what they implement:

- ``events`` / ``security`` / ``codes``: IHE BALP-shaped FHIR R4 AuditEvents.
- ``canonical``: RFC 8785 canonical JSON; a leaf is ``{"event": <event>, "index": <i>}``.
- ``merkle``: RFC 9162 §2.1 tree hashing, inclusion and consistency proofs and their verification.
- ``notes``, ``keys``: C2SP signed notes and tlog checkpoints, the Ed25519 checkpoint key.
- ``log``: ``AuditLog.append`` in the caller's transaction; ``checkpoint``: sequencing, signing,
  proofs; ``verify``, ``deep``, ``reader``: full verification; ``witness``: an outside witness.
- ``reports``, ``endpoints``, ``cli``: accounting of disclosures (45 CFR 164.528), break-the-glass
  review, exports, ``/audit`` and ``gateway audit``.

Errors are drawn in :mod:`gateway.audit.errors`.
"""

from gateway.audit.context import audit_context
from gateway.audit.events import AuditContext, AuditServer, patient_refs
from gateway.audit.log import AuditLog, get_audit_log

__all__ = [
    "AuditContext",
    "AuditLog",
    "AuditServer",
    "audit_context",
    "get_audit_log",
    "patient_refs",
]
