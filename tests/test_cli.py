"""The ``gateway`` command line, in-process: operator mistakes end in one clear line, not a traceback."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Protocol

import pytest
from typer.testing import CliRunner, Result

from gateway.cli import app
from gateway.db.migrate import check_migrated
from gateway.db.session import Database

UNREACHABLE_PG = "postgresql+psycopg://gateway:s3cret@127.0.0.1:1/gateway"


class Invoke(Protocol):
    def __call__(self, *args: str, **env: str) -> Result: ...


@pytest.fixture()
def invoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """Run the CLI with a clean ``GATEWAY_*`` environment; serving is never really started."""

    def no_server(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the command tried to start serving")

    monkeypatch.setattr("uvicorn.run", no_server)
    env = {
        "GATEWAY_DATABASE_URL": None,
        "GATEWAY_BASE_URL": None,
        "GATEWAY_ENV": None,
        "GATEWAY_KEY_DIR": str(tmp_path / "keys"),
    }

    def run(*args: str, **extra_env: str) -> Result:
        return CliRunner().invoke(app, list(args), env={**env, **extra_env})

    return run


def _sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def _is_migrated(url: str) -> bool:
    database = Database(url, pool_size=1)
    try:
        check_migrated(database.engine)
        return True
    except RuntimeError:
        return False
    finally:
        database.dispose()


def _clean_failure(result: Result) -> str:
    """The command failed with exit code 2 and an ``error:`` line; return that output."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert result.output.startswith("error: ")
    return result.output


def test_db_upgrade_creates_the_schema_and_can_run_again(invoke: Invoke, tmp_path: Path) -> None:
    url = _sqlite_url(tmp_path / "new" / "gateway.db")
    for _ in range(2):
        result = invoke("db", "upgrade", "--database-url", url)
        assert result.exit_code == 0, result.output
        assert "latest revision" in result.output
    assert _is_migrated(url)


def test_db_upgrade_reads_the_url_from_the_environment(invoke: Invoke, tmp_path: Path) -> None:
    url = _sqlite_url(tmp_path / "from-env.db")
    result = invoke("db", "upgrade", GATEWAY_DATABASE_URL=url)
    assert result.exit_code == 0, result.output
    assert _is_migrated(url)


def test_serve_refuses_an_unmigrated_database(invoke: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE unrelated (x INTEGER)")
    conn.close()
    output = _clean_failure(invoke("serve", "--database-url", _sqlite_url(path)))
    assert "revision none" in output
    assert "gateway db upgrade" in output


def test_serve_does_not_create_a_database_at_a_mistyped_path(
    invoke: Invoke, tmp_path: Path
) -> None:
    missing = tmp_path / "typo" / "gatway.db"
    output = _clean_failure(invoke("serve", "--database-url", _sqlite_url(missing)))
    assert "there is no database" in output and "gateway db upgrade" in output
    assert not missing.parent.exists()


@pytest.mark.parametrize("command", [("db", "upgrade"), ("serve",), ("demo", "--no-serve")])
def test_unreachable_postgresql_is_one_clear_line(invoke: Invoke, command: tuple[str, ...]) -> None:
    output = _clean_failure(invoke(*command, "--database-url", UNREACHABLE_PG))
    assert (
        "cannot reach the database postgresql+psycopg://gateway:***@127.0.0.1:1/gateway" in output
    )
    assert "s3cret" not in output


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not a url", "not a SQLAlchemy URL"),
        ("postgres://gateway@127.0.0.1/gateway", "unsupported database URL"),
    ],
)
def test_malformed_database_urls_are_explained(invoke: Invoke, url: str, expected: str) -> None:
    output = _clean_failure(invoke("db", "upgrade", "--database-url", url))
    assert expected in output
    assert "postgresql+psycopg://" in output  # says what a good URL looks like


def test_demo_loads_without_serving_and_marks_its_keys(invoke: Invoke, tmp_path: Path) -> None:
    url = _sqlite_url(tmp_path / "demo.db")
    result = invoke("demo", "--no-serve", "--database-url", url)
    assert result.exit_code == 0, result.output
    assert "Patient" in result.output and "starting" not in result.output
    assert (tmp_path / "keys" / "DEMO-KEYS-DO-NOT-USE-IN-PRODUCTION").exists()


def test_demo_refuses_to_run_in_production(invoke: Invoke, tmp_path: Path) -> None:
    url = _sqlite_url(tmp_path / "prod.db")
    output = _clean_failure(
        invoke("demo", "--no-serve", "--database-url", url, GATEWAY_ENV="production")
    )
    assert "GATEWAY_ENV=production" in output
    assert not (tmp_path / "prod.db").exists()


def test_serve_in_production_refuses_plain_http_in_one_line(invoke: Invoke, tmp_path: Path) -> None:
    url = _sqlite_url(tmp_path / "prod.db")
    assert invoke("db", "upgrade", "--database-url", url).exit_code == 0
    output = _clean_failure(invoke("serve", "--database-url", url, GATEWAY_ENV="production"))
    assert "refusing to start in production" in output and "https://" in output
