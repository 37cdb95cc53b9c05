"""Inter-agency data-sharing agreements (MOUs) as versioned configuration.

An agreement says which agencies (``from``) share which data classes with which agencies (``to``), for
which purposes of use, from when to when. Agencies are named by id or by kind (``kind:facility``);
``mutual = true`` makes it apply both ways. An agreement id may have several versions: from its
``valid_from`` on, a higher version replaces the lower ones. Sharing another agency's patient data
outside every agreement in force is refused with v3-ActCode ``NOMOU`` (HL7 DS4P refrain policy).
Format: ``policies/agreements/example.toml`` and docs/policies.md.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from policies.purposes import covers

EXAMPLE_PATH = Path(__file__).parent / "agreements" / "example.toml"
# Classes about no patient: shared without an agreement (the roles still decide who sees them).
NON_PATIENT_CLASSES = frozenset({"directory", "aggregate-report", "configuration", "audit"})


class AgreementError(ValueError):
    """An agreements file that cannot be loaded (start-up must stop, not skip it)."""


@dataclass(frozen=True, slots=True)
class Agreement:
    """One version of one agreement."""

    id: str
    version: int
    parties_from: frozenset[str]
    parties_to: frozenset[str]
    data_classes: frozenset[str]
    purposes: frozenset[str]
    valid_from: date
    valid_to: date | None
    mutual: bool = False
    legal_basis: str = ""

    def in_force(self, day: date) -> bool:
        """``day`` lies within this version's validity."""
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


def _day(value: object, field: str, agreement: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raise AgreementError(f"agreement {agreement}: {field} must be a TOML date (YYYY-MM-DD)")


@dataclass(frozen=True, slots=True)
class AgreementSet:
    """All agreements of a partnership, with the agencies' kinds."""

    agreements: tuple[Agreement, ...]
    agency_kinds: Mapping[str, str]
    partnership: str = ""
    version: int = 0

    @classmethod
    def load(cls, path: Path = EXAMPLE_PATH) -> AgreementSet:
        """Read an agreements TOML file; raise ``AgreementError`` on anything malformed."""
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise AgreementError(f"cannot read agreements file {path}: {exc}") from exc
        return cls.from_mapping(data)

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> AgreementSet:
        """Build from parsed TOML/JSON (the format of ``policies/agreements/example.toml``)."""
        head = data.get("partnership", {})
        if not isinstance(head, Mapping):
            raise AgreementError("[partnership] must be a table")
        out = []
        for raw in data.get("agreement", []):  # type: ignore[union-attr]
            try:
                aid = str(raw["id"])
                out.append(
                    Agreement(
                        id=aid,
                        version=int(raw.get("version", 1)),
                        parties_from=frozenset(raw["from"]),
                        parties_to=frozenset(raw["to"]),
                        data_classes=frozenset(raw["data_classes"]),
                        purposes=frozenset(raw["purposes"]),
                        valid_from=_day(raw["valid_from"], "valid_from", aid),
                        valid_to=_day(raw["valid_to"], "valid_to", aid)
                        if "valid_to" in raw
                        else None,
                        mutual=bool(raw.get("mutual", False)),
                        legal_basis=str(raw.get("legal_basis", "")),
                    )
                )
            except KeyError as exc:
                raise AgreementError(f"agreement is missing {exc}") from exc
        return cls(
            agreements=tuple(out),
            agency_kinds=dict(head.get("agencies", {})),
            partnership=str(head.get("id", "")),
            version=int(head.get("version", 0)),
        )

    def _names(self, agency: str) -> frozenset[str]:
        kind = self.agency_kinds.get(agency)
        return frozenset({agency, f"kind:{kind}"} if kind else {agency})

    def effective(self, day: date) -> list[Agreement]:
        """The version of each agreement in force on ``day`` (the highest version already started)."""
        latest: dict[str, Agreement] = {}
        for a in self.agreements:
            if a.valid_from <= day and (a.id not in latest or a.version > latest[a.id].version):
                latest[a.id] = a
        return [a for a in latest.values() if a.in_force(day)]

    def agreements_allow(
        self, from_agency: str, to_agency: str, data_class: str, purpose: str, at: datetime | date
    ) -> tuple[bool, str | None]:
        """(allowed, agreement id) for ``from_agency`` sharing ``data_class`` with ``to_agency``.

        Outside every agreement in force -> (False, None): the caller refuses with NOMOU.
        """
        day = at.date() if isinstance(at, datetime) else at
        src, dst = self._names(from_agency), self._names(to_agency)
        for a in self.effective(day):
            forward = a.parties_from & src and a.parties_to & dst
            backward = a.mutual and a.parties_from & dst and a.parties_to & src
            if (
                (forward or backward)
                and data_class in a.data_classes
                and any(covers(p, purpose) for p in a.purposes)
            ):
                return True, a.id
        return False, None

    def covers_all(
        self,
        from_agency: str,
        to_agency: str,
        data_classes: Iterable[str],
        purpose: str,
        at: datetime | date,
    ) -> tuple[bool, tuple[str, ...]]:
        """Every patient data class is covered by some agreement; returns the agreement ids used."""
        ids: list[str] = []
        for data_class in sorted(set(data_classes) - NON_PATIENT_CLASSES):
            ok, aid = self.agreements_allow(from_agency, to_agency, data_class, purpose, at)
            if not ok:
                return False, ()
            if aid not in ids:
                ids.append(aid)  # type: ignore[arg-type]
        return True, tuple(ids)


def agreements_allow(
    agreements: AgreementSet,
    from_agency: str,
    to_agency: str,
    data_class: str,
    purpose: str,
    at: datetime | date,
) -> tuple[bool, str | None]:
    """Module-level form of ``AgreementSet.agreements_allow`` (NOMOU when outside every agreement)."""
    return agreements.agreements_allow(from_agency, to_agency, data_class, purpose, at)
