"""BALP-shaped FHIR R4 AuditEvents (IHE Basic Audit Log Patterns 1.1) as plain dicts.

Every event names who (the client system, the person if any, their agency, role and purpose of use),
what (patients as entity role 1, the resources touched, a query with its values redacted), the
outcome, the policies (``agent.policy``) and consents (entities of type Consent) that decided, and
the request id (BALP ``XrequestId`` entity). No clinical content beyond ids goes into an event.

``EventFactory`` builds them; :mod:`gateway.audit.security` adds the non-REST events.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote

from gateway.audit import codes as c
from gateway.auth.schemas import Caller

_REFERENCE = re.compile(r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}(/_history/[A-Za-z0-9\-.]{1,64})?$")
# Search parameters whose values are ids or paging controls, kept in the recorded query.
_KEEP_VALUES = frozenset(
    {"_id", "_count", "_offset", "_sort", "_include", "_revinclude", "_summary", "_elements"}
    | {"_total", "_format", "patient", "subject", "_lastUpdated"}
)
MAX_DATA_ENTITIES = 100


@dataclass(frozen=True, slots=True)
class AuditContext:
    """Who is acting and through which request: taken from the ``Caller`` and the HTTP request."""

    client_id: str | None
    agency: str | None = None
    role: str | None = None
    user: str | None = None
    purposes: tuple[str, ...] = ()
    request_id: str | None = None
    address: str | None = None
    token_id: str | None = None

    @classmethod
    def from_caller(
        cls, caller: Caller, *, request_id: str | None = None, address: str | None = None
    ) -> AuditContext:
        return cls(
            client_id=caller.client_id,
            agency=caller.agency,
            role=caller.role,
            user=caller.user,
            purposes=tuple(caller.purposes),
            request_id=request_id,
            address=address,
            token_id=caller.token_id,
        )

    @property
    def purpose(self) -> str | None:
        return self.purposes[0] if self.purposes else None


@dataclass(frozen=True, slots=True)
class AuditServer:
    """The gateway itself: the log origin names it, the base URL is its network address."""

    origin: str
    base_url: str


def instant(when: datetime | None = None) -> str:
    """A FHIR instant in UTC with milliseconds."""
    moment = (when or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def redact_query(query: str) -> str:
    """The query with every value that is not an id, a reference or a paging control replaced by
    ``*``: search values can be names, birth dates or SSNs, which the log must not keep."""
    items = []
    for name, value in parse_qsl(query.lstrip("?"), keep_blank_values=True):
        base = name.split(":", 1)[0]
        kept = base in _KEEP_VALUES or _REFERENCE.match(value)
        items.append(f"{quote(name, safe=':._-')}={quote(value, safe='/:._-,') if kept else '*'}")
    return "&".join(items)


_PATIENT_ELEMENTS = ("subject", "patient", "beneficiary", "for", "individual")


def patient_refs(resource: dict[str, Any]) -> list[str]:
    """The patients a stored resource is about: itself for a Patient, else the ``Patient/<id>``
    references in its usual compartment elements (subject, patient, beneficiary, for,
    individual). Good enough for most resources; the policy layer knows the exact compartment."""
    if resource.get("resourceType") == "Patient" and resource.get("id"):
        return [f"Patient/{resource['id']}"]
    found: list[str] = []
    for name in _PATIENT_ELEMENTS:
        value = resource.get(name)
        for item in value if isinstance(value, list) else [value]:
            ref = item.get("reference") if isinstance(item, dict) else None
            if isinstance(ref, str) and ref.startswith("Patient/"):
                ref = ref.split("/_history/")[0]
                if ref not in found:
                    found.append(ref)
    return found


def _policy_uri(policy_id: str) -> str:
    return policy_id if ":" in policy_id else c.POLICY_PREFIX + policy_id


class EventFactory:
    """Builds AuditEvent dicts for one gateway (``server``)."""

    def __init__(self, server: AuditServer) -> None:
        self.server = server

    # ---- building blocks -----------------------------------------------------------------------
    def base(
        self,
        type_: dict[str, Any],
        subtypes: Sequence[dict[str, Any]],
        action: str,
        outcome: str,
        *,
        outcome_desc: str | None = None,
        purposes: Sequence[str] = (),
        recorded: datetime | None = None,
    ) -> dict[str, Any]:
        event: dict[str, Any] = {
            "resourceType": "AuditEvent",
            "id": str(uuid.uuid4()),
            "type": type_,
            "action": action,
            "recorded": instant(recorded),
            "outcome": outcome,
            "source": {
                "site": self.server.origin,
                "observer": {"display": self.server.origin},
                "type": [c.coding(c.SOURCE_TYPE, "4")],
            },
            "agent": [],
            "entity": [],
        }
        if subtypes:
            event["subtype"] = list(subtypes)
        if outcome_desc:
            event["outcomeDesc"] = outcome_desc[:500]
        if purposes:
            event["purposeOfEvent"] = [c.concept(c.ACT_REASON, p) for p in purposes]
        return event

    def client_agent(
        self, ctx: AuditContext, type_: dict[str, Any], *, requestor: bool
    ) -> dict[str, Any] | None:
        if ctx.client_id is None:
            return None
        agent: dict[str, Any] = {
            "type": type_,
            "who": {"identifier": {"system": c.CLIENT_SYSTEM, "value": ctx.client_id}},
            "name": ctx.client_id,
            "requestor": requestor,
        }
        if ctx.address:
            agent["network"] = {"address": ctx.address, "type": "2"}
        if requestor:
            self._add_role_and_purpose(agent, ctx)
        return agent

    def server_agent(self, type_: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": type_,
            "who": {"display": self.server.origin},
            "requestor": False,
            "network": {"address": self.server.base_url, "type": "5"},
        }

    def user_agent(self, ctx: AuditContext, type_: dict[str, Any]) -> dict[str, Any] | None:
        if ctx.user is None:
            return None
        agent: dict[str, Any] = {
            "type": type_,
            "who": {
                "identifier": {"system": c.USER_SYSTEM, "value": ctx.user},
                "display": ctx.user,
            },
            "altId": ctx.user,
            "name": ctx.user,
            "requestor": True,
        }
        self._add_role_and_purpose(agent, ctx)
        return agent

    @staticmethod
    def agency_agent(ctx: AuditContext) -> dict[str, Any] | None:
        if ctx.agency is None:
            return None
        # The agency answers for its people and systems: v3 ParticipationType RESP.
        return {
            "type": c.concept(c.PARTICIPATION, "RESP"),
            "who": {"reference": f"Organization/{ctx.agency}"},
            "requestor": False,
        }

    @staticmethod
    def _add_role_and_purpose(agent: dict[str, Any], ctx: AuditContext) -> None:
        if ctx.role:
            agent["role"] = [c.concept(c.ROLE_SYSTEM, ctx.role)]
        if ctx.purposes:
            agent["purposeOfUse"] = [c.concept(c.ACT_REASON, p) for p in ctx.purposes]

    def people(
        self,
        event: dict[str, Any],
        ctx: AuditContext,
        *,
        client_type: dict[str, Any],
        user_type: dict[str, Any],
        policies: Sequence[str] = (),
    ) -> None:
        """Append the client, user and agency agents; policies go on the requestor."""
        user = self.user_agent(ctx, user_type)
        client = self.client_agent(ctx, client_type, requestor=user is None)
        for agent in (client, user, self.agency_agent(ctx)):
            if agent is not None:
                event["agent"].append(agent)
        requestor = user or client
        if policies and requestor is not None:
            requestor["policy"] = [_policy_uri(p) for p in policies]

    @staticmethod
    def add_entities(
        event: dict[str, Any],
        ctx: AuditContext,
        *,
        patients: Sequence[str] = (),
        resources: Sequence[str] = (),
        consents: Sequence[str] = (),
        role: str = "4",
        query: dict[str, Any] | None = None,
    ) -> None:
        """Append patients (role 1), the query, data (``role``), consents, token and request id."""
        entities = event["entity"]
        for patient in dict.fromkeys(patients):
            entities.append(
                {
                    "what": {"reference": patient},
                    "type": c.coding(c.ENTITY_TYPE, "1"),
                    "role": c.coding(c.OBJECT_ROLE, "1"),
                }
            )
        if query is not None:
            entities.append(query)
        for ref in list(dict.fromkeys(resources))[:MAX_DATA_ENTITIES]:
            entities.append(
                {
                    "what": {"reference": ref},
                    "type": c.coding(c.ENTITY_TYPE, "2"),
                    "role": c.coding(c.OBJECT_ROLE, role),
                }
            )
        for consent in dict.fromkeys(consents):
            ref = consent if "/" in consent else f"Consent/{consent}"
            entities.append(
                {"what": {"reference": ref}, "type": c.coding(c.RESOURCE_TYPES, "Consent")}
            )
        if ctx.token_id:
            entities.append(
                {
                    "what": {"identifier": {"value": f"urn:ietf:params:oauth:jti:{ctx.token_id}"}},
                    "type": c.coding(c.BALP_USER_AGENT, "UserOauthAgent"),
                }
            )
        if ctx.request_id:
            entities.append(
                {
                    "what": {"identifier": {"value": ctx.request_id}},
                    "type": c.coding(c.BALP_ENTITY, "XrequestId"),
                }
            )
        if not entities:
            del event["entity"]

    # ---- RESTful interactions (BALP Read, Query, Create, Update, Delete) ------------------------
    def rest(
        self,
        ctx: AuditContext,
        interaction: str,
        *,
        outcome: str | int = c.OUTCOME_SUCCESS,
        resources: Sequence[str] = (),
        patients: Sequence[str] = (),
        query: str | None = None,
        resource_type: str | None = None,
        policies: Sequence[str] = (),
        consents: Sequence[str] = (),
        outcome_desc: str | None = None,
        disclosure: bool | None = None,
        recorded: datetime | None = None,
    ) -> dict[str, Any]:
        """One FHIR REST interaction, allowed (outcome 0) or refused (4, 8, 12).

        ``disclosure`` defaults to: a successful read or search that named patients, for a purpose
        other than treatment, payment or operations. Disclosures are recorded as BALP Privacy
        Disclosure (DCM 110106 Export, subtype iso-21089 ``disclose``) and appear in the accounting.
        """
        if interaction not in c.ACTIONS:
            raise ValueError(f"unknown RESTful interaction {interaction!r}")
        outcome = str(outcome)
        action = c.ACTIONS[interaction]
        if disclosure is None:
            disclosure = (
                action in ("R", "E")
                and outcome == c.OUTCOME_SUCCESS
                and bool(patients)
                and c.is_accountable(ctx.purpose)
            )
        rest_code = c.coding(c.RESTFUL, interaction)
        if disclosure:
            type_ = c.coding(c.DCM, "110106")
            subtypes = [c.coding(c.LIFECYCLE, "disclose")]
            subtypes.append(rest_code)
        else:
            type_ = c.coding(c.EVENT_TYPE, "rest")
            subtypes = [rest_code]
        event = self.base(
            type_,
            subtypes,
            action,
            outcome,
            outcome_desc=outcome_desc,
            purposes=ctx.purposes if disclosure else (),
            recorded=recorded,
        )
        if interaction == "delete":
            client_type = c.concept(c.DCM, "110150")
            server_type = c.concept(
                "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "custodian"
            )
        elif interaction in c.READ_INTERACTIONS or disclosure:
            client_type = c.concept(c.DCM, "110152")
            server_type = c.concept(c.DCM, "110153")
        else:
            client_type = c.concept(c.DCM, "110153")
            server_type = c.concept(c.DCM, "110152")
        user_type = (
            c.concept(c.PARTICIPATION, "AUT")
            if interaction in c.WRITE_INTERACTIONS
            else c.concept(c.PARTICIPATION, "IRCP")
        )
        self.people(event, ctx, client_type=client_type, user_type=user_type, policies=policies)
        event["agent"].insert(1, self.server_agent(server_type))
        query_entity = None
        if query is not None or interaction.startswith("search"):
            cleaned = redact_query(query or "")
            described = f"{resource_type or ''}?{cleaned}"
            query_entity = {
                "type": c.coding(c.ENTITY_TYPE, "2"),
                "role": c.coding(c.OBJECT_ROLE, "24"),
                "description": described,
                "query": base64.b64encode(described.encode()).decode(),
            }
        self.add_entities(
            event,
            ctx,
            patients=patients,
            resources=resources,
            consents=consents,
            query=query_entity,
        )
        return event
