"""Police RMS crisis calls (JSON, CSV) → FHIR R4. See docs/adapters/police-rms.md."""

from adapters.police_rms.adapter import PoliceRmsAdapter

__all__ = ["PoliceRmsAdapter"]
