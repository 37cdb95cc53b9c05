"""adapters/ is pure (DESIGN.md, "Layout"): it never imports the gateway, the web framework or the
database layer. Checked for the packages of the police-rms, bha and fhir adapters and their kit."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ADAPTERS = Path(__file__).resolve().parents[3] / "adapters"
PACKAGES = ("police_rms", "bha", "fhir", "recordkit")
FORBIDDEN = ("gateway", "fastapi", "starlette", "sqlalchemy", "sqlmodel", "policies")


@pytest.mark.parametrize("package", PACKAGES)
def test_no_forbidden_imports(package: str) -> None:
    files = sorted((ADAPTERS / package).glob("*.py"))
    assert files
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"


@pytest.mark.parametrize("package", PACKAGES)
def test_modules_stay_small(package: str) -> None:
    for path in (ADAPTERS / package).glob("*.py"):
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 400, path.name
