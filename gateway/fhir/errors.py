"""Errors the FHIR API can return, each rendered as an ``OperationOutcome`` by one handler.

Hierarchy::

    FhirError                      400 invalid (base)
    ├── InvalidRequest             400 invalid / structure / value / required
    ├── Unauthorized               401 login
    ├── Forbidden                  403 forbidden
    ├── NotFound                   404 not-found
    ├── MethodNotAllowed           405 not-supported
    ├── NotAcceptable              406 not-supported
    ├── Conflict                   409 conflict
    ├── Gone                       410 deleted
    ├── PreconditionFailed         412 conflict
    ├── PayloadTooLarge            413 too-costly
    ├── UnsupportedMediaType       415 not-supported
    ├── Unprocessable              422 processing
    └── TooManyRequests            429 throttled

Messages say what is wrong and where (``issue.expression``); they never echo patient data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Issue:
    """One ``OperationOutcome.issue``."""

    diagnostics: str
    code: str = "invalid"
    severity: str = "error"
    expression: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "severity": self.severity,
            "code": self.code,
            "diagnostics": self.diagnostics,
        }
        if self.expression:
            out["expression"] = list(self.expression)
        return out


def operation_outcome(issues: list[Issue] | tuple[Issue, ...]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [i.as_json() for i in issues]}


class FhirError(Exception):
    """Base class: an error that carries its HTTP status and FHIR issue code."""

    status: int = 400
    code: str = "invalid"

    def __init__(
        self,
        diagnostics: str,
        *,
        expression: str | tuple[str, ...] | None = None,
        issues: list[Issue] | None = None,
        headers: dict[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(diagnostics)
        self.diagnostics = diagnostics
        if code is not None:
            self.code = code
        if isinstance(expression, str):
            expression = (expression,)
        self.issues: list[Issue] = issues or [
            Issue(diagnostics, code=self.code, expression=expression or ())
        ]
        self.headers = headers or {}

    def outcome(self) -> dict[str, Any]:
        return operation_outcome(self.issues)


class InvalidRequest(FhirError):
    status, code = 400, "invalid"


class Unauthorized(FhirError):
    status, code = 401, "login"


class Forbidden(FhirError):
    status, code = 403, "forbidden"


class NotFound(FhirError):
    status, code = 404, "not-found"


class MethodNotAllowed(FhirError):
    status, code = 405, "not-supported"


class NotAcceptable(FhirError):
    status, code = 406, "not-supported"


class Conflict(FhirError):
    status, code = 409, "conflict"


class Gone(FhirError):
    status, code = 410, "deleted"


class PreconditionFailed(FhirError):
    status, code = 412, "conflict"


class PayloadTooLarge(FhirError):
    status, code = 413, "too-costly"


class UnsupportedMediaType(FhirError):
    status, code = 415, "not-supported"


class Unprocessable(FhirError):
    status, code = 422, "processing"


class TooManyRequests(FhirError):
    status, code = 429, "throttled"
