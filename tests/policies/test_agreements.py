"""Inter-agency agreements: versioned, periods honoured, NOMOU outside them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from policies.agreements import AgreementError, AgreementSet, agreements_allow

TOML = """
[partnership]
id = "t"
[partnership.agencies]
"pd" = "police"
"er" = "hospital"
"bha" = "bha"

[[agreement]]
id = "a"
version = 1
from = ["er"]
to = ["kind:police"]
data_classes = ["demographics"]
purposes = ["HLEGAL"]
valid_from = 2026-01-01
valid_to = 2026-12-31

[[agreement]]
id = "a"
version = 2
from = ["er"]
to = ["kind:police"]
data_classes = ["encounter"]
purposes = ["HLEGAL"]
valid_from = 2026-07-01

[[agreement]]
id = "care"
from = ["kind:hospital"]
to = ["kind:bha"]
mutual = true
data_classes = ["diagnosis"]
purposes = ["TREAT"]
valid_from = 2026-01-01
"""


@pytest.fixture()
def agreements(tmp_path: Path) -> AgreementSet:
    path = tmp_path / "a.toml"
    path.write_text(TOML)
    return AgreementSet.load(path)


def test_inside_an_agreement(agreements: AgreementSet) -> None:
    assert agreements_allow(agreements, "er", "pd", "demographics", "HLEGAL", date(2026, 3, 1)) == (
        True,
        "a",
    )


@pytest.mark.parametrize(
    ("src", "dst", "data_class", "purpose", "day"),
    [
        ("er", "pd", "diagnosis", "HLEGAL", date(2026, 3, 1)),  # class not covered
        ("er", "pd", "demographics", "TREAT", date(2026, 3, 1)),  # purpose not covered
        ("pd", "er", "demographics", "HLEGAL", date(2026, 3, 1)),  # wrong direction
        ("er", "pd", "demographics", "HLEGAL", date(2025, 12, 31)),  # before it starts
        ("er", "pd", "demographics", "HLEGAL", date(2026, 8, 1)),  # superseded by version 2
        ("er", "unknown", "demographics", "HLEGAL", date(2026, 3, 1)),
    ],
)
def test_outside_every_agreement(
    agreements: AgreementSet, src: str, dst: str, data_class: str, purpose: str, day: date
) -> None:
    assert agreements.agreements_allow(src, dst, data_class, purpose, day) == (False, None)


def test_new_version_takes_over_from_its_start(agreements: AgreementSet) -> None:
    assert (
        agreements.agreements_allow("er", "pd", "encounter", "HLEGAL", date(2026, 6, 30))[0]
        is False
    )
    assert agreements.agreements_allow("er", "pd", "encounter", "HLEGAL", date(2026, 7, 1)) == (
        True,
        "a",
    )


def test_mutual_and_purpose_subsumption(agreements: AgreementSet) -> None:
    assert agreements.agreements_allow("bha", "er", "diagnosis", "ETREAT", date(2026, 3, 1)) == (
        True,
        "care",
    )
    assert agreements.agreements_allow("er", "bha", "diagnosis", "BTG", date(2026, 3, 1)) == (
        True,
        "care",
    )


def test_covers_all_needs_every_patient_class(agreements: AgreementSet) -> None:
    day = date(2026, 3, 1)
    assert agreements.covers_all("er", "pd", {"demographics", "directory"}, "HLEGAL", day) == (
        True,
        ("a",),
    )
    assert agreements.covers_all("er", "pd", {"demographics", "diagnosis"}, "HLEGAL", day) == (
        False,
        (),
    )


def test_example_partnership_loads() -> None:
    example = AgreementSet.load()
    assert example.partnership == "panhandle-crisis-partnership"
    assert example.agreements_allow(
        "demo-panhandle-regional", "demo-amarillo-pd", "demographics", "HLEGAL", date(2026, 3, 1)
    )[0]
    assert not example.agreements_allow(
        "demo-panhandle-regional", "demo-amarillo-pd", "diagnosis", "HLEGAL", date(2026, 3, 1)
    )[0]


def test_malformed_file_stops_loading(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[agreement]]\nid = "x"\n')
    with pytest.raises(AgreementError):
        AgreementSet.load(bad)
    bad.write_text("not toml [")
    with pytest.raises(AgreementError):
        AgreementSet.load(bad)
