"""A quarter of a crisis program, written as plain facts the tests count from independently.

Twenty people (P00-P19) have a police crisis call in January 2025; some are called on again, some
go to the emergency department of hospital ``hosp-a`` the same day (one crisis, two agencies), and
thirteen of those need a psychiatric bed. Four people (H0-H3) only ever reach the hospital. The police
records are made by the ``police-rms`` generator (whose call mix follows the Toronto Police
"Persons in Crisis" calls) and given these people and times; the hospital's are HL7 v2 ADT^A04.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

T = datetime(2025, 1, 1, tzinfo=UTC)


def at(day: float, hour: float = 0.0) -> datetime:
    """``day`` days after 1 January 2025 (day 0), plus ``hour`` hours, UTC."""
    return T + timedelta(days=day, hours=hour)


@dataclass(frozen=True)
class Person:
    key: str
    family: str
    given: str
    birth: str
    sex: str
    phone: str  # ten digits


@dataclass(frozen=True)
class Call:
    """A police crisis call: the subject, when it was reported, and the officers' times."""

    person: str
    number: str
    reported: datetime
    dispatch_after: timedelta = timedelta(minutes=4)
    on_scene_after: timedelta = timedelta(minutes=15)
    cleared_after: timedelta | None = timedelta(hours=2)
    officers: int = 2
    person_id: bool = True  # the RMS master name index number is sent

    @property
    def dispatched(self) -> datetime:
        return self.reported + self.dispatch_after

    @property
    def cleared(self) -> datetime | None:
        return None if self.cleared_after is None else self.reported + self.cleared_after


@dataclass(frozen=True)
class Visit:
    """An emergency department visit (HL7 v2 ADT^A04, PV1-2 = E)."""

    person: str
    number: str
    admitted: datetime
    patient_class: str = "E"  # PV1-2: E emergency, O outpatient
    cancelled: bool = False  # the registration was cancelled (ADT^A11): it never happened


@dataclass(frozen=True)
class Placement:
    """A placement request and what the two facilities asked (f1, f2) answered, in seconds."""

    person: str
    created: datetime
    f2_declines: str | None = None  # reason code, answered 10 minutes after the request
    f1_declines: str | None = None  # reason code, answered 20 minutes after
    f1_accepts_after: float | None = None


FAMILIES = [
    "Abernathy",
    "Boateng",
    "Castellanos",
    "Dimitriou",
    "Eriksen",
    "Fitzgerald",
    "Grzeszczak",
    "Halvorsen",
    "Iwasaki",
    "Jankowski",
    "Kowalczyk",
    "Lindqvist",
    "Marchetti",
    "Nakamura",
    "Oyelaran",
    "Papadakis",
    "Quintanilla",
    "Rasmussen",
    "Szczepanski",
    "Tanaka",
    "Underwood",
    "Valdivia",
    "Wojciechowski",
    "Yamamoto",
    "Zielinski",
]
GIVENS = [
    "Aurelio",
    "Bernadette",
    "Cosimo",
    "Delphine",
    "Evander",
    "Fenella",
    "Gideon",
    "Henrietta",
    "Ignatius",
    "Jacinta",
    "Leopold",
    "Marisol",
    "Nathaniel",
    "Ottoline",
    "Percival",
    "Rosalind",
    "Sebastiano",
    "Theodora",
    "Ulysses",
    "Valentina",
    "Wilhelmina",
    "Xavier",
    "Yolanda",
    "Zebulon",
    "Ambrosia",
]


def _person(i: int, key: str) -> Person:
    birth = datetime(1960 + i, 1 + i % 12, 1 + (3 * i) % 27).date().isoformat()
    return Person(key, FAMILIES[i], GIVENS[i], birth, ("male", "female")[i % 2], f"80655501{i:02d}")


@dataclass(frozen=True)
class Referral:
    """A referral after a crisis: made, answered (or never), booked and completed as written.

    Made by ``referrer`` about the person's hospital record; answered 2 hours after it was made;
    completed an hour after the appointment, whose start is the first contact when ``seen``."""

    person: str
    made: datetime
    service: str = "outpatient-psychiatry"
    referrer: str = "hosp-a"
    answer: str | None = "$accept"  # $accept | $reject | None: never answered (overdue)
    appointment: datetime | None = None
    outcome: str | None = None  # seen | did-not-attend

    @property
    def seen(self) -> datetime | None:
        return self.appointment if self.outcome == "seen" else None


@dataclass
class Scenario:
    people: dict[str, Person] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    visits: list[Visit] = field(default_factory=list)
    placements: list[Placement] = field(default_factory=list)
    outpatient: list[Visit] = field(default_factory=list)  # follow-up visits (not crises)
    referrals: list[Referral] = field(default_factory=list)


