"""HL7 v2 composite data types to FHIR data types (HL7 v2.5.1 §2.A; v2.8 adds trailing components).

CX → Identifier, XPN → HumanName, XAD → Address, XTN → ContactPoint, EI → Identifier. Each builder
takes the segment and field the value came from, so a bad date inside it is refused at that field.
"""

from __future__ import annotations

import re
from typing import Any

from adapters.hl7v2.context import Context, hl7_table
from adapters.hl7v2.er7 import Rep, Segment

# HL7 table 0203 (identifier type) codes that terminology.hl7.org's v2-0203 defines.
IDENTIFIER_TYPES = frozenset(
    [
        "ACSN",
        "AM",
        "AMA",
        "AN",
        "ANON",
        "ANT",
        "APRN",
        "BA",
        "BC",
        "BCFN",
        "BCT",
        "BR",
        "BRN",
        "BSNR",
        "CC",
        "CONM",
        "CY",
        "CZ",
        "DDS",
        "DEA",
        "DI",
        "DFN",
        "DL",
        "DN",
        "DO",
        "DP",
        "DPM",
        "DR",
        "DS",
        "EI",
        "EN",
        "ESN",
        "FI",
        "GI",
        "GL",
        "GN",
        "HC",
        "IND",
        "JHN",
        "LACSN",
        "LANR",
        "LI",
        "LN",
        "LR",
        "MA",
        "MB",
        "MC",
        "MCD",
        "MCN",
        "MCR",
        "MCT",
        "MD",
        "MI",
        "MR",
        "MRT",
        "MS",
        "NBSNR",
        "NCT",
        "NE",
        "NH",
        "NI",
        "NII",
        "NIIP",
        "NNxxx",
        "NP",
        "NPI",
        "OD",
        "PEN",
        "PGN",
        "PI",
        "PLAC",
        "PN",
        "PNT",
        "PPIN",
        "PPN",
        "PRC",
        "PRN",
        "PT",
        "QA",
        "RI",
        "RN",
        "RPH",
        "RR",
        "RRI",
        "RRP",
        "SID",
        "SL",
        "SN",
        "SP",
        "SR",
        "SS",
        "TAX",
        "TN",
        "TPR",
        "U",
        "UPIN",
        "USID",
        "VN",
        "VP",
        "VS",
        "WC",
        "WCN",
        "WP",
        "XV",
        "XX",
    ]
)

# HL7 table 0200 (name type) to FHIR name-use.
NAME_USE = {
    "L": "official",
    "R": "official",
    "D": "usual",
    "A": "usual",
    "N": "nickname",
    "M": "maiden",
    "S": "anonymous",
    "TEMP": "temp",
    "NB": "temp",
    "BAD": "old",
    "NOUSE": "old",
}

# HL7 table 0190 (address type) to FHIR address-use / address-type.
ADDRESS_USE = {
    "H": "home",
    "P": "home",
    "RH": "home",
    "O": "work",
    "B": "work",
    "C": "temp",
    "BA": "old",
    "BI": "billing",
}

# HL7 table 0201 (telecommunication use) to FHIR contact-point-use.
TELECOM_USE = {"PRN": "home", "ORN": "home", "VHN": "home", "WPN": "work"}
# HL7 table 0202 (telecommunication equipment type) to FHIR contact-point-system.
TELECOM_SYSTEM = {"PH": "phone", "CP": "phone", "FX": "fax", "BP": "pager", "INTERNET": "email"}

_RANK = re.compile(r"[1-9][0-9]{0,5}", re.ASCII)


def identifier_type(code: str) -> dict[str, Any]:
    """An identifier type code (HL7 table 0203) as a CodeableConcept; unknown codes kept as text."""
    if code in IDENTIFIER_TYPES:
        return {"coding": [{"system": hl7_table("0203"), "code": code}]}
    return {"text": code}


def cx_identifier(ctx: Context, seg: Segment, n: int, rep: Rep) -> dict[str, Any] | None:
    """CX (HL7 v2.5.1 §2.A.14): id, check digit, scheme, assigning authority (HD), type, facility,
    effective and expiration dates → Identifier with the authority as its system."""
    value = rep.c(1)
    if not value:
        return None
    ident: dict[str, Any] = {}
    type_code = rep.c(5)
    if type_code:
        ident["type"] = identifier_type(type_code)
    system = ctx.hd_system(rep.sub(4))
    if system:
        ident["system"] = system
    ident["value"] = value
    period = ctx.period(seg, n, rep.c(7), rep.c(8))
    if period:
        ident["period"] = period
    return ident


def ei_identifier(ctx: Context, rep: Rep, first: int = 1) -> dict[str, Any] | None:
    """EI (HL7 v2.5.1 §2.A.24): entity id, namespace, universal id, its type → Identifier."""
    value = rep.c(first)
    if not value:
        return None
    ident: dict[str, Any] = {}
    system = ctx.authority(rep.c(first + 1), rep.c(first + 2), rep.c(first + 3))
    if system:
        ident["system"] = system
    ident["value"] = value
    return ident


