"""The hook through which sharing rules reach every FHIR access path.

:class:`ResourceService` asks its guard before a write, pushes the guard's SQL conditions into every
search (so paging and ``Bundle.total`` stay exact), and passes every resource it returns through
:meth:`Guard.shown` (read, vread, history, search matches, includes, Bundle entries). The default
:class:`OpenGuard` is for trusted internal loaders (migrations, demo data, the agency ingest pipeline,
whose own registration and scopes are checked before it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Table


class Guard(Protocol):
    def search_filter(
        self, rtype: str, table: Table, candidates: Sequence[ColumnElement[bool]] = ()
    ) -> list[ColumnElement[bool]]:
        """SQL conditions on ``fhir_resource`` rows of ``rtype`` a caller may see in a search whose
        own conditions are ``candidates``."""
        ...

    def shown(self, rtype: str, rid: str, content: str, action: str) -> str | None:
        """The JSON the caller may see of one stored resource, or ``None`` when it is withheld."""
        ...

    def check_read(self, rtype: str, rid: str, content: str, action: str) -> str:
        """Like :meth:`shown`, but a refusal raises ``Forbidden`` naming the policies that decided."""
        ...

    def check_write(self, action: str, rtype: str, resource: dict[str, Any]) -> None:
        """Raise ``Forbidden`` unless the caller may ``create``/``update``/``delete`` ``resource``."""
        ...

    def prefetch(self, contents: list[str]) -> None:
        """Get ready to decide these stored resources (e.g. load their patients' facts at once)."""
        ...


class OpenGuard:
    """Everything allowed: for trusted internal writers and tests of the storage layer itself."""

    def search_filter(
        self, rtype: str, table: Table, candidates: Sequence[ColumnElement[bool]] = ()
    ) -> list[ColumnElement[bool]]:
        return []

    def shown(self, rtype: str, rid: str, content: str, action: str) -> str | None:
        return content

    def check_read(self, rtype: str, rid: str, content: str, action: str) -> str:
        return content

    def check_write(self, action: str, rtype: str, resource: dict[str, Any]) -> None:
        return None

    def prefetch(self, contents: list[str]) -> None:
        return None


OPEN = OpenGuard()
