"""The HL7 v2 adapter passes the shared adapter kit (tests/adapters/kit.py)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import ClassVar

import adapters.hl7v2
from adapters.base import Adapter
from adapters.hl7v2 import Hl7v2Adapter
from tests.adapters.hl7v2.support import ER7, GOLDEN, adt, fixture, message
from tests.adapters.kit import AdapterContract


def _b(*segments: str) -> bytes:
    return message(*segments).encode()


BATCH = ("BHS|^~\\&|ADT1|GHH\r" + adt("A01", "B1") + adt("A08", "B2") + "BTS|2\r").encode()


class TestHl7v2Contract(AdapterContract):
    adapter: ClassVar[Adapter] = Hl7v2Adapter()
    good_inputs: ClassVar[list[tuple[bytes, str]]] = [
        (fixture("ADT-A01-01.hl7"), ER7),
        (fixture("ADT-A08-01.hl7"), "text/plain"),
        (fixture("ADT-A03-01.hl7"), ER7),
        (fixture("ADT-A11-01.hl7"), ER7),
        (fixture("ADT04-251.hl7"), ER7),
        (fixture("ADT-A40-01.hl7"), ER7),
        (fixture("ADT-A47-01.hl7"), ER7),
        (fixture("REF-I12-01.hl7"), ER7),
        (adt("A28", "P1").encode(), "text/plain; charset=utf-8"),
        (BATCH, ER7),
    ]
    bad_inputs: ClassVar[list[tuple[bytes, str]]] = [
        (fixture("ORU-R01-RMGEAD.hl7"), ER7),  # a type the adapter does not take
        (b"PID|1||123^^^X^MR", ER7),  # no MSH
        (b"MSH|^~|A|B|||20240101||ADT^A01|1|P|2.5\rPID|1||1^^^X^MR", ER7),  # MSH-2 too short
        (_b("MSH|^~\\&|A|B|||20240101||ADT^A01||P|2.5", "PID|1||1^^^X^MR"), ER7),  # no MSH-10
        (_b("MSH|^~\\&|A|B|||20240101||ADT|K1|P|2.5", "PID|1||1^^^X^MR"), ER7),  # no trigger
        (adt("A01", "K2", pid="PID|1||1^^^X^MR||DOE^J||19801332|F").encode(), ER7),  # day 32
        (adt("A01", "K3", pid="PID|1||||DOE^J").encode(), ER7),  # no patient identifier
        (_b("MSH|^~\\&|A|B|||20240101||ADT^A01|K4|P|2.5", "PV1|1|I"), ER7),  # no PID
        (fixture("ADT-A01-01.hl7"), "application/json"),  # media type it does not read
        (b"BHS|^~\\&\r" + adt("A01", "K5").encode() + b"BTS|3\r", ER7),  # batch lost messages
        ("\xe9".encode("latin-1"), ER7),  # not UTF-8, no MSH-18
    ]
    golden_dir = GOLDEN


def test_the_adapter_imports_nothing_of_the_service() -> None:
    forbidden = ("gateway", "fastapi", "sqlalchemy", "sqlmodel", "starlette")
    for path in Path(adapters.hl7v2.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{path.name} imports {name}"


def test_the_class_is_what_the_entry_point_will_name() -> None:
    assert Hl7v2Adapter.name == "hl7v2"
    assert isinstance(Hl7v2Adapter(), Adapter)
