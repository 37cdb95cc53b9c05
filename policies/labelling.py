"""Security labelling on the way in (HL7 DS4P; FHIR R4 ``Resource.meta.security``).

Every coding anywhere in a resource (Condition.code, Observation.code/value/component,
Encounter.reasonCode/diagnosis via contained Conditions, ServiceRequest.reasonCode, Procedure.code,
MedicationStatement.medicationCodeableConcept, AllergyIntolerance.code, DocumentReference.type,
Flag.code, extensions...) is matched against the rules in ``policies/labels/rules.json``. The result:

* sensitivity codes from v3-ActCode (PSY, MH, BH, SUD, PSYTHPN, HIV, NORDSCLCDS...) and privacy-law
  codes from v3-ActUSPrivacyLaw (42CFRPart2, HIPAAPsyNotes);
* one v3-Confidentiality code, the high-water mark (V > R > N > M > L > U) of what the sender said
  and what the content needs.

Labels a sender supplies are kept; the gateway only ever adds labels or raises confidentiality.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
PRIVACY_LAW = "http://terminology.hl7.org/CodeSystem/v3-ActUSPrivacyLaw"
LABEL_SYSTEMS = frozenset({ACT_CODE, CONFIDENTIALITY, PRIVACY_LAW})

CONFIDENTIALITY_ORDER = ("U", "L", "M", "N", "R", "V")
CONFIDENTIALITY_CODES = frozenset(CONFIDENTIALITY_ORDER)
LAW_CODES = frozenset({"42CFRPart2", "HIPAAPsyNotes"})

DISPLAY = {
    "U": "unrestricted",
    "L": "low",
    "M": "moderate",
    "N": "normal",
    "R": "restricted",
    "V": "very restricted",
    "PSY": "psychiatry disorder information sensitivity",
    "MH": "mental health information sensitivity",
    "BH": "behavioral health information sensitivity",
    "PSYTHPN": "psychotherapy note information sensitivity",
    "SUD": "substance use disorder information sensitivity",
    "ETH": "substance abuse information sensitivity",
    "HIV": "HIV/AIDS information sensitivity",
    "NORDSCLCDS": "no redisclosure without consent directive",
    "REDACT": "redact",
    "NOMOU": "no disclosure without MOU",
    "42CFRPart2": "42 CFR Part2",
    "HIPAAPsyNotes": "HIPAA psychotherapy notes",
}

RULES_PATH = Path(__file__).parent / "labels" / "rules.json"

Resource = dict[str, Any]


@dataclass(frozen=True, slots=True)
class CodeRule:
    """One rule: codes (exact, or ICD category ranges) in some code systems -> labels."""

    id: str
    systems: frozenset[str]
    codes: frozenset[str]
    ranges: tuple[tuple[str, str], ...]
    labels: frozenset[str]
    confidentiality: str


@dataclass(frozen=True, slots=True)
class LabelRules:
    """The rules file, parsed."""

    version: str
    rules: tuple[CodeRule, ...]
    implications: Mapping[str, frozenset[str]]
    floors: Mapping[str, frozenset[str]]
    part2_prefixes: tuple[str, ...]
    redactable: Mapping[str, frozenset[str]]

    def match(self, system: str | None, code: str | None) -> tuple[frozenset[str], str | None]:
        """Labels and confidentiality floor for one coding (DS4P: labels follow the codes)."""
        if not system or not code:
            return frozenset(), None
        found: set[str] = set()
        floor: str | None = None
        category = code.upper().replace(".", "")[:3]
        for rule in self.rules:
            if system not in rule.systems:
                continue
            hit = code in rule.codes or any(lo <= category <= hi for lo, hi in rule.ranges)
            if hit:
                found |= rule.labels
                floor = higher(floor, rule.confidentiality)
        return frozenset(found), floor


def load_rules(path: Path = RULES_PATH) -> LabelRules:
    """Parse a rules file (format documented in docs/policies.md)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    rules = tuple(
        CodeRule(
            id=r["id"],
            systems=frozenset(r["systems"]),
            codes=frozenset(r.get("codes", {})),
            ranges=tuple((lo.upper(), hi.upper()) for lo, hi in r.get("ranges", [])),
            labels=frozenset(r["labels"]),
            confidentiality=r.get("confidentiality", "N"),
        )
        for r in data["code_rules"]
    )
    implications = {
        k: frozenset(v) for k, v in data["label_implications"].items() if isinstance(v, list)
    }
    floors = {k: frozenset(v) for k, v in data["confidentiality_floor"].items() if k != "why"}
    redactable = {k: frozenset(v) for k, v in data["redactable_elements"].items() if k != "why"}
    return LabelRules(
        version=data["version"],
        rules=rules,
        implications=implications,
        floors=floors,
        part2_prefixes=tuple(data["part2_sources"]["prefixes"]),
        redactable=redactable,
    )


