"""What FHIR Bulk Data export (HL7 Bulk Data Access IG 2.0.0) sends and keeps: the media types,
the canonical URLs the CapabilityStatement names, the settings, and the completion manifest
("Bulk Data Status Request", response "Complete Status")."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from gateway.db.tables_export import ExportJobRow

if TYPE_CHECKING:
    from gateway.export.repository import Listed

NDJSON = "application/fhir+ndjson"
# Bulk Data IG 2.0.0, _outputFormat: the full type and its two abbreviations are the same format.
OUTPUT_FORMATS = frozenset({NDJSON, "application/ndjson", "ndjson"})
IG = "http://hl7.org/fhir/uv/bulkdata"
CAPABILITY = f"{IG}/CapabilityStatement/bulk-data"
OPERATION = {
    "system": f"{IG}/OperationDefinition/export",
    "patient": f"{IG}/OperationDefinition/patient-export",
    "group": f"{IG}/OperationDefinition/group-export",
}
STATUS_PATH = "$export-status"
FILE_PATH = "$export-file"

ACCEPTED, IN_PROGRESS, COMPLETED, FAILED = "accepted", "in-progress", "completed", "failed"
ACTIVE = (ACCEPTED, IN_PROGRESS)


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from exc
    if value <= 0:
        raise SystemExit(f"{name} must be more than 0, got {raw!r}")
    return value


@dataclass(frozen=True, slots=True)
class ExportConfig:
    """Export settings; :meth:`from_env` reads ``GATEWAY_EXPORT_*`` (docs/bulk-export.md)."""

    file_resources: int = 1000  # at most this many resources per output file
    retention_seconds: float = 24 * 3600.0  # a job and its files are kept this long
    lease_seconds: float = 60.0  # a runner that stops renewing this long is presumed dead
    max_attempts: int = 3  # runs of one job (the first and the resumptions) before it fails
    max_active: int = 2  # unfinished jobs one client (or person) may have at once
    retry_after: int = 2  # seconds a client is asked to wait between status polls

    @classmethod
    def from_env(cls) -> ExportConfig:
        return cls(
            file_resources=int(_env_number("GATEWAY_EXPORT_FILE_RESOURCES", 1000)),
            retention_seconds=3600 * _env_number("GATEWAY_EXPORT_RETENTION_HOURS", 24),
            max_active=int(_env_number("GATEWAY_EXPORT_MAX_ACTIVE", 2)),
        )


def config_of(state: Any) -> ExportConfig:
    """The app's export settings (``app.state.export_config``, read from the environment once)."""
    config = getattr(state, "export_config", None)
    if not isinstance(config, ExportConfig):
        config = ExportConfig.from_env()
        state.export_config = config
    return config


def status_url(fhir_base: str, job_id: str) -> str:
    return f"{fhir_base}/{STATUS_PATH}/{job_id}"


def file_url(fhir_base: str, file_id: str) -> str:
    return f"{fhir_base}/{FILE_PATH}/{file_id}"


def manifest(fhir_base: str, job: ExportJobRow, files: Sequence[Listed]) -> dict[str, Any]:
    """The Complete Status body: every file, in export order, each with its type and count.
    Nothing a caller may not see is named: withheld resources leave no trace in it."""
    return {
        "transactionTime": job.transaction_time,
        "request": job.request_url,
        "requiresAccessToken": True,
        "output": [
            {"type": f.rtype, "url": file_url(fhir_base, f.id), "count": f.count} for f in files
        ],
        "error": [],
    }


def progress(job: ExportJobRow) -> str:
    """The ``X-Progress`` text of a running job (no more than the IG's 100 characters)."""
    types = orjson.loads(job.types)
    done = min(job.type_index, len(types))
    return f"{done} of {len(types)} types done; {job.exported} resources in {job.files} files"[:100]
