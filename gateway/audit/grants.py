"""PostgreSQL privileges for the gateway's runtime role: everything it needs, and no way to rewrite
the audit log. Run the output as the owner of the tables (the role that ran ``gateway db upgrade``);
the gateway then connects as ``role``, which owns nothing and so cannot disable the triggers either.
"""

from __future__ import annotations

from gateway.db.schema import METADATA  # every table, whatever else was imported

APPEND_ONLY = ("audit_leaf", "audit_patient", "audit_node", "audit_checkpoint")
INSERT_ONLY = ("audit_btg_review", "audit_accounting_suspension")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def grants_sql(role: str) -> str:
    who = _quote(role)
    audit = (*APPEND_ONLY, *INSERT_ONLY)
    others = sorted(t.name for t in METADATA.sorted_tables if t.name not in audit)
    lines = [
        f"GRANT USAGE ON SCHEMA public TO {who};",
        f"GRANT SELECT ON alembic_version TO {who};",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(others)} TO {who};",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {who};",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON {', '.join(audit)} FROM {who};",
        f"GRANT SELECT, INSERT ON {', '.join(audit)} TO {who};",
        # The sequencer sets a leaf's index and hash once; the trigger refuses anything else.
        f"GRANT UPDATE (idx, leaf_hash) ON audit_leaf TO {who};",
    ]
    return "\n".join(lines)