def human_name(ctx: Context, seg: Segment, n: int, rep: Rep) -> dict[str, Any] | None:
    """XPN (HL7 v2.5.1 §2.A.88): family (FN.1 surname), given, further given names, suffix, prefix,
    degree, name type (table 0200), validity range or effective/expiration dates, professional
    suffix (v2.5+) → HumanName."""
    name: dict[str, Any] = {}
    use = NAME_USE.get(rep.c(7).upper())
    if use:
        name["use"] = use
    if rep.c(1):
        name["family"] = rep.c(1)
    given = [g for g in (rep.c(2), rep.c(3)) if g]
    if given:
        name["given"] = given
    if rep.c(5):
        name["prefix"] = [rep.c(5)]
    suffix = [s for s in (rep.c(4), rep.c(6), rep.c(14)) if s]
    if suffix:
        name["suffix"] = suffix
    period = ctx.period(seg, n, rep.c(12) or rep.c(10, 1), rep.c(13) or rep.c(10, 2))
    if not name.get("family") and not name.get("given"):
        return None
    if period:
        name["period"] = period
    return name


def address(ctx: Context, seg: Segment, n: int, rep: Rep) -> dict[str, Any] | None:
    """XAD (HL7 v2.5.1 §2.A.87): street (SAD), other designation, city, state, postal code, country,
    address type (table 0190), county, validity dates → Address."""
    addr: dict[str, Any] = {}
    kind = rep.c(7).upper()
    if kind in ADDRESS_USE:
        addr["use"] = ADDRESS_USE[kind]
    elif kind == "M":
        addr["type"] = "postal"
    street = " ".join(p for p in (rep.c(1, 1), rep.c(1, 2), rep.c(1, 3)) if p)
    lines = [line for line in (street, rep.c(2)) if line]
    if lines:
        addr["line"] = lines
    for key, i in (("city", 3), ("state", 4), ("postalCode", 5), ("country", 6), ("district", 9)):
        if rep.c(i):
            addr[key] = rep.c(i)
    if not (set(addr) - {"use", "type"}):
        return None
    period = ctx.period(seg, n, rep.c(13) or rep.c(12, 1), rep.c(14) or rep.c(12, 2))
    if period:
        addr["period"] = period
    return addr


def telecom(
    ctx: Context, seg: Segment, n: int, rep: Rep, default_use: str | None = None
) -> dict[str, Any] | None:
    """XTN (HL7 v2.5.1 §2.A.89): number, use code (table 0201), equipment (table 0202), email,
    country/area/local/extension, free text, unformatted number, dates, preference → ContactPoint."""
    equipment = rep.c(3).upper()
    use_code = rep.c(2).upper()
    system = TELECOM_SYSTEM.get(equipment, "phone")
    if use_code == "NET":
        system = "email"
    if system == "email":
        value = rep.c(4) or rep.c(1)
    else:
        value = rep.c(1) or rep.c(12) or _composed_number(rep)
    if not value:
        return None
    point: dict[str, Any] = {"system": system, "value": value}
    use = "mobile" if equipment == "CP" else TELECOM_USE.get(use_code, default_use)
    if use:
        point["use"] = use
    if _RANK.fullmatch(rep.c(18)):
        point["rank"] = int(rep.c(18))
    period = ctx.period(seg, n, rep.c(13), rep.c(14))
    if period:
        point["period"] = period
    return point


def _composed_number(rep: Rep) -> str:
    country, area, local, ext = rep.c(5), rep.c(6), rep.c(7), rep.c(8)
    if not local:
        return ""
    out = f"+{country} " if country else ""
    out += f"({area}) " if area else ""
    out += local
    return f"{out} x{ext}" if ext else out


def xcn_name(rep: Rep) -> dict[str, Any] | None:
    """The name half of XCN (HL7 v2.5.1 §2.A.90): family, given, second given, suffix, prefix, degree."""
    name: dict[str, Any] = {}
    if rep.c(2):
        name["family"] = rep.c(2)
    given = [g for g in (rep.c(3), rep.c(4)) if g]
    if given:
        name["given"] = given
    if rep.c(6):
        name["prefix"] = [rep.c(6)]
    suffix = [s for s in (rep.c(5), rep.c(7)) if s]
    if suffix:
        name["suffix"] = suffix
    return name if ("family" in name or "given" in name) else None


def display_name(name: dict[str, Any] | None) -> str:
    """A person's name as one line, for a display-only reference."""
    if not name:
        return ""
    parts = [*name.get("prefix", []), *name.get("given", []), name.get("family", "")]
    return " ".join(p for p in parts if p)
