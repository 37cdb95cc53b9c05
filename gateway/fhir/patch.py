"""JSON Patch (RFC 6902) for the FHIR ``patch`` interaction (FHIR R4 http.html#patch)."""

from __future__ import annotations

from typing import Any

import jsonpatch

from gateway.fhir.errors import InvalidRequest, Unprocessable

_PATCH_OPS = frozenset({"add", "remove", "replace", "move", "copy", "test"})


def apply_patch(doc: Any, operations: Any) -> Any:
    """Apply a JSON Patch (RFC 6902) one operation at a time, so an error can name the operation.

    Library messages are not passed on: some quote the whole document, i.e. patient data.
    """
    if not isinstance(operations, list) or not operations:
        raise InvalidRequest("a JSON Patch body is a non-empty array of operations", expression="$")
    for i, op in enumerate(operations):
        where = f"$[{i}]"
        if not isinstance(op, dict) or not isinstance(op.get("op"), str):
            raise InvalidRequest(f"JSON Patch operation {i} needs op and path", expression=where)
        name = op["op"] if op["op"] in _PATCH_OPS else "?"
        label = f"JSON Patch operation {i} ({name} {str(op.get('path'))[:80]})"
        try:
            doc = jsonpatch.JsonPatch([op]).apply(doc)
        except jsonpatch.JsonPatchTestFailed:
            raise Unprocessable(f"{label}: the test failed", expression=where) from None
        except jsonpatch.InvalidJsonPatch:
            raise InvalidRequest(
                f"{label} is not valid: op must be add, remove, replace, move, copy or test, "
                "with path (and value or from where the op needs them)",
                expression=where,
            ) from None
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException):
            raise InvalidRequest(
                f"{label} cannot be applied: a path it names does not exist in the resource",
                expression=where,
                code="processing",
            ) from None
        except (TypeError, KeyError, ValueError, IndexError):
            raise InvalidRequest(f"{label} cannot be applied", expression=where) from None
    return doc
