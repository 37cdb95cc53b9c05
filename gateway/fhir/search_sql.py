"""Build the SQL for a parsed search over the index tables (HAPI-style: one semi-join per criterion).

Date comparisons follow R4 search §3.1.1.4.5 over ranges; numbers honour the precision of the query
value (``100`` means [99.5, 100.5)); strings match case- and accent-insensitively from the start.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from sqlalchemy import ColumnElement, Select, and_, false, func, not_, or_, select
from sqlalchemy.sql.elements import ColumnClause

from gateway.db.tables import (
    DateIndex,
    PositionIndex,
    QuantityIndex,
    ReferenceIndex,
    ResourceRow,
    StringIndex,
    TokenIndex,
)
from gateway.fhir.dates import BadDate, date_range
from gateway.fhir.errors import InvalidRequest
from gateway.fhir.indexing import normalize, parse_reference
from gateway.fhir.search_params import SearchParam
from gateway.fhir.search_parse import MDM, PREFIXES, Criterion, SearchRequest
from gateway.mpi.search import linked_ids

R = ResourceRow.__table__  # type: ignore[attr-defined]
T_TOKEN = TokenIndex.__table__  # type: ignore[attr-defined]
T_STRING = StringIndex.__table__  # type: ignore[attr-defined]
T_DATE = DateIndex.__table__  # type: ignore[attr-defined]
T_REF = ReferenceIndex.__table__  # type: ignore[attr-defined]
T_QTY = QuantityIndex.__table__  # type: ignore[attr-defined]
T_POS = PositionIndex.__table__  # type: ignore[attr-defined]

_TABLE = {
    "token": T_TOKEN,
    "uri": T_TOKEN,
    "string": T_STRING,
    "date": T_DATE,
    "reference": T_REF,
    "quantity": T_QTY,
    "number": T_QTY,
}
KM_PER_DEGREE = 111.32


def _prefix(raw: str) -> tuple[str, str]:
    if len(raw) > 2 and raw[:2] in PREFIXES:
        return raw[:2], raw[2:]
    return "eq", raw


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class QueryBuilder:
    """Translate :class:`SearchRequest` criteria into SQL conditions on ``fhir_resource``."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._mdm_count = 0  # each :mdm value's link query gets a CTE name of its own

    def where(
        self, req: SearchRequest, table: ColumnClause | None = None
    ) -> list[ColumnElement[bool]]:
        res = R if table is None else table
        conds: list[ColumnElement[bool]] = [res.c.rtype == req.rtype, res.c.deleted.is_(False)]
        if req.after_id is not None:
            conds.append(res.c.res_id > req.after_id)
        for crit in req.criteria:
            conds.append(self.criterion(req.rtype, crit, res))
        return conds

    def criterion(self, rtype: str, crit: Criterion, res: ColumnClause) -> ColumnElement[bool]:
        param = crit.param
        if crit.modifier == "missing":
            return self._missing(rtype, param, res, crit.values[0] == "true")
        if crit.chain is not None:
            return self._chain(rtype, crit, res)
        if param.name == "_id":
            cond = res.c.res_id.in_(list(crit.values))
            return not_(cond) if crit.modifier == "not" else cond
        if param.name == "_lastUpdated":
            return or_(
                *[
                    self._date_cond(v, res.c.last_updated, res.c.last_updated, crit)
                    for v in crit.values
                ]
            )
        if param.name == "near":
            return self._near(rtype, crit, res)
        table = _TABLE[param.type]
        options = [self._value_cond(param, crit.modifier, v, table, crit) for v in crit.values]
        sub = select(table.c.res_pk).where(
            table.c.rtype == rtype, table.c.param == param.name, or_(*options)
        )
        if crit.modifier == "not":
            return not_(res.c.pk.in_(sub))
        return res.c.pk.in_(sub)

    def _missing(
        self, rtype: str, param: SearchParam, res: ColumnClause, missing: bool
    ) -> ColumnElement[bool]:
        table = T_POS if param.name == "near" else _TABLE[param.type]
        sub = select(table.c.res_pk).where(table.c.rtype == rtype)
        if param.name != "near":
            sub = sub.where(table.c.param == param.name)
        present = res.c.pk.in_(sub)
        return not_(present) if missing else present

    def _value_cond(
        self,
        param: SearchParam,
        modifier: str | None,
        raw: str,
        table: ColumnClause,
        crit: Criterion,
    ) -> ColumnElement[bool]:
        kind = param.type
        if kind in ("token", "uri"):
            return self._token(raw, table, kind)
        if kind == "string":
            if modifier == "exact":
                return table.c.exact == raw
            needle = _like_escape(normalize(raw))
            pattern = f"%{needle}%" if modifier == "contains" else f"{needle}%"
            return table.c.norm.like(pattern, escape="\\")
        if kind == "date":
            return self._date_cond(raw, table.c.low, table.c.high, crit)
        if kind in ("number", "quantity"):
            return self._number(raw, table, crit)
        if kind == "reference":
            return self._reference(param, modifier, raw, table, crit)
        raise InvalidRequest(
            f"{crit.raw_name}: unsupported parameter type", expression=crit.raw_name
        )

    @staticmethod
    def _token(raw: str, table: ColumnClause, kind: str) -> ColumnElement[bool]:
        if kind == "uri" or "|" not in raw:
            return table.c.code == raw
        system, _, code = raw.partition("|")
        conds = [table.c.system.is_(None) if system == "" else table.c.system == system]
        if code:
            conds.append(table.c.code == code)
        return and_(*conds)

    @staticmethod
    def _date_cond(
        raw: str, low_col: ColumnElement[float], high_col: ColumnElement[float], crit: Criterion
    ) -> ColumnElement[bool]:
        prefix, text = _prefix(raw)
        try:
            low, high = date_range(text)
        except BadDate:
            raise InvalidRequest(
                f"{crit.raw_name}: the value is not a FHIR date (e.g. 2024, 2024-05-01, "
                "2024-05-01T10:00:00Z), optionally with a prefix eq ne gt lt ge le sa eb ap",
                expression=crit.raw_name,
            ) from None
        inside = and_(low_col >= low, high_col <= high)
        if prefix == "eq":
            return inside
        if prefix == "ne":
            return not_(inside)
        if prefix == "gt":
            return high_col > high
        if prefix == "lt":
            return low_col < low
        if prefix == "ge":
            return or_(high_col > high, inside)
        if prefix == "le":
            return or_(low_col < low, inside)
        if prefix == "sa":
            return low_col > high
        if prefix == "eb":
            return high_col < low
        span = max((high - low) * 0.1, 86400.0)  # ap: within 10 % of the gap, at least a day
        return and_(low_col <= high + span, high_col >= low - span)

    @staticmethod
    def _number(raw: str, table: ColumnClause, crit: Criterion) -> ColumnElement[bool]:
        prefix, text = _prefix(raw)
        number, _, unit = text.partition("|")
        try:
            dec = Decimal(number)
            value = float(dec)
        except (InvalidOperation, ValueError):
            raise InvalidRequest(
                f"{crit.raw_name}: the value is not a number, optionally with a prefix and "
                "|system|code (e.g. gt5.4|http://unitsofmeasure.org|mg)",
                expression=crit.raw_name,
            ) from None
        if not math.isfinite(value):
            raise InvalidRequest(
                f"{crit.raw_name}: the number must be finite", expression=crit.raw_name
            )
        exponent = dec.as_tuple().exponent
        half = 0.5 * 10 ** (exponent if isinstance(exponent, int) else 0)
        col = table.c.value
        conds: dict[str, ColumnElement[bool]] = {
            "eq": and_(col >= value - half, col < value + half),
            "ne": or_(col < value - half, col >= value + half),
            "gt": col > value,
            "lt": col < value,
            "ge": col >= value,
            "le": col <= value,
            "sa": col > value,
            "eb": col < value,
            "ap": and_(col >= value - abs(value) * 0.1, col <= value + abs(value) * 0.1),
        }
        cond = conds[prefix]
        if unit:
            system, _, code = unit.partition("|")
            if code:
                cond = and_(cond, table.c.code == code)
                if system:
                    cond = and_(cond, table.c.system == system)
            else:  # value|unit-code with no system part given as "value||code" or "value|code"
                cond = and_(cond, table.c.code == system)
        return cond

    def _reference(
        self,
        param: SearchParam,
        modifier: str | None,
        raw: str,
        table: ColumnClause,
        crit: Criterion,
    ) -> ColumnElement[bool]:
        rtype: str | None
        rid: str | None
        url: str | None
        if "/" not in raw and ":" not in raw:
            rtype, rid, url = None, raw, None  # a bare id
        else:
            rtype, rid, url = parse_reference(raw, self.base_url)
        if modifier == MDM:
            return self._mdm(rtype, rid, url, table, crit)
        if url is not None:
            return table.c.url == url
        if rtype is None:
            rtype = modifier
            if rtype is None and len(param.targets) == 1:
                rtype = param.targets[0]
        elif modifier and modifier != rtype:
            return false()
        if not rid:
            raise InvalidRequest(f"{crit.raw_name}: empty reference", expression=crit.raw_name)
        cond = table.c.target_id == rid
        return and_(cond, table.c.target_type == rtype) if rtype else cond

    def _mdm(
        self,
        rtype: str | None,
        rid: str | None,
        url: str | None,
        table: ColumnClause,
        crit: Criterion,
    ) -> ColumnElement[bool]:
        """``:mdm``: a reference to the Patient or to any Patient linked to it (gateway.mpi)."""
        if url is not None or rtype not in (None, "Patient") or not rid:
            raise InvalidRequest(
                f"{crit.raw_name}: :mdm takes a Patient reference such as Patient/123",
                expression=crit.raw_name,
            )
        self._mdm_count += 1
        linked = linked_ids(rid, f"mdm_linked_{self._mdm_count}")
        return and_(table.c.target_type == "Patient", table.c.target_id.in_(linked))

    def _chain(self, rtype: str, crit: Criterion, res: ColumnClause) -> ColumnElement[bool]:
        chain = crit.chain
        assert chain is not None
        options = []
        for target_type, param in chain.targets:
            target = R.alias("chained")
            inner = Criterion(param, chain.modifier, crit.values, None, crit.raw_name)
            matching = select(target.c.res_id).where(
                target.c.rtype == target_type,
                target.c.deleted.is_(False),
                self.criterion(target_type, inner, target),
            )
            options.append(
                and_(T_REF.c.target_type == target_type, T_REF.c.target_id.in_(matching))
            )
        sub = select(T_REF.c.res_pk).where(
            T_REF.c.rtype == rtype, T_REF.c.param == crit.param.name, or_(*options)
        )
        return res.c.pk.in_(sub)

    @staticmethod
    def _near(rtype: str, crit: Criterion, res: ColumnClause) -> ColumnElement[bool]:
        options = []
        for raw in crit.values:
            parts = raw.split("|")
            try:
                lat, lon = float(parts[0]), float(parts[1])
                dist = float(parts[2]) if len(parts) > 2 and parts[2] else 50.0
            except (ValueError, IndexError):
                raise InvalidRequest(
                    "near must be latitude|longitude|distance|units, e.g. 35.2|-101.8|25|km",
                    expression="near",
                ) from None
            unit = parts[3] if len(parts) > 3 and parts[3] else "km"
            if unit in ("mi", "[mi_i]", "[mi_us]"):
                dist *= 1.609344
            elif unit == "m":
                dist /= 1000.0
            elif unit != "km":
                raise InvalidRequest("near: distance units must be km, m or mi", expression="near")
            cos_lat = max(math.cos(math.radians(lat)), 0.01)
            dlat = dist / KM_PER_DEGREE
            dlon = dlat / cos_lat
            dy = (T_POS.c.lat - lat) * KM_PER_DEGREE
            dx = (T_POS.c.lon - lon) * KM_PER_DEGREE * cos_lat
            options.append(
                and_(
                    T_POS.c.lat.between(lat - dlat, lat + dlat),
                    T_POS.c.lon.between(lon - dlon, lon + dlon),
                    dx * dx + dy * dy <= dist * dist,
                )
            )
        sub = select(T_POS.c.res_pk).where(T_POS.c.rtype == rtype, or_(*options))
        return res.c.pk.in_(sub)

    def order_by(
        self, req: SearchRequest, res: ColumnClause | None = None
    ) -> list[ColumnElement[object]]:
        res = R if res is None else res
        keys: list[ColumnElement[object]] = []
        for param, desc in req.sort:
            if param.name == "_id":
                col = res.c.res_id
            elif param.name == "_lastUpdated":
                col = res.c.last_updated
            else:
                table = _TABLE[param.type]
                column = {
                    "string": table.c.norm if param.type == "string" else None,
                    "date": (table.c.high if desc else table.c.low)
                    if param.type == "date"
                    else None,
                }.get(param.type)
                if column is None:
                    column = (
                        table.c.value
                        if param.type in ("number", "quantity")
                        else (table.c.target_id if param.type == "reference" else table.c.code)
                    )
                agg = func.max(column) if desc else func.min(column)
                col = (
                    select(agg)
                    .where(table.c.res_pk == res.c.pk, table.c.param == param.name)
                    .scalar_subquery()
                )
            keys.append(col.desc().nulls_last() if desc else col.asc().nulls_last())
        keys.append(res.c.pk.asc())
        return keys

    def page_query(self, req: SearchRequest, extra: Sequence[ColumnElement[bool]] = ()) -> Select:
        return (
            select(R.c.pk, R.c.res_id, R.c.content)
            .where(*self._filtered(req, extra))
            .order_by(*self.order_by(req))
            .offset(req.offset)
            .limit(req.count)
        )

    def count_query(self, req: SearchRequest, extra: Sequence[ColumnElement[bool]] = ()) -> Select:
        return select(func.count()).select_from(R).where(*self._filtered(req, extra))

    def _filtered(
        self, req: SearchRequest, extra: Sequence[ColumnElement[bool]]
    ) -> list[ColumnElement[bool]]:
        """The search's own conditions, then ``extra`` (the sharing filter) on what they match.

        The search is materialised first so that the planner cannot run the sharing filter's
        per-row probes on every row one criterion matches before another criterion has narrowed
        them (``code&date`` at 540,000 stored: 15,203 rows probed for 317 matches).
        """
        if not extra:
            return self.where(req)
        matched = select(R.c.pk).where(*self.where(req)).cte("matched").prefix_with("MATERIALIZED")
        return [R.c.pk.in_(select(matched.c.pk)), *extra]
