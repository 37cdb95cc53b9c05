"""``gateway ingest ADAPTER FILE... --client-id ID``: bulk loads with a progress bar and a summary."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

from adapters.base import SourceInfo
from adapters.registry import AdapterLoadError, load_adapters
from gateway.audit.events import AuditContext
from gateway.audit.log import AuditLog
from gateway.auth.repository import AuthRepository
from gateway.auth.scopes import covers, parse_scopes
from gateway.db.session import Database
from gateway.fhir.errors import FhirError, Forbidden
from gateway.ingest.senders import add_sender
from gateway.ingest.service import IngestResult, IngestService, RecordResult
from gateway.settings import load_settings
from policies.labelling import label

_BY_SUFFIX = {
    ".hl7": "x-application/hl7-v2+er7",
    ".er7": "x-application/hl7-v2+er7",
    ".csv": "text/csv",
}


def _media_type(path: Path, accepted: tuple[str, ...], forced: str | None) -> str:
    if forced:
        return forced
    guess = _BY_SUFFIX.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or ""
    if guess in accepted:
        return guess
    if guess == "application/json" and "application/fhir+json" in accepted:
        return "application/fhir+json"
    return accepted[0]


def ingest(
    adapter: Annotated[str, typer.Argument(help="adapter name, e.g. hl7v2, police-rms, bha, fhir")],
    files: Annotated[
        list[Path], typer.Argument(help="files to load", exists=True, dir_okay=False, readable=True)
    ],
    client_id: Annotated[
        str, typer.Option("--client-id", help="the registered agency system the records come from")
    ],
    media_type: Annotated[
        str | None,
        typer.Option("--media-type", help="override the media type guessed from the file name"),
    ] = None,
    database_url: Annotated[str | None, typer.Option("--database-url")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar")] = False,
) -> None:
    """Load agency records through an adapter; exits 1 when any record was refused."""
    settings = load_settings().with_overrides(database_url=database_url)
    try:
        adapters = load_adapters()
    except AdapterLoadError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    db = Database(settings.database_url, pool_size=2)
    try:
        with db.unit_of_work() as session:
            client = AuthRepository(session).client(client_id)
        if client is None or not client.enabled:
            typer.echo(f"error: client {client_id} is not registered or is disabled", err=True)
            raise typer.Exit(code=2)
        scopes = parse_scopes(client.scope)
        source = SourceInfo(agency=client.agency_id, client_id=client.client_id)

        def authorize(interaction: str, rtype: str) -> None:
            if not covers(scopes, interaction, rtype):
                raise Forbidden(f"client {client_id} may not '{interaction}' {rtype}")

        service = IngestService(
            db,
            settings.fhir_base,
            adapters,
            labeller=label,
            audit=AuditLog.from_settings(settings),
        )
        ctx = AuditContext(client_id=client.client_id, agency=client.agency_id)
        if adapter not in adapters:
            typer.echo(
                f"error: no adapter named {adapter!r} (installed: {', '.join(sorted(adapters))})",
                err=True,
            )
            raise typer.Exit(code=2)
        result = IngestResult()
        for path in files:
            kind = _media_type(path, adapters[adapter].media_types, media_type)
            try:
                records = service.parse(adapter, path.read_bytes(), kind)
            except FhirError as exc:
                typer.echo(f"{path.name}: refused: {exc.issues[0].diagnostics}", err=True)
                result.records.append(_refused_file(path))
                continue
            bar = tqdm(records, desc=path.name, unit="rec", disable=quiet, leave=False)
            for record in bar:
                rec = service.store_record(adapter, record, source, authorize, ctx)
                result.records.append(rec)
                if rec.outcome == "refused":
                    tqdm.write(f"{path.name}: {rec.issues[0].diagnostics}")
    finally:
        db.dispose()
    typer.echo(
        f"stored {result.count('stored')}, updated {result.count('updated')}, "
        f"unchanged {result.count('unchanged')}, refused {result.refused}"
    )
    if result.refused:
        raise typer.Exit(code=1)


def _refused_file(path: Path) -> RecordResult:
    return RecordResult(path.name, 0, "refused")


mllp = typer.Typer(help="HL7 v2 senders over MLLP", no_args_is_help=True)


@mllp.command("add-sender")
def add_mllp_sender(
    facility: Annotated[str, typer.Option(help="sending facility as in MSH-4 (namespace id)")],
    network: Annotated[str, typer.Option(help="CIDR block(s) it connects from, comma-separated")],
    client_id: Annotated[
        str, typer.Option("--client-id", help="the registered client it speaks for")
    ],
    database_url: Annotated[str | None, typer.Option("--database-url")] = None,
) -> None:
    """Accept HL7 v2 messages from ``facility`` when they come from ``network``."""
    settings = load_settings().with_overrides(database_url=database_url)
    db = Database(settings.database_url, pool_size=1)
    try:
        with db.unit_of_work() as session:
            add_sender(session, facility, network, client_id)
    except FhirError as exc:
        typer.echo(f"error: {exc.diagnostics}", err=True)
        raise typer.Exit(code=2) from None
    finally:
        db.dispose()
    typer.echo(f"MLLP sender {facility} ({network}) registered for client {client_id}")


def register(app: typer.Typer) -> None:
    """Attach ``gateway ingest`` and ``gateway mllp`` to the top-level command."""
    app.command("ingest")(ingest)
    app.add_typer(mllp, name="mllp")
