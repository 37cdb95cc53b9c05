"""The ASGI application: ``create_app`` wires settings, database, routers and error handling."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from gateway import __version__, errors
from gateway.db.migrate import check_migrated
from gateway.db.session import Database
from gateway.fhir.endpoints import router as fhir_router
from gateway.middleware import BodyLimit
from gateway.settings import Settings, load_settings


def create_app(settings: Settings | None = None, *, db: Database | None = None) -> FastAPI:
    """Build the app; the database must already be migrated (``gateway db upgrade``)."""
    settings = settings or load_settings()
    database = db or Database(settings.database_url)
    check_migrated(database.engine)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
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
    app.state.labeller = None
    errors.install(app)
    app.include_router(fhir_router)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    return app
