"""The one place that pins the FHIR release: R4 content validated with ``fhir.resources.R4B``.

The library's default package is R5, which silently drops or rejects R4 fields, so nothing else in the
gateway imports ``fhir.resources`` directly. Validation happens once, on write; reads serve stored JSON.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import BaseModel, ValidationError

from gateway.fhir import json_rules
from gateway.fhir.errors import InvalidRequest, Issue

FHIR_VERSION = "4.0.1"

SUPPORTED_TYPES: tuple[str, ...] = (
    "Patient",
    "RelatedPerson",
    "Practitioner",
    "PractitionerRole",
    "Organization",
    "Location",
    "HealthcareService",
    "Encounter",
    "EpisodeOfCare",
    "Condition",
    "Observation",
    "Procedure",
    "AllergyIntolerance",
    "MedicationStatement",
    "ServiceRequest",
    "Task",
    "CarePlan",
    "CareTeam",
    "Coverage",
    "Consent",
    "Provenance",
    "DocumentReference",
    "Flag",
    "QuestionnaireResponse",
    "Communication",
    "Appointment",
    "Group",
    "MeasureReport",
    "Subscription",
    "AuditEvent",
)
_SUPPORTED = frozenset(SUPPORTED_TYPES)


def is_supported(resource_type: str) -> bool:
    return resource_type in _SUPPORTED


@cache
def model_class(resource_type: str) -> type[BaseModel]:
    return get_fhir_model_class(resource_type)


def _fhirpath(resource_type: str, loc: tuple[Any, ...]) -> str:
    path = resource_type
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif isinstance(part, str) and not part.startswith("function-"):
            path += f".{part}"
    return path


_ISSUE_CODES = {"extra_forbidden": "structure", "missing": "required"}


def _message(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return "unknown element"
    if kind == "missing":
        return "required element is missing"
    # pydantic's messages describe the rule, not the value; the value itself is never echoed.
    return str(error.get("msg", "invalid value")).removeprefix("Value error, ")


def validate(resource: dict[str, Any]) -> BaseModel:
    """Validate one resource against the R4 model; raise ``InvalidRequest`` listing every problem.

    Checks structure and datatypes (fhir.resources), then codes with a required binding.
    """
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str) or not rtype:
        raise InvalidRequest("resourceType is missing", expression="resourceType", code="required")
    if not is_supported(rtype):
        raise InvalidRequest(
            f"resource type {rtype!r} is not supported by this server",
            expression="resourceType",
            code="not-supported",
        )
    shape = list(json_rules.shape_problems(resource, rtype))
    if shape:
        raise InvalidRequest(
            f"{rtype} is not valid FHIR JSON: {len(shape)} problem(s)", issues=shape
        )
    try:
        model = model_class(rtype).model_validate(resource)
    except ValidationError as exc:
        issues = [
            Issue(
                _message(dict(err)),
                code=_ISSUE_CODES.get(str(err.get("type")), "value"),
                expression=(_fhirpath(rtype, tuple(err.get("loc", ()))),),
            )
            for err in exc.errors(include_input=False, include_url=False)
        ]
        raise InvalidRequest(
            f"{rtype} is not valid FHIR R4: {len(issues)} problem(s)", issues=issues
        ) from None
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"{rtype} could not be read: {type(exc).__name__}") from None
    problems = list(json_rules.type_problems(model_class(rtype), resource, rtype))
    if problems:
        raise InvalidRequest(
            f"{rtype} is not valid FHIR JSON: {len(problems)} problem(s)", issues=problems
        )
    problems = list(_code_problems(model, rtype))
    if problems:
        raise InvalidRequest(f"{rtype} has codes outside their required value set", issues=problems)
    return model


@cache
def _enums(cls: type[BaseModel]) -> dict[str, frozenset[str]]:
    out: dict[str, frozenset[str]] = {}
    for name, field in cls.model_fields.items():
        extra = field.json_schema_extra
        if isinstance(extra, dict) and extra.get("enum_values"):
            values = [str(v) for v in extra["enum_values"]]  # type: ignore[union-attr]
            # fhir.resources cuts long value sets short and marks the cut with "+": such a list is
            # incomplete, so it cannot be used to refuse a code.
            if "+" not in values:
                out[name] = frozenset(values)
    return out


def _code_problems(obj: BaseModel, path: str) -> list[Issue]:
    issues: list[Issue] = []
    enums = _enums(type(obj))
    for name in obj.model_fields_set:
        value = getattr(obj, name, None)
        if value is None:
            continue
        allowed = enums.get(name)
        if allowed is not None and isinstance(value, str) and value not in allowed:
            issues.append(
                Issue(
                    f"code is not in the required value set ({', '.join(sorted(allowed))})",
                    code="code-invalid",
                    expression=(f"{path}.{name}",),
                )
            )
        elif isinstance(value, BaseModel):
            issues.extend(_code_problems(value, f"{path}.{name}"))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    issues.extend(_code_problems(item, f"{path}.{name}[{i}]"))
    return issues


@cache
def summary_elements(resource_type: str) -> frozenset[str]:
    """Top-level elements marked as summary in the model (for ``_summary=true``)."""
    cls = model_class(resource_type)
    return frozenset(
        name
        for name, field in cls.model_fields.items()
        if isinstance(field.json_schema_extra, dict)
        and field.json_schema_extra.get("summary_element_property")
    )


@cache
def mandatory_elements(resource_type: str) -> frozenset[str]:
    """Top-level elements with cardinality 1..* (kept by ``_elements`` and ``_summary=text``)."""
    cls = model_class(resource_type)
    return frozenset(
        field.alias or name
        for name, field in cls.model_fields.items()
        if field.is_required()
        or (
            isinstance(field.json_schema_extra, dict)
            and field.json_schema_extra.get("element_required")
        )
    )