@cache
def default_rules() -> LabelRules:
    """The shipped rules, parsed once."""
    return load_rules()


def higher(a: str | None, b: str | None) -> str | None:
    """The higher of two v3-Confidentiality codes (V > R > N > M > L > U); unknown codes rank lowest."""
    if a is None:
        return b
    if b is None:
        return a
    rank = {c: i for i, c in enumerate(CONFIDENTIALITY_ORDER)}
    return a if rank.get(a, -1) >= rank.get(b, -1) else b


def close(codes: frozenset[str], rules: LabelRules | None = None) -> frozenset[str]:
    """Add implied labels (ETH => SUD, SUD => 42CFRPart2 + NORDSCLCDS...) until nothing changes."""
    rules = rules or default_rules()
    out = set(codes)
    todo = list(codes)
    while todo:
        for implied in rules.implications.get(todo.pop(), ()):
            if implied not in out:
                out.add(implied)
                todo.append(implied)
    return frozenset(out)


def floor_for(codes: frozenset[str], rules: LabelRules | None = None) -> str | None:
    """The lowest confidentiality these sensitivity codes allow (HL7 DS4P: R when a narrower law applies)."""
    rules = rules or default_rules()
    best: str | None = None
    for level, triggers in rules.floors.items():
        if codes & triggers:
            best = higher(best, level)
    return best


def _walk(node: Any, contained: Mapping[str, frozenset[str]]) -> Iterator[tuple[str, str] | str]:
    """Yield (system, code) for every Coding below ``node``, and a contained id for every '#id' reference."""
    if isinstance(node, dict):
        system, code = node.get("system"), node.get("code")
        if isinstance(system, str) and isinstance(code, str):
            yield system, code
        ref = node.get("reference")
        if isinstance(ref, str) and ref.startswith("#") and ref[1:] in contained:
            yield ref[1:]
        for key, value in node.items():
            if key not in ("meta", "text"):
                yield from _walk(value, contained)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item, contained)


def _labels_of(
    node: Any, contained: Mapping[str, frozenset[str]], rules: LabelRules
) -> frozenset[str]:
    found: set[str] = set()
    for hit in _walk(node, contained):
        if isinstance(hit, str):
            found |= contained[hit]
        else:
            found |= rules.match(*hit)[0]
    return frozenset(found)


def sender_codes(resource: Resource) -> frozenset[str]:
    """The label codes the sender put in ``meta.security`` (and DocumentReference.securityLabel)."""
    codes = {
        c["code"]
        for c in resource.get("meta", {}).get("security", [])
        if isinstance(c, dict)
        and c.get("system") in LABEL_SYSTEMS
        and isinstance(c.get("code"), str)
    }
    for concept in (
        resource.get("securityLabel", [])
        if resource.get("resourceType") == "DocumentReference"
        else []
    ):
        for c in concept.get("coding", []):
            if c.get("system") in LABEL_SYSTEMS and isinstance(c.get("code"), str):
                codes.add(c["code"])
    return frozenset(codes)


def element_labels(
    resource: Resource, rules: LabelRules | None = None
) -> dict[str, frozenset[str]]:
    """Labels per top-level element (``reasonCode[1]``, ``code``, ``contained[0]``...), implications applied.

    HL7 DS4P element-level labelling: what ``policies.redaction.redact`` removes when a recipient may
    see the resource but not one of its elements.
    """
    rules = rules or default_rules()
    contained: dict[str, frozenset[str]] = {}
    for item in resource.get("contained", []):
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            own = _labels_of(item, {}, rules) | sender_codes(item)
            contained[item["id"]] = close(own, rules)
    out: dict[str, frozenset[str]] = {}
    for key, value in resource.items():
        if key in ("meta", "text", "resourceType", "id"):
            continue
        parts = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        for index, part in parts:
            found = _labels_of(part, contained, rules)
            if found:
                out[key if index is None else f"{key}[{index}]"] = close(found, rules)
    return out


