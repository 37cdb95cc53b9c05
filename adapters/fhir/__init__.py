"""FHIR R4 Bundles and resources pushed by EHRs → gateway transactions. See docs/adapters/fhir.md."""

from adapters.fhir.adapter import FhirAdapter

__all__ = ["FhirAdapter"]
