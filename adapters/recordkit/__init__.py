"""Shared pieces for adapters whose sources are JSON or CSV records (police RMS, BHA) or FHIR JSON.

Modules::

    payload      bytes → JSON value / CSV rows, with refusals that never quote the input
    schema       JSON Schema (draft 2020-12) validation with located, value-free errors
    timestamps   FHIR ``instant`` / ``date`` checks and ordering (Period invariant per-1)
    fhirbits     Provenance, ``meta``, identifier systems and the 42 CFR Part 2 security labels
"""
