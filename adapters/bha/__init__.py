"""Behavioral health authority case records (JSON, CSV) → FHIR R4. See docs/adapters/bha.md."""

from adapters.bha.adapter import BhaAdapter

__all__ = ["BhaAdapter"]
