"""The published conformance artifacts of the directory: StructureDefinitions of the extensions
(R4, differential only), CodeSystems and their ValueSets, all generated from ``profiles``.

``python -m gateway.placement.directory_artifacts docs/profiles`` rewrites ``docs/profiles/``; a test
checks the published files still equal what this module generates.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson

from gateway.placement.profiles import (
    CODE_SYSTEMS,
    EXTENSIONS,
    ExtensionDef,
    value_set_url,
)


def _element(path: str, eid: str, **rest: Any) -> dict[str, Any]:
    return {"id": eid, "path": path, **rest}


def structure_definition(defn: ExtensionDef) -> dict[str, Any]:
    """The R4 StructureDefinition (differential only) of one extension."""
    elements: list[dict[str, Any]] = [
        _element(
            "Extension", "Extension", short=defn.title, definition=defn.description, max=defn.max
        )
    ]
    if defn.value_type is None:
        elements.append(
            _element(
                "Extension.extension",
                "Extension.extension",
                slicing={"discriminator": [{"type": "value", "path": "url"}], "rules": "open"},
            )
        )
        for name, vtype, low, text in defn.parts:
            sid = f"Extension.extension:{name}"
            elements += [
                _element("Extension.extension", sid, sliceName=name, short=text, min=low, max="1"),
                _element("Extension.extension.url", f"{sid}.url", fixedUri=name),
                _element(
                    "Extension.extension.value[x]",
                    f"{sid}.value[x]",
                    min=1,
                    type=[{"code": vtype}],
                ),
            ]
        elements += [
            _element("Extension.url", "Extension.url", fixedUri=defn.url),
            _element("Extension.value[x]", "Extension.value[x]", max="0"),
        ]
    else:
        value: dict[str, Any] = {"min": 1, "type": [{"code": defn.value_type}]}
        if defn.binding is not None:
            value["binding"] = {"strength": "required", "valueSet": value_set_url(defn.binding)}
        elements += [
            _element("Extension.extension", "Extension.extension", max="0"),
            _element("Extension.url", "Extension.url", fixedUri=defn.url),
            _element("Extension.value[x]", "Extension.value[x]", **value),
        ]
    return {
        "resourceType": "StructureDefinition",
        "id": defn.sd_id,
        "url": defn.url,
        "version": "0.1.0",
        "name": "".join(p.capitalize() for p in defn.sd_id.split("-")),
        "title": defn.title,
        "status": "draft",
        "publisher": "Crisis Exchange Gateway",
        "description": defn.description,
        "fhirVersion": "4.0.1",
        "kind": "complex-type",
        "abstract": False,
        "context": [{"type": "element", "expression": defn.context}],
        "type": "Extension",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Extension",
        "derivation": "constraint",
        "differential": {"element": elements},
    }


def code_system(url: str) -> dict[str, Any]:
    """One of our CodeSystems, complete."""
    title, codes = CODE_SYSTEMS[url]
    sid = url.rsplit("/", 1)[1]
    return {
        "resourceType": "CodeSystem",
        "id": sid,
        "url": url,
        "version": "0.1.0",
        "name": "".join(p.capitalize() for p in sid.split("-")),
        "title": title,
        "status": "draft",
        "content": "complete",
        "caseSensitive": True,
        "valueSet": value_set_url(url),
        "count": len(codes),
        "concept": [{"code": c, "display": d} for c, d in codes.items()],
    }


def value_set(url: str) -> dict[str, Any]:
    """The ValueSet of every code in one of our CodeSystems."""
    title, _codes = CODE_SYSTEMS[url]
    sid = url.rsplit("/", 1)[1]
    return {
        "resourceType": "ValueSet",
        "id": sid,
        "url": value_set_url(url),
        "version": "0.1.0",
        "name": "".join(p.capitalize() for p in sid.split("-")),
        "title": title,
        "status": "draft",
        "compose": {"include": [{"system": url}]},
    }


def all_structure_definitions() -> list[dict[str, Any]]:
    """Every StructureDefinition this module defines, in a stable order."""
    return [structure_definition(d) for d in EXTENSIONS]


def all_artifacts() -> list[dict[str, Any]]:
    """StructureDefinitions, then CodeSystems and their ValueSets: everything published."""
    out = all_structure_definitions()
    for url in CODE_SYSTEMS:
        out += [code_system(url), value_set(url)]
    return out


def render(doc: dict[str, Any]) -> bytes:
    """The published bytes of one StructureDefinition (indented, newline-terminated)."""
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"


def write_profiles(directory: Path) -> list[Path]:
    """Write each artifact as ``<resourceType>-<id>.json``; return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for doc in all_artifacts():
        path = directory / f"{doc['resourceType']}-{doc['id']}.json"
        path.write_bytes(render(doc))
        paths.append(path)
    return paths


if __name__ == "__main__":  # a maintenance command
    for written in write_profiles(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/profiles")):
        print(written)
