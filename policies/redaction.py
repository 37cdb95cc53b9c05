"""Projections and redaction: what actually leaves the gateway when only part of a resource may.

* ``law_enforcement_view`` implements 45 CFR 164.512(f)(2)(i). Kept, and nothing else:
  - Patient: ``name``, ``address`` ((A) name and address); ``birthDate`` and the
    ``patient-birthPlace`` extension ((B) date and place of birth); ``identifier`` entries whose
    system is the US SSN ((C)); ``deceasedBoolean``/``deceasedDateTime`` ((G) date and time of death);
    ``gender`` and the US Core race extension ((H) distinguishing physical characteristics).
  - Encounter: ``status``, ``subject``, ``period`` ((F) date and time of treatment) and ``reasonCode``
    codings in ICD-10-CM S00-T34 / T66-T79 ((E) type of injury; poisonings T36-T65 reveal substance
    use and are dropped). No class, type, location, provider or diagnosis.
  - Observation: only body height, body weight and ABO/Rh results ((D), (H)); any other is withheld.
  Narrative (``text``), ``contained`` and every other element are dropped.
* ``project`` applies any view of ``policies/data/views.json`` (placement-status, crisis-plan-summary,
  intake-minimum) the same way.
* ``redact`` removes top-level elements (element-level labels, HL7 DS4P) from a full view.

Every output is marked ``meta.security`` REDACT (v3-ActCode) and relabelled, so the labels themselves
never reveal what was withheld.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable
from typing import Any

from policies.data_classes import content_class
from policies.labelling import (
    CONFIDENTIALITY,
    CONFIDENTIALITY_CODES,
    LABEL_SYSTEMS,
    close,
    coding,
    content_codes,
    label,
    sender_codes,
)
from policies.model import FULL, LAW_ENFORCEMENT, Decision, Obligations
from policies.views import view_data

Resource = dict[str, Any]
ICD10 = frozenset({"http://hl7.org/fhir/sid/icd-10-cm", "http://hl7.org/fhir/sid/icd-10"})
_PATH = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_]*)(\[(?P<index>\d+)\])?$")


def _icd_filter(concepts: Any, keep: Callable[[str], str | None]) -> list[dict[str, Any]]:
    """Keep only ICD-10 codings that ``keep`` maps to a code; drop free text (it may say anything)."""
    out = []
    for concept in concepts if isinstance(concepts, list) else [concepts]:
        codings = []
        for c in concept.get("coding", []) if isinstance(concept, dict) else []:
            code = c.get("code")
            if c.get("system") in ICD10 and isinstance(code, str) and (kept := keep(code)):
                codings.append({"system": c["system"], "code": kept})
        if codings:
            out.append({"coding": codings})
    return out


def _injury(code: str) -> str | None:
    category = code.upper().replace(".", "")[:3]
    ranges = view_data().injury_ranges
    return code if any(lo <= category <= hi for lo, hi in ranges) else None


def _category(code: str) -> str | None:
    category = code.upper().replace(".", "")[:3]
    # HIV categories never travel in an intake summary (not needed to decide on a bed).
    return None if category in ("B20", "Z21") else category


def _ssn(identifiers: Any) -> list[Any]:
    system = view_data().ssn_system
    return [i for i in identifiers if isinstance(i, dict) and i.get("system") == system]


def _le_extensions(extensions: Any) -> list[Any]:
    views = view_data()
    urls = {views.birth_place_url, views.race_url}
    return [e for e in extensions if isinstance(e, dict) and e.get("url") in urls]


def _activity_description(activities: Any) -> list[Any]:
    out = []
    for act in activities:
        detail = act.get("detail", {}) if isinstance(act, dict) else {}
        if isinstance(detail.get("description"), str):
            out.append(
                {
                    "detail": {
                        "status": detail.get("status", "unknown"),
                        "description": detail["description"],
                    }
                }
            )
    return out


def _prediction_summary(predictions: Any) -> list[Any]:
    keep = ("outcome", "probabilityDecimal", "qualitativeRisk", "whenPeriod", "whenRange")
    return [{k: p[k] for k in keep if k in p} for p in predictions if isinstance(p, dict)]


TRANSFORMS: dict[str, Callable[[Any], Any]] = {
    "ssn": _ssn,
    "law-enforcement": _le_extensions,
    "injury": lambda v: _icd_filter(v, _injury),
    "category": lambda v: _icd_filter(v, _category),
    "year": lambda v: v[:4] if isinstance(v, str) else None,
    "description": _activity_description,
    "summary": _prediction_summary,
}


def _codes_of(concept: Any) -> set[str]:
    if not isinstance(concept, dict):
        return set()
    return {c.get("code") for c in concept.get("coding", []) if isinstance(c, dict)} - {None}


def _mark(out: Resource, carried: Iterable[str], original_meta: dict[str, Any]) -> Resource:
    """Relabel a reduced resource: carried labels + what its content needs + REDACT."""
    meta: dict[str, Any] = {
        k: original_meta[k] for k in ("lastUpdated", "versionId") if k in original_meta
    }
    meta["security"] = [coding(c) for c in sorted(set(carried) - CONFIDENTIALITY_CODES)]
    out["meta"] = meta
    out = label(out)
    if not any(c.get("code") == "REDACT" for c in out["meta"]["security"]):
        out["meta"]["security"].append(coding("REDACT"))
    return out


def project(resource: Resource, view: str) -> Resource | None:
    """The ``view`` projection of a resource (policies/data/views.json), or None if the view has none.

    Only the listed elements are kept, transformed where the file says so; labels that the view keeps
    (Part 2, V) are carried over; the result is marked REDACT. See the module docstring for the
    law-enforcement view's element list (45 CFR 164.512(f)(2)(i)).
    """
    if view == FULL:
        return copy.deepcopy(resource)
    views = view_data()
    spec = views.views[view]
    rtype = resource.get("resourceType", "")
    tview = spec.types.get(rtype)
    if tview is None:
        return None
    if tview.applies_to_classes and content_class(resource) not in tview.applies_to_classes:
        return None
    if tview.excluded_labels & sender_codes(resource):
        return None
    if tview.requires_code and not _codes_of(resource.get("code")) & tview.requires_code:
        return None
    out: Resource = {k: resource[k] for k in views.always_kept if k in resource}
    for item in tview.keep:
        name, _, transform = item.partition(":")
        if name not in resource:
            continue
        value = copy.deepcopy(resource[name])
        if transform:
            value = TRANSFORMS[transform](value)
        if value not in (None, [], {}, ""):
            out[name] = value
    carried = sender_codes(resource) & spec.keep_labels
    return _mark(out, carried, resource.get("meta", {}))


def law_enforcement_view(resource: Resource) -> Resource | None:
    """The HIPAA law-enforcement view (45 CFR 164.512(f)(2)(i)) of a Patient, Encounter or Observation.

    Returns None for anything else (and for Observations other than height, weight, ABO/Rh).
    """
    return project(resource, LAW_ENFORCEMENT)


def _parse(path: str) -> tuple[str, int | None]:
    match = _PATH.match(path)
    if match is None:
        raise ValueError(f"not a top-level element path: {path!r}")
    index = match.group("index")
    return match.group("key"), None if index is None else int(index)


def _referenced(node: Any) -> set[str]:
    if isinstance(node, dict):
        ref = node.get("reference")
        found = {ref[1:]} if isinstance(ref, str) and ref.startswith("#") else set()
        for key, value in node.items():
            if key != "contained":
                found |= _referenced(value)
        return found
    if isinstance(node, list):
        return set().union(*(_referenced(v) for v in node)) if node else set()
    return set()


def redact(resource: Resource, fields: Iterable[str]) -> Resource:
    """Remove top-level elements (``reasonCode[1]``, ``note``...) and mark the copy REDACT (HL7 DS4P).

    The narrative is dropped (it may repeat what was removed), contained resources nothing refers to
    any more are dropped, and sensitivity labels that only the removed elements called for are taken
    off so the labels do not reveal what was withheld. The confidentiality code is kept.
    """
    out = copy.deepcopy(resource)
    removed: dict[str, set[int] | None] = {}
    for path in fields:
        key, index = _parse(path)
        if index is None:
            removed[key] = None
        elif removed.get(key, set()) is not None:
            removed.setdefault(key, set()).add(index)  # type: ignore[union-attr]
    for key, indexes in removed.items():
        if key not in out:
            continue
        if indexes is None or not isinstance(out[key], list):
            del out[key]
        else:
            out[key] = [v for i, v in enumerate(out[key]) if i not in indexes]
            if not out[key]:
                del out[key]
    out.pop("text", None)
    if "contained" in out:
        used = _referenced(out)
        out["contained"] = [c for c in out["contained"] if c.get("id") in used]
        if not out["contained"]:
            del out["contained"]
    before = content_codes(resource)
    after = content_codes(out)
    gone = close(before) - close(after)
    meta = out.setdefault("meta", {})
    security = [
        c
        for c in meta.get("security", [])
        if not (
            c.get("system") in LABEL_SYSTEMS
            and c.get("system") != CONFIDENTIALITY
            and c.get("code") in gone
        )
    ]
    if not any(c.get("code") == "REDACT" for c in security):
        security.append(coding("REDACT"))
    meta["security"] = security
    return out


def apply_obligations(resource: Resource, decision: Decision | Obligations) -> Resource | None:
    """What the caller receives: projected, redacted and labelled as the decision requires.

    Returns None for a refusal, and when the projection has nothing to give (the gateway then
    withholds the resource as if refused). The 42 CFR 2.32 notice and the audit obligations are the
    gateway's to attach.
    """
    if isinstance(decision, Decision):
        if not decision.allowed:
            return None
        obligations = decision.obligations
    else:
        obligations = decision
    out: Resource | None = resource
    if obligations.view != FULL:
        out = project(resource, obligations.view)
        if out is None:
            return None
    if obligations.redact:
        out = redact(out, obligations.redact)
    elif out is resource:
        out = copy.deepcopy(resource)
    if obligations.add_labels:
        security = out.setdefault("meta", {}).setdefault("security", [])
        have = {c.get("code") for c in security}
        security.extend(coding(c) for c in obligations.add_labels if c not in have)
    return out