def build() -> Scenario:
    s = Scenario()
    for i in range(20):
        s.people[f"P{i:02d}"] = _person(i, f"P{i:02d}")
    for j in range(5):
        s.people[f"H{j}"] = _person(20 + j, f"H{j}")
    # Everyone's first call: P00 on 2 January, P01 on 3 January ... P19 on 21 January, 14:00.
    for i in range(20):
        s.calls.append(Call(f"P{i:02d}", f"C{i:02d}A", at(1 + i, 14)))
    # Called on again: within 30 days (P00-P02), within 90 but not 30 days (P03-P05); the second
    # record of P00 and P03 has no RMS person number (the identity match joins them).
    for i, days in ((0, 10), (1, 12), (2, 20), (3, 45), (4, 45), (5, 60)):
        s.calls.append(
            Call(f"P{i:02d}", f"C{i:02d}B", at(1 + i + days, 9), person_id=i not in (0, 3))
        )
    # P10: a crisis in late March and another in April (after the quarter: a repeat all the same).
    s.calls.append(Call("P10", "C10B", at(83, 22), cleared_after=timedelta(hours=3)))
    s.calls.append(Call("P10", "C10C", at(100, 8)))
    # P19's January call is still open (never cleared); P18's had three officers.
    s.calls[19] = Call("P19", "C19A", at(20, 14), cleared_after=None)
    s.calls[18] = Call("P18", "C18A", at(19, 14), officers=3, cleared_after=timedelta(hours=5))
    # The emergency department the same day (3 h after the call: same crisis) for P06-P19.
    for i in range(6, 20):
        s.visits.append(Visit(f"P{i:02d}", f"V{i:02d}", at(1 + i, 17)))
    # Hospital-only people: H0-H2 in February; H3 late on 31 December and again on 1 January
    # (one crisis that began before the quarter).
    for j in range(3):
        s.visits.append(Visit(f"H{j}", f"VH{j}", at(40 + j, 11)))
    s.visits.append(Visit("H3", "VH3A", at(-1, 20)))
    s.visits.append(Visit("H3", "VH3B", at(0, 10)))
    # H4 was registered in March by mistake; the registration was cancelled.
    s.visits.append(Visit("H4", "VH4", at(70, 10), cancelled=True))
    # Placement requests from the emergency department, 5 h after the call, for P06-P18.
    reasons = ("no-bed", "payer", "acuity-too-high")
    for n, i in enumerate(range(6, 19)):
        created = at(1 + i, 19)
        if n < 11:  # eleven placed by f1 after f2 declined
            s.placements.append(
                Placement(f"P{i:02d}", created, reasons[n % 3], None, 1800.0 + 600 * n)
            )
        else:  # two nobody would take
            s.placements.append(Placement(f"P{i:02d}", created, "no-bed", "security"))
    # February: H0 and H1 placed, H2 declined by both.
    s.placements.append(Placement("H0", at(40, 13), "no-bed", None, 5400.0))
    s.placements.append(Placement("H1", at(41, 13), "payer", None, 7200.0))
    s.placements.append(Placement("H2", at(42, 13), "no-bed", "clinical-exclusion"))
    # Outpatient visits after the first crisis: 3 days after for P00-P03, 10 days after for P04.
    for i, days in ((0, 3), (1, 3), (2, 3), (3, 3), (4, 10)):
        s.outpatient.append(Visit(f"P{i:02d}", f"O{i:02d}", at(1 + i + days, 10), "O"))
    _referrals(s)
    return s


def _referrals(s: Scenario) -> None:
    """Referrals after the January crises and one in February."""
    # P06-P16: referred from the emergency department an hour after the visit, seen 3 days after
    # the call (P14-P16 by case management, the rest by outpatient psychiatry).
    for i in range(6, 17):
        service = "case-management" if i >= 14 else "outpatient-psychiatry"
        s.referrals.append(
            Referral(f"P{i:02d}", at(1 + i, 18), service, appointment=at(4 + i, 10), outcome="seen")
        )
    # P17 seen only 10 days after the call; P18 did not attend; P19 refused by the service.
    s.referrals.append(Referral("P17", at(18, 18), appointment=at(28, 10), outcome="seen"))
    s.referrals.append(
        Referral("P18", at(19, 18), appointment=at(23, 10), outcome="did-not-attend")
    )
    s.referrals.append(Referral("P19", at(20, 18), answer="$reject"))
    # P00: no emergency visit; the crisis team sees the hospital's record of them 2 days after the
    # police call (one person through the identity link). P01: from the police, never answered.
    s.referrals.append(
        Referral("P00", at(2, 9), "crisis-follow-up", appointment=at(3, 10), outcome="seen")
    )
    s.referrals.append(
        Referral("P01", at(3, 9), "crisis-follow-up", referrer="amarillo-pd", answer=None)
    )
    # February: H0 seen 3 days after the visit.
    s.referrals.append(Referral("H0", at(40, 15), appointment=at(43, 10), outcome="seen"))
