"""Which views (full or a projection) a request may be answered with, and what each view discloses.

The projections themselves (``policies/data/views.json``) are applied by ``policies.redaction``. A
decision is always made on what would be disclosed: the data classes and security labels of the
projected resource, not of the stored one. Labels listed in a view's ``keep_labels`` survive the
projection because the protected fact survives it (a Part 2 record identifies the patient as having a
substance use disorder whatever elements are kept: 42 CFR 2.11 "patient identifying information").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from policies.data_classes import class_rules
from policies.labelling import CONFIDENTIALITY_CODES, floor_for, higher
from policies.model import FULL, VIEW_ACTIONS, AccessRequest

VIEWS_PATH = Path(__file__).parent / "data" / "views.json"


@dataclass(frozen=True, slots=True)
class TypeView:
    """How one resource type is projected in one view."""

    data_class: str
    keep: tuple[str, ...]
    requires_code: frozenset[str]
    applies_to_classes: frozenset[str]
    excluded_labels: frozenset[str]


@dataclass(frozen=True, slots=True)
class ViewSpec:
    """One projection: its name, surviving labels and per-type element lists."""

    name: str
    keep_labels: frozenset[str]
    types: Mapping[str, TypeView]


@dataclass(frozen=True, slots=True)
class ViewData:
    """The whole views file, parsed."""

    views: Mapping[str, ViewSpec]
    always_kept: tuple[str, ...]
    injury_ranges: tuple[tuple[str, str], ...]
    birth_place_url: str
    race_url: str
    ssn_system: str


@cache
def view_data(path: Path = VIEWS_PATH) -> ViewData:
    """Parse the views file once."""
    data = json.loads(path.read_text(encoding="utf-8"))
    views = {
        name: ViewSpec(
            name=name,
            keep_labels=frozenset(spec["keep_labels"]),
            types={
                rtype: TypeView(
                    data_class=t["class"],
                    keep=tuple(t["keep"]),
                    requires_code=frozenset(t.get("requires_code", [])),
                    applies_to_classes=frozenset(t.get("applies_to_classes", [])),
                    excluded_labels=frozenset(t.get("excluded_labels", [])),
                )
                for rtype, t in spec["types"].items()
            },
        )
        for name, spec in data["views"].items()
    }
    ext = data["extensions"]
    return ViewData(
        views=views,
        always_kept=tuple(data["always_kept"]),
        injury_ranges=tuple((lo, hi) for lo, hi in data["injury_ranges"]),
        birth_place_url=ext["birth_place"],
        race_url=ext["race"],
        ssn_system=ext["ssn_system"],
    )


def candidate_views(request: AccessRequest) -> tuple[str, ...]:
    """Views to try, most complete first: ``full`` then every projection defined for the type.

    Writes are never projected; a type's view may be limited to some content classes. The first view the policies allow is the one the caller gets.
    """
    if request.action not in VIEW_ACTIONS:
        return (FULL,)
    projections = []
    for name, spec in view_data().views.items():
        tview = spec.types.get(request.resource_type)
        if tview is None:
            continue
        if tview.applies_to_classes and not tview.applies_to_classes & request.data_classes:
            continue  # e.g. only height/weight/ABO Observations have a law-enforcement view
        if tview.excluded_labels & request.labels:
            continue  # e.g. no summary of a psychotherapy note
        projections.append(name)
    return (FULL, *projections)


def scope(
    view: str, resource_type: str, classes: frozenset[str], labels: frozenset[str]
) -> tuple[frozenset[str], frozenset[str]]:
    """(data classes, labels) of what ``view`` discloses of a resource with these classes and labels."""
    if view == FULL:
        return classes, labels
    spec = view_data().views[view]
    kept = labels & spec.keep_labels
    level = higher(floor_for(kept - CONFIDENTIALITY_CODES), "V" if "V" in kept else None) or "N"
    kept = (kept - CONFIDENTIALITY_CODES) | {level}
    rules = class_rules()
    return frozenset({spec.types[resource_type].data_class}) | rules.for_labels(kept), kept