def content_codes(resource: Resource, rules: LabelRules | None = None) -> frozenset[str]:
    """Every sensitivity / law code the resource's content calls for (without sender labels)."""
    rules = rules or default_rules()
    found: set[str] = set()
    for labels in element_labels(resource, rules).values():
        found |= labels
    return frozenset(found)


def is_part2_source(resource: Resource, rules: LabelRules | None = None) -> bool:
    """The record came from a registered 42 CFR Part 2 program (2.11 'Part 2 program', 2.12(b))."""
    rules = rules or default_rules()
    source = resource.get("meta", {}).get("source")
    return isinstance(source, str) and any(source.startswith(p) for p in rules.part2_prefixes)


def required_codes(
    resource: Resource, *, part2_program: bool = False, rules: LabelRules | None = None
) -> tuple[frozenset[str], str]:
    """(sensitivity + law codes, confidentiality) the resource must carry: sender's, content's, implied."""
    rules = rules or default_rules()
    sent = sender_codes(resource)
    codes = set(sent - CONFIDENTIALITY_CODES) | content_codes(resource, rules)
    if part2_program or is_part2_source(resource, rules):
        codes.add("42CFRPart2")
    closed = close(frozenset(codes), rules)
    level: str | None = None
    for c in sent & CONFIDENTIALITY_CODES:
        level = higher(level, c)
    level = higher(level, floor_for(closed, rules))
    for rule_floor in (rules.match(s, c)[1] for s, c in _codings(resource)):
        level = higher(level, rule_floor)
    return closed, level or "N"


def _codings(resource: Resource) -> Iterator[tuple[str, str]]:
    for hit in _walk(resource, {}):
        if isinstance(hit, tuple):
            yield hit


def coding(code: str) -> dict[str, str]:
    """The meta.security Coding for a label code, in the right code system."""
    if code in CONFIDENTIALITY_CODES:
        system = CONFIDENTIALITY
    elif code in LAW_CODES:
        system = PRIVACY_LAW
    else:
        system = ACT_CODE
    out = {"system": system, "code": code}
    if code in DISPLAY:
        out["display"] = DISPLAY[code]
    return out


def label(
    resource: Resource, *, part2_program: bool = False, rules: LabelRules | None = None
) -> Resource:
    """Return a copy of ``resource`` with ``meta.security`` raised to what its content needs.

    HL7 DS4P (FHIR Security Labels): sensitivity codes (v3-ActCode), privacy law (v3-ActUSPrivacyLaw),
    and a single confidentiality code (v3-Confidentiality) that is the high-water mark of the sender's
    and the content's. 42 CFR Part 2 records (F10-F19, matching SNOMED/RxNorm, or anything from a
    Part 2 program: ``part2_program`` or a registered ``meta.source``) carry at least R, SUD,
    42CFRPart2 and NORDSCLCDS (42 CFR 2.32 prohibition on re-disclosure). Sender labels are kept; the
    confidentiality code is only ever raised.
    """
    rules = rules or default_rules()
    codes, level = required_codes(resource, part2_program=part2_program, rules=rules)
    out = copy.deepcopy(resource)
    meta = out.setdefault("meta", {})
    kept: list[dict[str, Any]] = []
    present: set[str] = set()
    for c in meta.get("security", []):
        code = c.get("code") if isinstance(c, dict) else None
        if c.get("system") == CONFIDENTIALITY and code in CONFIDENTIALITY_CODES:
            continue  # replaced by the single high-water mark below
        kept.append(c)
        if c.get("system") in LABEL_SYSTEMS and isinstance(code, str):
            present.add(code)
    kept.extend(coding(c) for c in sorted(codes - present))
    kept.append(coding(level))
    meta["security"] = kept
    return out


def security_codes(resource: Resource) -> frozenset[str]:
    """The label codes on a (labelled) resource: what an ``AccessRequest.labels`` holds."""
    return sender_codes(resource)
