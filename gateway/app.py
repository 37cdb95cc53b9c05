"""The ASGI application: ``create_app`` wires settings, database, keys, routers and error handling."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from sqlalchemy.orm import Session

from adapters.registry import load_adapters
from gateway import __version__, errors
from gateway.audit.checkpoint import run_in_background
from gateway.audit.endpoints import router as audit_router
from gateway.audit.log import AuditLog
from gateway.auth import admin, login
from gateway.auth import endpoints as auth_endpoints
from gateway.auth.keys import KeyStore
from gateway.auth.repository import AuthRepository
from gateway.auth.schemas import Caller
from gateway.auth.server import GatewayAuthorizationServer
from gateway.auth.tokens import TokenService
from gateway.db.migrate import check_migrated
from gateway.db.session import Database
from gateway.export.endpoints import router as export_router
from gateway.fhir.endpoints import router as fhir_router
from gateway.fhir.guard import OPEN, Guard
from gateway.ingest.endpoints import router as ingest_router
from gateway.ingest.mllp import MllpHandler, MllpServer
from gateway.ingest.senders import SenderDirectory
from gateway.ingest.service import IngestService
from gateway.middleware import BodyLimit
from gateway.mpi.endpoints import router as mpi_router
from gateway.outcomes.endpoints import router as outcomes_router
from gateway.placement.directory_endpoints import install as install_placement_directory
from gateway.placement.workflow_matcher import MatcherCandidates
from gateway.placement.workflow_setup import install as install_placement_workflow
from gateway.placement.workflow_setup import workers as placement_workers
from gateway.referral.setup import install as install_referrals
from gateway.referral.setup import worker as referral_worker
from gateway.settings import Settings, load_settings
from gateway.sharing.guard import SharingGuard
from gateway.web import install as install_console
from policies.agreements import AgreementSet
from policies.engine import default_engine
from policies.labelling import label


class UnsafeProductionSettings(RuntimeError):
    """Production settings with demo keys, demo registrations or plain HTTP."""


def check_production(settings: Settings, keys: KeyStore, db: Database) -> None:
    """Refuse to run in production with anything the demo created, or without TLS."""
    problems = []
    if keys.is_demo:
        problems.append(f"the key directory {settings.key_dir} holds demo keys")
    if not settings.base_url.startswith("https://"):
        problems.append("GATEWAY_BASE_URL must be an https:// URL")
    with db.unit_of_work() as session:
        demo = AuthRepository(session).demo_entries()
    if demo:
        problems.append(f"demo registrations are present ({', '.join(demo[:5])})")
    if problems:
        raise UnsafeProductionSettings("refusing to start in production: " + "; ".join(problems))


async def start_mllp(app: FastAPI) -> MllpServer:
    """Start the HL7 v2 MLLP listener next to the HTTP API (optionally with TLS)."""
    settings: Settings = app.state.settings
    tls = None
    if settings.mllp_tls_cert and settings.mllp_tls_key:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(settings.mllp_tls_cert, settings.mllp_tls_key)
    service = IngestService(
        app.state.db,
        settings.fhir_base,
        app.state.adapters,
        labeller=app.state.labeller,
        audit=app.state.audit,
    )
    server = MllpServer(MllpHandler(service, SenderDirectory(app.state.db).lookup), tls=tls)
    app.state.mllp_port = await server.start(settings.mllp_host, settings.mllp_port or 0)
    return server


def guard_factory(settings: Settings) -> Callable[[Session, Caller, Request], Guard]:
    """Build each request's policy enforcement point (policies parsed and validated once, here)."""
    default_engine()  # parse and validate the Cedar policies at start-up: a bad policy stops it
    agreements = (
        AgreementSet.load(settings.agreements_file)
        if settings.agreements_file
        else AgreementSet.load()
    )
    kinds: dict[str, str | None] = {}

    def make(session: Session, caller: Caller, request: Request) -> Guard:
        agency = caller.agency
        if agency and agency not in kinds:
            row = AuthRepository(session).agency(agency)
            kinds[agency] = row.kind if row is not None else None
        return SharingGuard(
            session,
            caller,
            agency_kind=kinds.get(agency) if agency else None,
            agreements=agreements,
            btg_reason=(request.headers.get("x-btg-reason") or "").strip() or None,
            medical_emergency=request.headers.get("x-btg-medical-emergency", "").lower() == "true",
        )

    return make


def create_app(
    settings: Settings | None = None,
    *,
    db: Database | None = None,
    keys: KeyStore | None = None,
    sharing_rules: bool = True,
    background_workers: bool = True,
) -> FastAPI:
    """Build the app; the database must already be migrated (``gateway db upgrade``)."""
    settings = settings or load_settings()
    database = db or Database(settings.database_url)
    check_migrated(database.engine)
    keystore = keys or KeyStore(settings.key_dir)
    keystore.load()
    if settings.production:
        check_production(settings, keystore, database)
    tokens = TokenService(
        keystore,
        issuer=settings.issuer,
        audience=settings.fhir_base,
        lifetime=settings.token_lifetime,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        mllp = await start_mllp(app) if settings.mllp_port else None
        # Notification delivery and placement timers: safe in every replica (claims are row locks).
        running = placement_workers(app) if background_workers else []
        running += [referral_worker(app)] if background_workers else []  # referral timers
        for worker in running:
            worker.start()
        # Audit sequencing and scheduled checkpoints (serialised in the database across replicas).
        sequencer = (
            asyncio.create_task(run_in_background(database, app.state.audit.signer))
            if background_workers
            else None
        )
        yield
        if sequencer is not None:
            sequencer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sequencer
        for worker in running:
            await worker.stop()
        if mllp is not None:
            await mllp.stop()
        if db is None:
            database.dispose()

    app = FastAPI(
        title="Crisis Exchange Gateway",
        version=__version__,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.db = database
    app.state.keys = keystore
    app.state.tokens = tokens
    app.state.auth_server = GatewayAuthorizationServer(tokens, settings.token_url)
    app.state.labeller = label  # DS4P security labels on every write (policies/labelling.py)
    app.state.adapters = load_adapters()  # a broken adapter plugin stops start-up
    # Sharing rules are always on; only the storage-layer test suites switch them off, in code.
    app.state.guard_factory = guard_factory(settings) if sharing_rules else (lambda *_: OPEN)
    errors.install(app)
    app.state.audit = AuditLog.from_settings(settings)
    app.include_router(audit_router)
    app.include_router(auth_endpoints.router)
    app.include_router(login.router)
    app.include_router(admin.router)
    app.include_router(ingest_router)
    app.include_router(mpi_router)
    app.include_router(outcomes_router)
    app.include_router(export_router)  # /fhir/$export…, ahead of the generic FHIR routes
    app.include_router(fhir_router)
    install_placement_directory(
        app
    )  # directory, census and $match, ahead of the generic FHIR routes
    install_placement_workflow(app, candidates=MatcherCandidates(app))  # /placement, /notify
    install_referrals(app)  # /referrals and the FHIR write hooks of referral Tasks
    install_console(app)  # /console: the web console and its static assets
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    return app
