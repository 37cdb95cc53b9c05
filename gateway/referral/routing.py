"""Where a referral goes: to the organisation it is addressed to, else through the directory of
services to a team that offers its service type, else to the triage organisation.

1. **Addressed**: ``Task.owner`` or ``ServiceRequest.performer`` names an Organization (it receives;
   its team for the service type, if it lists one, sets the hours), a HealthcareService (that team,
   its ``providedBy`` receives), a PractitionerRole (its organisation) or a Practitioner (the
   organisation of the practitioner's role in the directory).
2. **Directory**: the active teams offering the service type whose stated criteria (ages, sexes,
   payers) the person meets; on duty now first, then the soonest next shift, then by id.
3. **Triage**: the configured coordination organisation (``GATEWAY_REFERRAL_TRIAGE_ORG``).
4. Otherwise the referral is **unrouted**: it stays requested, and the referrer is told.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.placement.workflow_codes import ref_id
from gateway.referral.directory import Team, team_of
from gateway.referral.repository import ReferralRepository

Resource = dict[str, Any]
Reader = Callable[[str, str], Resource | None]


@dataclass(frozen=True, slots=True)
class Person:
    """What eligibility looks at."""

    age: int | None = None
    sex: str | None = None
    payer: str | None = None


@dataclass(frozen=True, slots=True)
class Route:
    """The routing decision: who receives, which team queue, how it was decided, when on duty."""

    receiver: str | None
    team: str | None
    routed_by: str  # addressed | directory | triage | unrouted
    visible_at: float


def _addressees(task: Resource | None, sr: Resource) -> list[Any]:
    found = [(task or {}).get("owner")] if (task or {}).get("owner") else []
    return found + list(sr.get("performer") or [])


def _team_for(
    repo: ReferralRepository, org: str, service_type: str, zone: str, now: float
) -> Team | None:
    teams = [
        t
        for doc in repo.services_of_org(org)
        if (t := team_of(doc, zone)) is not None and t.active and service_type in t.types
    ]
    teams.sort(key=lambda t: (t.next_on_duty(now), t.service_id))
    return teams[0] if teams else None


def addressed(
    read: Reader, repo: ReferralRepository, ref: Any, service_type: str, zone: str, now: float
) -> Route | None:
    """Where a reference to an Organization, HealthcareService, PractitionerRole or Practitioner
    sends a referral of ``service_type`` (None: it names nobody the directory knows)."""
    if (org := ref_id(ref, "Organization")) is not None:
        if read("Organization", org) is None:
            return None
        team = _team_for(repo, org, service_type, zone, now)
        if team is None:
            return Route(org, None, "addressed", now)
        return Route(org, team.service_id, "addressed", team.next_on_duty(now))
    if (sid := ref_id(ref, "HealthcareService")) is not None:
        doc = read("HealthcareService", sid)
        team = team_of(doc, zone) if doc else None
        if team is None:
            return None
        return Route(team.org_id, team.service_id, "addressed", team.next_on_duty(now))
    roles: list[Resource] = []
    if (rid := ref_id(ref, "PractitionerRole")) is not None:
        role = read("PractitionerRole", rid)
        roles = [role] if role else []
    elif (pid := ref_id(ref, "Practitioner")) is not None:
        roles = repo.roles_of_practitioner(pid)
    for role in roles:
        org = ref_id(role.get("organization"), "Organization")
        if org is not None and role.get("active", True) is not False:
            team = _team_for(repo, org, service_type, zone, now)
            if team is None:
                return Route(org, None, "addressed", now)
            return Route(org, team.service_id, "addressed", team.next_on_duty(now))
    return None


def route(
    read: Reader,
    repo: ReferralRepository,
    *,
    task: Resource | None,
    sr: Resource,
    service_type: str,
    person: Person,
    zone: str,
    triage_org: str | None,
    now: float,
) -> Route:
    """Decide who receives a referral (see the module docstring for the order)."""
    for ref in _addressees(task, sr):
        found = addressed(read, repo, ref, service_type, zone, now)
        if found is not None:
            return found
    teams = [
        t
        for doc in repo.services_of_type(service_type)
        if (t := team_of(doc, zone)) is not None
        and t.active
        and t.eligible(person.age, person.sex, person.payer)
    ]
    if teams:
        best = min(teams, key=lambda t: (t.next_on_duty(now), t.service_id))
        return Route(best.org_id, best.service_id, "directory", best.next_on_duty(now))
    if triage_org:
        return Route(triage_org, None, "triage", now)
    return Route(None, None, "unrouted", now)
