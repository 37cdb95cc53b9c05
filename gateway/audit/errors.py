"""Audit errors.

Hierarchy::

    FhirError (gateway.fhir.errors)
    ├── AuditUnavailable      503 transient  the event could not be written: the access is refused
    └── ProofUnavailable      400 invalid    a proof or range the log cannot serve (yet)
    AuditError (RuntimeError)
    ├── BadNote                              a signed note or verifier key that does not verify
    └── TamperDetected                       stored log data contradicts itself or a checkpoint
"""

from __future__ import annotations

from gateway.fhir.errors import FhirError


class AuditUnavailable(FhirError):
    """Raised inside the unit of work when the audit event cannot be appended (fail closed)."""

    status, code = 503, "transient"


class ProofUnavailable(FhirError):
    status, code = 400, "invalid"


class AuditError(RuntimeError):
    """Base class of audit-log integrity errors."""


class BadNote(AuditError):
    """A signed note, checkpoint or verifier key that is malformed or does not verify."""


class TamperDetected(AuditError):
    """The stored log contradicts itself or a signed checkpoint; ``index`` names the first bad leaf."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index
