"""The search parameter registry must only name elements that exist in the FHIR R4(B) models."""

from __future__ import annotations

import typing
from typing import Any, get_args

import pytest
from fhir.resources import R4B
from fhir.resources.R4B.resource import Resource
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from gateway.fhir.search_params import COMMON, PARAMS, ParamType, SearchParam, params_for

Model = type[BaseModel]


def _model_of(annotation: Any) -> Model | None:
    """The FHIR model class behind a field annotation, or None for a primitive."""
    pending = [annotation]
    while pending:
        current = pending.pop()
        get_klass = getattr(current, "get_model_klass", None)
        if callable(get_klass):
            klass = get_klass()
            assert isinstance(klass, type)
            return typing.cast(Model, klass)
        pending.extend(get_args(current))
    return None


def _element_fields(model: Model) -> dict[str, FieldInfo]:
    """Fields keyed by their JSON name, without the `_x` primitive-extension twins."""
    fields: dict[str, FieldInfo] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        if key.startswith("_") or key == "fhir_comments":
            continue
        fields[key] = info
    return fields


def _choice_fields(model: Model, stem: str) -> list[FieldInfo]:
    """The concrete fields (`effectiveDateTime`, ...) of the choice element `stem[x]`."""
    found = []
    for info in _element_fields(model).values():
        extra = info.json_schema_extra
        if isinstance(extra, dict) and extra.get("one_of_many") == stem:
            found.append(info)
    return found


def _split_filter(step: str) -> tuple[str, str | None]:
    """`telecom[system=phone]` -> ("telecom", "system"); choice `[x]` steps are left alone."""
    if step.endswith("]") and "[" in step and not step.endswith("[x]"):
        name, _, condition = step[:-1].partition("[")
        key, sep, value = condition.partition("=")
        if not sep or not key or not value:
            raise AssertionError(f"malformed filter in step {step!r}")
        return name, key
    return step, None


def resolve(resource_type: str, path: str) -> None:
    """Walk `path` through the R4B model of `resource_type`; AssertionError on an unknown step."""
    models: list[Model | None] = [R4B.get_fhir_model_class(resource_type)]
    for step in path.split("."):
        name, filter_key = _split_filter(step)
        following: list[Model | None] = []
        for model in models:
            if model is None:
                raise AssertionError(f"{resource_type}.{path}: {step!r} follows a primitive")
            if name.endswith("[x]"):
                choices = _choice_fields(model, name[:-3])
                if not choices:
                    raise AssertionError(
                        f"{resource_type}.{path}: {model.__name__} has no choice element {name!r}"
                    )
                following.extend(_model_of(info.annotation) for info in choices)
                continue
            info = _element_fields(model).get(name)
            if info is None:
                raise AssertionError(f"{resource_type}.{path}: {model.__name__} has no {name!r}")
            child = _model_of(info.annotation)
            if filter_key is not None:
                if child is None:
                    raise AssertionError(f"{resource_type}.{path}: cannot filter a primitive")
                key_info = _element_fields(child).get(filter_key)
                if key_info is None or _model_of(key_info.annotation) is not None:
                    raise AssertionError(
                        f"{resource_type}.{path}: {filter_key!r} is not a primitive child of "
                        f"{child.__name__}"
                    )
            following.append(child)
        models = following


def is_resource_type(name: str) -> bool:
    """True when fhir.resources (R4B) knows `name` as a resource type."""
    try:
        klass = R4B.get_fhir_model_class(name)
    except ValueError:
        return False
    return issubclass(klass, Resource) and klass.get_resource_type() == name


ALL_PATHS: list[tuple[str, SearchParam, str]] = [
    (rtype, param, path)
    for rtype, params in PARAMS.items()
    for param in params.values()
    for path in param.paths
]
COMMON_PATHS: list[tuple[str, SearchParam, str]] = [
    (rtype, param, path) for rtype in PARAMS for param in COMMON for path in param.paths
]


def _path_id(case: tuple[str, SearchParam, str]) -> str:
    rtype, param, path = case
    return f"{rtype}:{param.name}:{path}"


@pytest.mark.parametrize("case", ALL_PATHS, ids=_path_id)
def test_every_path_resolves_in_the_r4b_model(case: tuple[str, SearchParam, str]) -> None:
    rtype, _param, path = case
    resolve(rtype, path)


@pytest.mark.parametrize("case", COMMON_PATHS, ids=_path_id)
def test_common_paths_resolve_for_every_type(case: tuple[str, SearchParam, str]) -> None:
    rtype, _param, path = case
    resolve(rtype, path)


