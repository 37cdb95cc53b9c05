"""One person across agencies, and their crisis episodes.

Patient records are grouped into persons through the identity links the MPI confirmed (``linked``,
automatic or by a person; ``review`` and ``rejected`` pairs stay apart), transitively: if the police
record is linked to the hospital's and the hospital's to the authority's, all three are one person.

A crisis *episode* is a run of one person's contacts each starting within
:data:`EPISODE_GAP_SECONDS` of the one before: the police call, the emergency visit it ended in and
the placement request that followed are one crisis, not three.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from gateway.outcomes.facts import Contact

EPISODE_GAP_SECONDS = 24 * 3600.0
MAX_LINK_HOPS = 10


class Persons:
    """Union-find over Patient ids: ``person(id)`` is the same for every record of one person."""

    def __init__(self) -> None:
        self._parent: dict[str, str] = {}

    def person(self, pid: str) -> str:
        parent = self._parent.setdefault(pid, pid)
        if parent != pid:
            parent = self._parent[pid] = self.person(parent)
        return parent

    def known(self) -> list[str]:
        """Every Patient id seen: the contacts' records and every record linked to them."""
        return sorted(self._parent)

    def join(self, a: str, b: str) -> None:
        ra, rb = self.person(a), self.person(b)
        if ra != rb:
            low, high = sorted((ra, rb))
            self._parent[high] = low


def link_persons(
    patient_ids: Iterable[str], links_of: Callable[[Sequence[str]], list[tuple[str, str]]]
) -> Persons:
    """Persons for ``patient_ids``, following links through records outside the set too."""
    persons = Persons()
    seen = set(patient_ids)
    for pid in seen:
        persons.person(pid)
    frontier = sorted(seen)
    for _ in range(MAX_LINK_HOPS):
        if not frontier:
            break
        found: set[str] = set()
        for a, b in links_of(frontier):
            persons.join(a, b)
            found.update((a, b))
        frontier = sorted(found - seen)
        seen |= found
    return persons


@dataclass(frozen=True, slots=True)
class Episode:
    person: str
    start: float


def episodes(contacts: Iterable[Contact], persons: Persons) -> list[Episode]:
    """Every person's crisis episodes, ordered by person then start."""
    by_person: dict[str, list[float]] = defaultdict(list)
    for c in contacts:
        by_person[persons.person(c.patient_id)].append(c.at)
    out = []
    for person in sorted(by_person):
        last: float | None = None
        for at in sorted(by_person[person]):
            if last is None or at - last > EPISODE_GAP_SECONDS:
                out.append(Episode(person, at))
            last = at
    return out


def next_episode_gaps(all_episodes: Sequence[Episode]) -> dict[Episode, float | None]:
    """For each episode, the seconds until the same person's next episode (None if none)."""
    out: dict[Episode, float | None] = {}
    for i, ep in enumerate(all_episodes):
        following = all_episodes[i + 1] if i + 1 < len(all_episodes) else None
        same = following is not None and following.person == ep.person
        out[ep] = (following.start - ep.start) if same and following else None
    return out
