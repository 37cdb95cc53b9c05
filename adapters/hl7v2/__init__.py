"""Hospital HL7 v2 feeds (ER7) → FHIR R4 transaction Bundles. Pure: no I/O, no gateway imports.

Modules, in the order data flows through them::

    batch        payload bytes → text → messages (BOM, MLLP framing, FHS/BHS batches, MSH-18)
    er7          message text → segments, fields, components; separators (MSH-1/2); escapes (§2.7)
    dates        HL7 DTM/TS → FHIR date, dateTime, instant
    context      per-message state: stable ids, identifier and code systems, located errors
    datatypes    CX, XPN, XAD, XTN, EI → Identifier, HumanName, Address, ContactPoint
    patient      PID → Patient; MRG → Patient.link (A40/A47)
    encounter    PV1/PV2 → Encounter, Location
    practitioner XCN fields and PRD → Practitioner
    clinical     DG1 → Condition, AL1 → AllergyIntolerance, IN1 → Coverage
    referral     REF^I12/I14, OMG^O19 → ServiceRequest + Task
    provenance   the Provenance of each message; what was not mapped
    messages     which message types are taken, and what each becomes
    adapter      :class:`Hl7v2Adapter`, the ``gateway.adapters`` entry point

Errors (from :mod:`adapters.base`)::

    AdapterError               unreadable payload or message; located (record = MSH-10, segment, field)
    └── UnsupportedMessage     a readable message of a type this adapter does not take (MSH-9)
"""

from adapters.hl7v2.adapter import Hl7v2Adapter

__all__ = ["Hl7v2Adapter"]
