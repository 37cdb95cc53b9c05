"""Who is calling: the resolved caller that policy and audit code receive."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.auth.scopes import Scope, covers, parse_scopes


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated party behind a request."""

    client_id: str
    agency: str | None = None
    role: str | None = None
    user: str | None = None
    purposes: tuple[str, ...] = ()
    scope_text: str = ""
    token_id: str | None = None
    scopes: tuple[Scope, ...] = field(default=())

    @classmethod
    def with_scope(cls, client_id: str, scope_text: str, **kw: object) -> Caller:
        return cls(
            client_id=client_id, scope_text=scope_text, scopes=parse_scopes(scope_text), **kw
        )  # type: ignore[arg-type]

    def may(self, interaction: str, resource_type: str) -> bool:
        return covers(self.scopes, interaction, resource_type)
