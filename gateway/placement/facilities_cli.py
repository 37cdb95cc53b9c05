"""``gateway facilities import FILE [--state TX] [--database-url URL]``: load the HIFLD directory.

Writes each open psychiatric hospital of the HIFLD "Hospitals" CSV as an Organization, a Location and
(only when it does not exist yet) a default adult psychiatric unit, with PUTs on stable ids in one
transaction, so running it twice changes nothing. Fields the import owns (name, address,
coordinates, identifiers) are refreshed; everything else on existing resources is kept, and so are
existing units with the criteria and census their facilities maintain. Each facility is also
registered as an agency (kind ``facility``, id = the Organization id) so its users can be added
and may edit their units' criteria.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from tqdm import tqdm

from gateway.auth.registry import Registry
from gateway.db.migrate import check_migrated
from gateway.db.session import Database
from gateway.fhir.errors import FhirError, NotFound
from gateway.fhir.service import ResourceService
from gateway.placement.directory_hifld import BadFile, facility_resources, read_hifld

facilities = typer.Typer(help="The psychiatric facility directory", no_args_is_help=True)
_SERVER_META = ("versionId", "lastUpdated")


@dataclass(slots=True)
class ImportSummary:
    """What one import did."""

    facilities: int = 0
    written: Counter[str] = field(default_factory=Counter)
    unchanged: Counter[str] = field(default_factory=Counter)
    kept_units: int = 0
    agencies: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def lines(self) -> list[str]:
        out = [f"{self.facilities} open psychiatric facilities imported"]
        for rtype in ("Organization", "Location", "HealthcareService"):
            out.append(
                f"  {rtype:<18} {self.written[rtype]:>5} written, {self.unchanged[rtype]:>5} unchanged"
            )
        out.append(f"  units kept as their facilities left them: {self.kept_units}")
        out.append(f"  agencies registered: {self.agencies}")
        if self.skipped:
            out.append(
                "rows left out: "
                + ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items()))
            )
        return out


def _merged(svc: ResourceService, doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` laid over the stored resource: the import's fields win, the rest is kept."""
    try:
        stored = svc.read(doc["resourceType"], doc["id"])
    except (NotFound, FhirError):
        return doc
    existing = orjson.loads(stored.content or "{}")
    meta = {k: v for k, v in (existing.get("meta") or {}).items() if k not in _SERVER_META}
    meta.update(doc.get("meta") or {})
    merged = {**existing, **doc}
    merged.pop("meta", None)
    if meta:
        merged["meta"] = meta
    return merged


def _exists(svc: ResourceService, rtype: str, rid: str) -> bool:
    try:
        svc.read(rtype, rid)
    except FhirError:
        return False
    return True


def import_rows(
    svc: ResourceService,
    rows: Iterable[dict[str, str]],
    *,
    registry: Registry | None = None,
    summary: ImportSummary | None = None,
) -> ImportSummary:
    """Write the directory resources of ``rows`` on ``svc``'s session (the caller commits)."""
    summary = summary or ImportSummary()
    for row in rows:
        org, location, unit = facility_resources(row)
        for doc in (org, location):
            stored = svc.update(doc["resourceType"], doc["id"], _merged(svc, doc))
            (summary.written if stored.changed else summary.unchanged)[doc["resourceType"]] += 1
        if _exists(svc, "HealthcareService", unit["id"]):
            summary.kept_units += 1
            summary.unchanged["HealthcareService"] += 1
        else:
            svc.update("HealthcareService", unit["id"], unit)
            summary.written["HealthcareService"] += 1
        if registry is not None and registry.repo.agency(org["id"]) is None:
            registry.add_agency(org["id"], "facility", org["name"][:200])
            summary.agencies += 1
        summary.facilities += 1
    return summary


def run_import(
    path: Path,
    database_url: str,
    fhir_base: str,
    *,
    states: set[str] | None = None,
    agencies: bool = True,
    progress: bool = True,
) -> ImportSummary:
    """Read ``path`` and import it into ``database_url`` in one transaction."""
    from policies.labelling import label

    rows, skipped = read_hifld(path, states)
    db = Database(database_url, pool_size=1)
    summary = ImportSummary(skipped=skipped)
    try:
        check_migrated(db.engine)
        with db.unit_of_work() as session:
            svc = ResourceService(session, fhir_base, labeller=label)
            bar = tqdm(rows, desc="facilities", unit="fac", disable=not progress, leave=False)
            import_rows(svc, bar, registry=Registry(session) if agencies else None, summary=summary)
    finally:
        db.dispose()
    return summary


@facilities.command("import")
def import_command(
    file: Annotated[
        Path,
        typer.Argument(
            help="HIFLD hospitals CSV (e.g. ../shared/data/facilities/hifld_hospitals.csv)"
        ),
    ],
    state: Annotated[
        list[str] | None, typer.Option("--state", help="only this state (repeat for several)")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="default GATEWAY_DATABASE_URL")
    ] = None,
    agencies: Annotated[
        bool, typer.Option("--agencies/--no-agencies", help="register each facility as an agency")
    ] = True,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
) -> None:
    """Load the open psychiatric hospitals of a HIFLD hospitals CSV (idempotent)."""
    from sqlalchemy.exc import OperationalError

    from gateway.db.migrate import DatabaseNotMigrated
    from gateway.settings import load_settings

    settings = load_settings().with_overrides(database_url=database_url)
    if not file.is_file():
        typer.echo(f"error: {file} is not a file", err=True)
        raise typer.Exit(code=2)
    try:
        summary = run_import(
            file,
            settings.database_url,
            settings.fhir_base,
            states={s.upper() for s in state} if state else None,
            agencies=agencies,
            progress=progress,
        )
    except (BadFile, DatabaseNotMigrated) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    except FhirError as exc:
        typer.echo(f"error: {exc.diagnostics}", err=True)
        raise typer.Exit(code=2) from None
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0][:300] if exc.orig else type(exc).__name__
        typer.echo(f"error: cannot use the database: {reason}", err=True)
        raise typer.Exit(code=2) from None
    for line in summary.lines():
        typer.echo(line)


def register(app: typer.Typer) -> None:
    """Add ``gateway facilities …`` to the main CLI."""
    app.add_typer(facilities, name="facilities")
