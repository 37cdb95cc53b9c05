"""Fixtures for end-to-end tests: a real gateway process per backend, over real HTTP."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.e2e.server import Gateway, running_gateway
from tests.support.databases import PG_ENV, fresh_database


@contextmanager
def unmigrated_database(backend: str, directory: Path) -> Iterator[str]:
    """A database that exists but has no gateway schema (as an operator's new database would)."""
    if backend != "postgresql":
        path = directory / f"empty_{uuid.uuid4().hex[:10]}.db"
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE unrelated (x INTEGER)")
        conn.close()
        yield f"sqlite:///{path}"
        return
    server = make_url(os.environ[PG_ENV])
    name = f"gw_e2e_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="module")
def gateway(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """One gateway process on a fresh, migrated database, shared by a test module."""
    workdir = tmp_path_factory.mktemp(f"e2e-{backend}")
    with fresh_database(backend, workdir) as url, running_gateway(url, workdir) as running:
        yield running


@pytest.fixture()
def api(gateway: Gateway) -> Iterator[httpx.Client]:
    """An HTTP client for the running gateway's FHIR base."""
    with gateway.client() as client:
        yield client


@pytest.fixture()
def empty_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """A database of this run's own with no gateway schema."""
    with unmigrated_database(backend, tmp_path) as url:
        yield url
