"""Runtime settings, read from ``GATEWAY_*`` environment variables.

The defaults are for the embedded demo (SQLite under ``var/``). Production is chosen with
``GATEWAY_ENV=production``; later checks (demo keys, demo users) key off :attr:`Settings.production`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_DATABASE_URL = "sqlite:///var/gateway.db"


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SystemExit(f"{name} must be a whole number, got {raw!r}") from exc


def _env_path(name: str) -> Path | None:
    raw = os.environ.get(name)
    return Path(raw) if raw else None


@dataclass(frozen=True)
class Settings:
    """Everything the service needs to start; immutable once built."""

    database_url: str = DEFAULT_DATABASE_URL
    base_url: str = "http://127.0.0.1:8000"
    env: str = "development"
    max_body_bytes: int = 10 * 1024 * 1024
    default_page_size: int = 50
    max_page_size: int = 1000
    var_dir: Path = field(default_factory=lambda: Path("var"))
    key_dir: Path = field(default_factory=lambda: Path("var/keys"))
    token_lifetime: int = 300
    session_minutes: int = 30
    login_max_failures: int = 5
    login_lockout_minutes: int = 15
    mllp_port: int | None = None
    agreements_file: Path | None = None
    mllp_host: str = "127.0.0.1"
    mllp_tls_cert: Path | None = None
    mllp_tls_key: Path | None = None
    # Program dashboard: a TOML file of programs and their yearly people-served targets
    # (docs/outcomes.md), or one yearly target for the default program.
    programs_file: Path | None = None
    people_served_target: int | None = None

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def fhir_base(self) -> str:
        return self.base_url.rstrip("/") + "/fhir"

    @property
    def token_url(self) -> str:
        return self.base_url.rstrip("/") + "/auth/token"

    @property
    def issuer(self) -> str:
        return self.base_url.rstrip("/")

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with some values replaced (CLI flags win over the environment)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def load_settings() -> Settings:
    """Build settings from the environment."""
    var_dir = Path(os.environ.get("GATEWAY_VAR_DIR", "var"))
    return Settings(
        database_url=os.environ.get("GATEWAY_DATABASE_URL", DEFAULT_DATABASE_URL),
        base_url=os.environ.get("GATEWAY_BASE_URL", "http://127.0.0.1:8000"),
        env=os.environ.get("GATEWAY_ENV", "development"),
        max_body_bytes=_env_int("GATEWAY_MAX_BODY_BYTES", 10 * 1024 * 1024),
        default_page_size=_env_int("GATEWAY_DEFAULT_PAGE_SIZE", 50),
        max_page_size=_env_int("GATEWAY_MAX_PAGE_SIZE", 1000),
        var_dir=var_dir,
        key_dir=Path(os.environ.get("GATEWAY_KEY_DIR") or var_dir / "keys"),
        token_lifetime=min(_env_int("GATEWAY_TOKEN_LIFETIME", 300), 300),
        session_minutes=_env_int("GATEWAY_SESSION_MINUTES", 30),
        login_max_failures=_env_int("GATEWAY_LOGIN_MAX_FAILURES", 5),
        login_lockout_minutes=_env_int("GATEWAY_LOGIN_LOCKOUT_MINUTES", 15),
        mllp_port=_env_int("GATEWAY_MLLP_PORT", 0) or None,
        agreements_file=_env_path("GATEWAY_AGREEMENTS_FILE"),
        mllp_host=os.environ.get("GATEWAY_MLLP_HOST", "127.0.0.1"),
        mllp_tls_cert=_env_path("GATEWAY_MLLP_TLS_CERT"),
        mllp_tls_key=_env_path("GATEWAY_MLLP_TLS_KEY"),
        programs_file=_env_path("GATEWAY_PROGRAMS_FILE"),
        people_served_target=_env_int("GATEWAY_PEOPLE_SERVED_TARGET", 0) or None,
    )
