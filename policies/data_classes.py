"""Data classes: the unit roles, agreements and consents are written in (``policies/data/data_classes.json``).

A resource has one content class, from its type refined by category (a placement ServiceRequest is
``placement``, a survey Observation is ``assessment``, a crisis-plan CarePlan is ``crisis-plan``), plus
one sensitive class per label family it carries (``mental-health``, ``sud``, ``psychotherapy-note``,
``hiv``). The list and its meaning are in the data file and in docs/policies.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from policies.labelling import security_codes

DATA_CLASSES_PATH = Path(__file__).parent / "data" / "data_classes.json"


@dataclass(frozen=True, slots=True)
class ClassExample:
    """A representative resource type and label set for a class (matrix and leakage tests)."""

    resource_type: str
    labels: frozenset[str]
    with_classes: frozenset[str]


@dataclass(frozen=True, slots=True)
class ClassRules:
    """The data-class file, parsed."""

    classes: Mapping[str, str]
    by_type: Mapping[str, str]
    default: str
    by_category: tuple[tuple[str, str, frozenset[str], str], ...]
    by_label: Mapping[str, frozenset[str]]
    examples: Mapping[str, ClassExample]

    def for_labels(self, labels: Iterable[str]) -> frozenset[str]:
        """The sensitive classes a set of security label codes puts a resource in."""
        codes = frozenset(labels)
        return frozenset(name for name, triggers in self.by_label.items() if codes & triggers)

    def for_type(self, resource_type: str) -> str:
        """The content class of a resource type before any category refinement."""
        return self.by_type.get(resource_type, self.default)


@cache
def class_rules(path: Path = DATA_CLASSES_PATH) -> ClassRules:
    """Parse the data-class file once."""
    data = json.loads(path.read_text(encoding="utf-8"))
    category = tuple(
        (r["type"], r["element"], frozenset(r["codes"]), r["class"])
        for r in data["by_category"]["rules"]
    )
    examples = {
        name: ClassExample(
            resource_type=ex["type"],
            labels=frozenset(ex["labels"]),
            with_classes=frozenset(ex.get("with", [])),
        )
        for name, ex in data["examples"].items()
        if name != "why"
    }
    return ClassRules(
        classes=dict(data["classes"]),
        by_type=dict(data["by_type"]),
        default=data["default_class"],
        by_category=category,
        by_label={k: frozenset(v) for k, v in data["by_label"].items()},
        examples=examples,
    )


DATA_CLASSES: tuple[str, ...] = tuple(class_rules().classes)


def _codes(value: Any) -> set[str]:
    concepts = value if isinstance(value, list) else [value]
    out: set[str] = set()
    for concept in concepts:
        if isinstance(concept, dict):
            out.update(c.get("code") for c in concept.get("coding", []) if isinstance(c, dict))
    out.discard(None)  # type: ignore[arg-type]
    return out


def content_class(resource: Mapping[str, Any]) -> str:
    """The content class of one resource: by type, refined by category codes (data file ``by_category``)."""
    rules = class_rules()
    rtype = str(resource.get("resourceType", ""))
    for rule_type, element, codes, name in rules.by_category:
        if rule_type == rtype and _codes(resource.get(element)) & codes:
            return name
    return rules.for_type(rtype)


def data_classes(
    resource: Mapping[str, Any], labels: Iterable[str] | None = None
) -> frozenset[str]:
    """Every data class of a (labelled) resource: its content class plus its sensitive classes.

    Sensitive classes follow the HL7 DS4P sensitivity codes in ``meta.security`` (run
    ``policies.labelling.label`` first), e.g. SUD/ETH/42CFRPart2 => ``sud`` (42 CFR 2.11 records).
    """
    codes = security_codes(dict(resource)) if labels is None else frozenset(labels)
    return frozenset({content_class(resource)}) | class_rules().for_labels(codes)
