"""The schema published in docs/ is the one the adapter loads."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_the_published_schema_is_the_packaged_schema() -> None:
    published = ROOT / "docs" / "adapters" / "bha.schema.json"
    packaged = ROOT / "adapters" / "bha" / "schema.json"
    assert published.read_bytes() == packaged.read_bytes()
