"""Every sample message in ../shared/data/hl7v2/ either converts or is refused cleanly.

Converted messages are checked against a direct read of their PID segment: the Patient's identifiers
and names must say what PID-3 and PID-5 say.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from adapters.base import AdapterError, UnsupportedMessage
from adapters.hl7v2.messages import SUPPORTED
from tests.adapters.hl7v2.support import SHARED, assert_valid_r4, convert, resources

FILES = sorted(SHARED.glob("*.hl7")) if SHARED.is_dir() else []
needs_data = pytest.mark.skipif(not FILES, reason=f"shared sample messages not found at {SHARED}")


def _lines(path: Path) -> list[str]:
    return re.split(r"\r\n|\r|\n", path.read_bytes().decode("utf-8-sig"))


def _message_type(path: Path) -> tuple[str, str]:
    msh = _lines(path)[0].split("|")
    parts = msh[8].split("^")
    return parts[0], parts[1]


def _supported(path: Path) -> bool:
    code, event = _message_type(path)
    return event in SUPPORTED.get(code, ())


CONVERTED = [p for p in FILES if _supported(p)]
REFUSED = [p for p in FILES if not _supported(p)]


def _survivor(patients: list[dict[str, Any]]) -> dict[str, Any]:
    """The Patient the PID describes: for a merge, the one that replaces the other."""
    live = [p for p in patients if p.get("active", True)]
    assert len(live) == 1
    return live[0]


@needs_data
def test_the_shared_folder_holds_the_83_messages() -> None:
    assert len(FILES) == 83
    assert len(CONVERTED) == 20


@needs_data
@pytest.mark.parametrize("path", CONVERTED, ids=lambda p: p.name)
def test_messages_of_taken_types_convert_to_valid_r4(path: Path) -> None:
    conversions = convert(path.read_bytes())
    assert conversions
    for conversion in conversions:
        for resource in resources(conversion):
            assert_valid_r4(resource)


@needs_data
@pytest.mark.parametrize("path", REFUSED, ids=lambda p: p.name)
def test_messages_of_other_types_are_refused_naming_the_type(path: Path) -> None:
    code, event = _message_type(path)
    with pytest.raises(UnsupportedMessage) as caught:
        convert(path.read_bytes())
    assert f"{code}^{event}" in caught.value.message
    assert caught.value.where.field == "MSH-9"
    assert caught.value.where.record


@needs_data
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_nothing_but_adapter_errors_escape(path: Path) -> None:
    try:
        convert(path.read_bytes())
    except AdapterError as exc:
        assert str(exc)


@needs_data
@pytest.mark.parametrize("path", CONVERTED, ids=lambda p: p.name)
def test_patient_identifiers_and_names_equal_what_pid_says(path: Path) -> None:
    pid = next(line for line in _lines(path) if line.startswith("PID|")).split("|")
    expected_ids, systems = [], []
    for rep in pid[3].split("~"):
        cx = rep.split("^") + [""] * 5
        if not cx[0]:
            continue
        expected_ids.append(cx[0])
        hd = [*cx[3].split("&"), "", ""]
        systems.append(hd[1] or hd[0])
    expected_names = []
    for rep in pid[5].split("~"):
        xpn = rep.split("^") + [""] * 3
        family = xpn[0].split("&")[0]
        given = [g for g in xpn[1:3] if g]
        if family or given:
            expected_names.append((family, given))

    (conversion,) = convert(path.read_bytes())
    patient = _survivor(resources(conversion, "Patient"))
    assert [i["value"] for i in patient["identifier"]] == expected_ids
    for ident, authority in zip(patient["identifier"], systems, strict=True):
        if authority:
            assert unquote(ident["system"]).endswith(authority)
        else:
            assert "system" not in ident
    names = [(n.get("family", ""), n.get("given", [])) for n in patient.get("name", [])]
    assert names == expected_names


@needs_data
@pytest.mark.parametrize("path", CONVERTED, ids=lambda p: p.name)
def test_the_same_message_twice_gives_the_same_bundle(path: Path) -> None:
    first = [c.bundle for c in convert(path.read_bytes())]
    second = [c.bundle for c in convert(path.read_bytes())]
    assert first == second


@needs_data
def test_an_a08_update_lands_on_the_a01_resources_as_a_new_version() -> None:
    (admit,) = convert((SHARED / "ADT-A01-01.hl7").read_bytes())
    (update,) = convert((SHARED / "ADT-A08-01.hl7").read_bytes())
    for rtype in ("Patient", "Encounter", "Condition", "AllergyIntolerance", "Coverage"):
        assert [r["id"] for r in resources(admit, rtype)] == [
            r["id"] for r in resources(update, rtype)
        ]
    before = resources(admit, "Encounter")[0]
    after = resources(update, "Encounter")[0]
    assert before != after
    assert "end" not in before["period"] and after["period"]["end"].startswith("2015-02-09")


@needs_data
def test_every_converted_message_lists_what_it_did_not_map() -> None:
    for path in CONVERTED:
        for conversion in convert(path.read_bytes()):
            (prov,) = resources(conversion, "Provenance")
            listed = [e["valueString"] for e in prov.get("extension", [])]
            assert listed == conversion.unmapped
