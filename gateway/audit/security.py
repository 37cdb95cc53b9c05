"""Non-REST audit events: authorization decisions, break-the-glass, authentication and tokens,
configuration changes, exports and ingest (BALP AuthZconsent, IUA ITI-71, DICOM PS3.15 A.5.3)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from gateway.audit import codes as c
from gateway.audit.events import AuditContext, EventFactory

ConfigChange = Literal[
    "policy", "agreement", "key", "suspension", "agency", "client", "user", "review"
]
_CONFIG_SUBTYPE = {
    # DCM 110129 Security Configuration: rules, agreements, keys, accounting suspensions.
    "policy": "110129",
    "agreement": "110129",
    "key": "110129",
    "suspension": "110129",
    # DCM 110137 User Security Attributes Changed: who may act, with which role and scopes.
    "agency": "110137",
    "client": "110137",
    "user": "110137",
    # DCM 110135 Object Security Attributes Changed: an auditor's review of an audited event.
    "review": "110135",
}


class AuditEvents(EventFactory):
    """Every kind of event the gateway records (RESTful ones come from :class:`EventFactory`)."""

    def consent_decision(
        self,
        ctx: AuditContext,
        *,
        permit: bool,
        patients: Sequence[str],
        consents: Sequence[str] = (),
        policies: Sequence[str] = (),
        outcome_desc: str | None = None,
        recorded: datetime | None = None,
    ) -> dict[str, Any]:
        """BALP AuthZconsent: DCM 110113 Security Alert, subtype AuthZ-Consent (AuthZ-Role when no
        consent took part), action E, outcome 0 for permit and 8 for deny."""
        subtype = "AuthZ-Consent" if consents else "AuthZ-Role"
        event = self.base(
            c.coding(c.DCM, "110113"),
            [c.coding(c.BALP_AUTHZ, subtype)],
            "E",
            c.OUTCOME_SUCCESS if permit else c.OUTCOME_SERIOUS,
            outcome_desc=outcome_desc,
            purposes=ctx.purposes,
            recorded=recorded,
        )
        self.people(
            event,
            ctx,
            client_type=c.concept(c.DCM, "110150"),
            user_type=c.concept(c.PARTICIPATION, "IRCP"),
            policies=policies,
        )
        event["agent"].append(self.server_agent(c.concept(c.SECURITY_ROLE, "authserver")))
        self.add_entities(event, ctx, patients=patients, consents=consents)
        return event

    def break_glass(
        self,
        ctx: AuditContext,
        *,
        patients: Sequence[str],
        reason: str | None = None,
        resources: Sequence[str] = (),
        policies: Sequence[str] = (),
        recorded: datetime | None = None,
    ) -> dict[str, Any]:
        """Emergency access started (45 CFR 164.312(a)(2)(ii)): DCM 110113 Security Alert with
        subtype DCM 110127 Emergency Override Started; each one waits in the auditors' queue."""
        event = self.base(
            c.coding(c.DCM, "110113"),
            [c.coding(c.DCM, "110127")],
            "E",
            c.OUTCOME_SUCCESS,
            outcome_desc=reason,
            purposes=ctx.purposes or ("BTG",),
            recorded=recorded,
        )
        self.people(
            event,
            ctx,
            client_type=c.concept(c.DCM, "110150"),
            user_type=c.concept(c.PARTICIPATION, "IRCP"),
            policies=policies,
        )
        self.add_entities(event, ctx, patients=patients, resources=resources)
        return event

    def authentication(
        self,
        ctx: AuditContext,
        kind: Literal["login", "logout", "token"],
        *,
        success: bool,
        outcome_desc: str | None = None,
        scope: str | None = None,
        recorded: datetime | None = None,
    ) -> dict[str, Any]:
        """DCM 110114 User Authentication: subtype 110122 Login, 110123 Logout, or IHE ITI-71 Get
        Access Token (token issued or refused). A failure is outcome 8 (serious)."""
        subtype = {
            "login": c.coding(c.DCM, "110122"),
            "logout": c.coding(c.DCM, "110123"),
            "token": c.coding(c.IHE_EVENT, "ITI-71"),
        }[kind]
        event = self.base(
            c.coding(c.DCM, "110114"),
            [subtype],
            "E",
            c.OUTCOME_SUCCESS if success else c.OUTCOME_SERIOUS,
            outcome_desc=outcome_desc,
            recorded=recorded,
        )
        self.people(
            event,
            ctx,
            client_type=c.concept(c.DCM, "110150"),
            user_type=c.concept(c.BALP_USER_AGENT, "UserOauthAgent"),
        )
        event["agent"].append(self.server_agent(c.concept(c.SECURITY_ROLE, "authserver")))
        if scope:
            event["entity"].append(
                {
                    "type": c.coding(c.ENTITY_TYPE, "2"),
                    "role": c.coding(c.OBJECT_ROLE, "13"),
                    "description": f"scope: {scope}"[:500],
                }
            )
        self.add_entities(event, ctx)
        return event

    def configuration(
        self,
        ctx: AuditContext,
        change: ConfigChange,
        target: str,
        *,
        action: Literal["C", "U", "D"] = "U",
        success: bool = True,
        outcome_desc: str | None = None,
        recorded: datetime | None = None,
    ) -> dict[str, Any]:
        """A change to who may act or under which rules: policies, agreements, keys, accounting
        suspensions (DCM 110129), agencies, clients and users (DCM 110137)."""
        code = _CONFIG_SUBTYPE[change]
        event = self.base(
            c.coding(c.DCM, "110113"),
            [c.coding(c.DCM, code)],
            action,
            c.OUTCOME_SUCCESS if success else c.OUTCOME_SERIOUS,
            outcome_desc=outcome_desc,
            recorded=recorded,
        )
        self.people(
            event,
            ctx,
            client_type=c.concept(c.DCM, "110150"),
            user_type=c.concept(c.PARTICIPATION, "AUT"),
        )
        event["entity"].append(
            {
                "what": {"identifier": {"system": f"urn:gateway:{change}", "value": target}},
                "type": c.coding(c.ENTITY_TYPE, "2"),
                "role": c.coding(c.OBJECT_ROLE, "13"),
            }
        )
        self.add_entities(event, ctx)
        return event

    def export(
        self,
        ctx: AuditContext,
        what: str,
        *,
        patients: Sequence[str] = (),
        resources: Sequence[str] = (),
        policies: Sequence[str] = (),
        consents: Sequence[str] = (),
        disclosure: bool = False,
        recorded: datetime | None = None,
    ) -> dict[str, Any]:
        """Data leaving in bulk (a CSV export, an accounting report, a FHIR bulk data file):
        DCM 110106 Export, action R; with subtype iso-21089 ``disclose`` when it is a disclosure to
        account for. ``policies`` and ``consents`` are those that decided what it holds."""
        subtypes = [c.coding(c.LIFECYCLE, "disclose")]
        event = self.base(
            c.coding(c.DCM, "110106"),
            subtypes if disclosure else [],
            "R",
            c.OUTCOME_SUCCESS,
            purposes=ctx.purposes,
            recorded=recorded,
        )
        self.people(
            event,
            ctx,
            client_type=c.concept(c.DCM, "110152"),
            user_type=c.concept(c.PARTICIPATION, "IRCP"),
            policies=policies,
        )
        event["agent"].insert(1, self.server_agent(c.concept(c.DCM, "110153")))
        event["entity"].append(
            {
                "type": c.coding(c.ENTITY_TYPE, "2"),
                "role": c.coding(c.OBJECT_ROLE, "3"),
                "description": what[:500],
            }
        )
        self.add_entities(event, ctx, patients=patients, resources=resources, consents=consents)
        return event

    def ingest(
        self,
        ctx: AuditContext,
        source: str,
        *,
        resources: Sequence[str] = (),
        patients: Sequence[str] = (),
        outcome: str | int = c.OUTCOME_SUCCESS,
        outcome_desc: str | None = None,
        recorded: datetime | None = None,
    ) -> dict[str, Any]:
        """Data arriving from an agency feed (HL7 v2, police RMS, BHA CSV, FHIR bundle): DCM 110107
        Import, action C; ``source`` names the feed (e.g. ``hl7v2:ADT^A01``)."""
        event = self.base(
            c.coding(c.DCM, "110107"),
            [],
            "C",
            str(outcome),
            outcome_desc=outcome_desc,
            recorded=recorded,
        )
        self.people(
            event,
            ctx,
            client_type=c.concept(c.DCM, "110153"),
            user_type=c.concept(c.PARTICIPATION, "AUT"),
        )
        event["agent"].insert(1, self.server_agent(c.concept(c.DCM, "110152")))
        event["entity"].append(
            {
                "type": c.coding(c.ENTITY_TYPE, "2"),
                "role": c.coding(c.OBJECT_ROLE, "20"),
                "description": source[:200],
            }
        )
        self.add_entities(event, ctx, patients=patients, resources=resources)
        return event
