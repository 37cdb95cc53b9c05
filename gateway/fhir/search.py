"""Run a parsed search: the page, the total, and the ``_include`` / ``_revinclude`` resources."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.fhir.errors import Issue
from gateway.fhir.guard import OPEN, Guard
from gateway.fhir.search_params import params_for
from gateway.fhir.search_parse import Include, SearchRequest
from gateway.fhir.search_sql import T_REF, QueryBuilder, R


@dataclass(slots=True)
class Hit:
    """One resource in a search result, as stored JSON."""

    rtype: str
    rid: str
    content: str
    mode: str  # "match" or "include"


@dataclass(slots=True)
class SearchResult:
    total: int | None
    hits: list[Hit] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    has_more: bool = False


class SearchRunner:
    """Executes searches against one session."""

    def __init__(self, session: Session, base_url: str, guard: Guard = OPEN) -> None:
        self.session = session
        self.builder = QueryBuilder(base_url)
        self.guard = guard

    def run(self, req: SearchRequest) -> SearchResult:
        # Sharing rules as SQL, so paging and Bundle.total count only what the caller may see.
        extra = self.guard.search_filter(req.rtype, R, self.builder.where(req))
        total: int | None = None
        if req.total != "none" or req.summary == "count" or req.count == 0:
            total = int(self.session.execute(self.builder.count_query(req, extra)).scalar_one())
        result = SearchResult(total=total, warnings=list(req.warnings))
        if req.summary == "count" or req.count == 0:
            return result
        probe = req.count + 1
        query = self.builder.page_query(req, extra).limit(probe)
        rows = self.session.execute(query).all()
        result.has_more = len(rows) > req.count
        rows = rows[: req.count]
        page_pks = [r[0] for r in rows]
        self.guard.prefetch([r[2] for r in rows])
        result.hits = [
            Hit(req.rtype, r[1], shown, "match")
            for r in rows
            if (shown := self.guard.shown(req.rtype, r[1], r[2], "search")) is not None
        ]
        seen = {(req.rtype, r[1]) for r in rows}
        for inc in req.includes:
            self._add(result, seen, self._included(inc, page_pks))
        ids = [r[1] for r in rows]
        for inc in req.revincludes:
            self._add(result, seen, self._revincluded(req.rtype, inc, ids))
        return result

    def _add(
        self, result: SearchResult, seen: set[tuple[str, str]], rows: list[tuple[str, str, str]]
    ) -> None:
        self.guard.prefetch([content for _, _, content in rows if content is not None])
        for rtype, rid, content in rows:
            if (rtype, rid) not in seen and content is not None:
                seen.add((rtype, rid))
                shown = self.guard.shown(rtype, rid, content, "search")
                if shown is not None:
                    result.hits.append(Hit(rtype, rid, shown, "include"))

    def _included(self, inc: Include, page_pks: list[int]) -> list[tuple[str, str, str]]:
        if not page_pks:
            return []
        refs = select(T_REF.c.target_type, T_REF.c.target_id).where(
            T_REF.c.res_pk.in_(page_pks), T_REF.c.target_id.is_not(None)
        )
        if inc.param != "*":
            refs = refs.where(T_REF.c.param == inc.param)
        if inc.target_type:
            refs = refs.where(T_REF.c.target_type == inc.target_type)
        targets: dict[str, set[str]] = {}
        for ttype, tid in self.session.execute(refs):
            targets.setdefault(ttype, set()).add(tid)
        out: list[tuple[str, str, str]] = []
        for ttype, tids in targets.items():
            rows = self.session.execute(
                select(R.c.rtype, R.c.res_id, R.c.content).where(
                    R.c.rtype == ttype, R.c.res_id.in_(sorted(tids)), R.c.deleted.is_(False)
                )
            )
            out.extend((r[0], r[1], r[2]) for r in rows)
        return out

    def _revincluded(self, rtype: str, inc: Include, ids: list[str]) -> list[tuple[str, str, str]]:
        if not ids:
            return []
        params = (
            [p.name for p in params_for(inc.source_type).values() if p.type == "reference"]
            if inc.param == "*"
            else [inc.param]
        )
        sub = select(T_REF.c.res_pk).where(
            T_REF.c.rtype == inc.source_type,
            T_REF.c.param.in_(params),
            T_REF.c.target_type == rtype,
            T_REF.c.target_id.in_(ids),
        )
        rows = self.session.execute(
            select(R.c.rtype, R.c.res_id, R.c.content)
            .where(R.c.pk.in_(sub), R.c.deleted.is_(False))
            .order_by(R.c.pk)
        )
        return [(r[0], r[1], r[2]) for r in rows]
