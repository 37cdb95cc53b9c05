"""The database handle the app keeps: one engine, sessions per unit of work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from gateway.db.engine import make_engine


class Database:
    """Owns the engine; hands out sessions that commit only when the unit of work succeeds."""

    def __init__(self, url: str, *, pool_size: int = 20) -> None:
        self.url = url
        self.engine: Engine = make_engine(url, pool_size=pool_size)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False, autoflush=True)

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """A transaction: committed on normal exit, rolled back on any exception."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
