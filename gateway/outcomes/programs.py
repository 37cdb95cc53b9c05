"""Programs and their yearly people-served targets.

A partnership can run more than one program over the same gateway (a co-responder team, a crisis
stabilisation unit); each has its own yearly target and the time zone its months are counted in. They
are read from a TOML file named by ``GATEWAY_PROGRAMS_FILE``::

    [programs.amarillo]
    name = "Amarillo crisis response"
    people_served_target = 191      # people per year
    timezone = "America/Chicago"    # months and date-only bounds are local to the program
    default = true                  # the program shown when none is asked for

Without a file there is one program, ``default``, whose target is ``GATEWAY_PEOPLE_SERVED_TARGET``
(none when unset) and whose months are UTC.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.settings import Settings

DEFAULT_PROGRAM = "default"
_KEYS = frozenset({"name", "people_served_target", "timezone", "default"})


class ProgramsError(ValueError):
    """The programs file cannot be read or says something impossible."""


@dataclass(frozen=True, slots=True)
class Program:
    """One program: its key, the name shown, its yearly target and its time zone."""

    key: str
    name: str
    people_served_target: int | None
    timezone: str = "UTC"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.key,
            "name": self.name,
            "peopleServedTargetPerYear": self.people_served_target,
            "timezone": self.timezone,
        }


@dataclass(frozen=True, slots=True)
class Programs:
    """Every configured program, and which one is shown by default."""

    by_key: dict[str, Program]
    default: str

    def get(self, key: str | None) -> Program | None:
        return self.by_key.get(key or self.default)


def _program(key: str, raw: Any) -> tuple[Program, bool]:
    where = f"[programs.{key}]"
    if not isinstance(raw, dict):
        raise ProgramsError(f"{where} must be a table")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise ProgramsError(f"{where} has unknown keys: {', '.join(unknown)}")
    target = raw.get("people_served_target")
    if target is not None and (
        isinstance(target, bool) or not isinstance(target, int) or target < 1
    ):
        raise ProgramsError(f"{where} people_served_target must be a whole number above 0")
    tz = raw.get("timezone", "UTC")
    try:
        ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError):
        raise ProgramsError(f"{where} timezone {str(tz)[:40]!r} is not an IANA time zone") from None
    name = raw.get("name", key)
    if not isinstance(name, str) or not name.strip():
        raise ProgramsError(f"{where} name must be text")
    return Program(key, name.strip(), target, str(tz)), bool(raw.get("default", False))


def parse_programs(text: str) -> Programs:
    """Programs from the TOML text of a programs file."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProgramsError(f"the programs file is not valid TOML ({exc})") from None
    table = doc.get("programs")
    if not isinstance(table, dict) or not table:
        raise ProgramsError("the programs file needs at least one [programs.<id>] table")
    programs: dict[str, Program] = {}
    defaults = []
    for key, raw in table.items():
        program, is_default = _program(key, raw)
        programs[key] = program
        if is_default:
            defaults.append(key)
    if len(defaults) > 1:
        raise ProgramsError(f"only one program can be the default ({', '.join(defaults)})")
    return Programs(programs, defaults[0] if defaults else next(iter(programs)))


def load_programs(settings: Settings) -> Programs:
    """The programs of this gateway: the programs file, else the single default program."""
    path: Path | None = settings.programs_file
    if path is None:
        target = settings.people_served_target
        program = Program(DEFAULT_PROGRAM, "Crisis program", target)
        return Programs({DEFAULT_PROGRAM: program}, DEFAULT_PROGRAM)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProgramsError(f"the programs file cannot be read ({exc.strerror})") from None
    return parse_programs(text)