@pytest.mark.parametrize(
    ("rtype", "path"),
    [
        ("Patient", "nickname"),
        ("Patient", "name.nonsense"),
        ("Patient", "gender.code"),
        ("Patient", "telecom[kind=phone]"),
        ("Patient", "address[town=Oslo]"),
        ("Patient", "name[period=x]"),
        ("Observation", "effectiveSomething"),
        ("Observation", "flavour[x]"),
        ("Observation", "valueQuantity.nonsense"),
        ("Observation", "effective"),
    ],
)
def test_resolver_rejects_unknown_elements(rtype: str, path: str) -> None:
    with pytest.raises(AssertionError):
        resolve(rtype, path)


def test_resolver_accepts_aliases_choices_and_filters() -> None:
    resolve("Task", "for")  # a Python keyword: field `for_fhir`, JSON name `for`
    resolve("Encounter", "class")
    resolve("Observation", "effective[x]")
    resolve("Observation", "component.valueCodeableConcept.text")
    resolve("Patient", "telecom[system=email]")


def test_every_resource_type_is_known_to_fhir_resources() -> None:
    unknown = [rtype for rtype in PARAMS if not is_resource_type(rtype)]
    assert unknown == []


def test_reference_targets_are_resource_types() -> None:
    bad = [
        f"{rtype}.{param.name} -> {target}"
        for rtype, params in PARAMS.items()
        for param in params.values()
        for target in param.targets
        if not is_resource_type(target)
    ]
    assert bad == []
    assert not is_resource_type("HumanName")
    assert not is_resource_type("Nope")


def test_entries_are_well_formed() -> None:
    allowed: set[str] = set(get_args(ParamType))
    common_names = {param.name for param in COMMON}
    for rtype, params in PARAMS.items():
        for key, param in params.items():
            where = f"{rtype}.{key}"
            assert key == param.name, where
            assert param.type in allowed, where
            assert param.paths, where
            assert len(set(param.paths)) == len(param.paths), where
            assert key not in common_names, where
            if param.targets:
                assert param.type == "reference", where
                assert len(set(param.targets)) == len(param.targets), where


def test_common_parameters() -> None:
    by_name = {param.name: param for param in COMMON}
    assert by_name == {
        "_id": SearchParam("_id", "token", ("id",)),
        "_lastUpdated": SearchParam("_lastUpdated", "date", ("meta.lastUpdated",)),
        "_tag": SearchParam("_tag", "token", ("meta.tag",)),
        "_profile": SearchParam("_profile", "uri", ("meta.profile",)),
        "_security": SearchParam("_security", "token", ("meta.security",)),
        "_source": SearchParam("_source", "uri", ("meta.source",)),
    }


def test_params_for_includes_common_and_specific() -> None:
    patient = params_for("Patient")
    for param in COMMON:
        assert patient[param.name] is param
    for name, param in PARAMS["Patient"].items():
        assert patient[name] is param
    assert len(patient) == len(COMMON) + len(PARAMS["Patient"])


def test_params_for_returns_a_fresh_dict() -> None:
    params_for("Patient").clear()
    assert "_id" in params_for("Patient")
    assert "family" in params_for("Patient")


def test_params_for_unknown_type_raises_key_error() -> None:
    with pytest.raises(KeyError):
        params_for("Nope")


EXPECTED_TYPES = [
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
]


def test_registry_covers_exactly_the_supported_types() -> None:
    assert sorted(PARAMS) == sorted(EXPECTED_TYPES)


@pytest.mark.parametrize(
    ("rtype", "names"),
    [
        ("Task", {"owner", "part-of", "focus", "based-on", "patient", "subject"}),
        ("Location", {"partof", "near", "organization", "address-city"}),
        ("HealthcareService", {"location", "organization", "service-type", "specialty"}),
        (
            "AuditEvent",
            {
                "agent",
                "agent-name",
                "agent-role",
                "altid",
                "action",
                "address",
                "date",
                "entity",
                "entity-name",
                "entity-role",
                "entity-type",
                "outcome",
                "patient",
                "policy",
                "site",
                "source",
                "subtype",
                "type",
            },
        ),
        ("Observation", {"patient", "subject", "encounter", "code", "date", "value-quantity"}),
        ("Patient", {"name", "family", "given", "phone", "email", "telecom", "birthdate"}),
    ],
)
def test_gateway_relies_on_these_parameters(rtype: str, names: set[str]) -> None:
    assert names <= set(PARAMS[rtype])


def test_shapes_the_indexer_relies_on() -> None:
    assert PARAMS["Location"]["near"] == SearchParam("near", "token", ("position",))
    assert PARAMS["Observation"]["patient"] == SearchParam(
        "patient", "reference", ("subject",), ("Patient",)
    )
    assert PARAMS["Observation"]["value-quantity"].paths[0] == "valueQuantity"
    assert PARAMS["Observation"]["date"].paths == ("effective[x]",)
    assert PARAMS["Patient"]["phone"].paths == ("telecom[system=phone]",)
    assert PARAMS["Provenance"]["target"].targets == ()
    assert PARAMS["AuditEvent"]["date"].paths == ("recorded",)
    assert PARAMS["AuditEvent"]["patient"].targets == ("Patient",)
