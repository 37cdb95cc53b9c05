"""The whole schema: importing this module imports every table module, so ``SQLModel.metadata``
holds every table whatever else the process imported. The migrations compare against it and the
runtime role's grants (``gateway audit grants``) are printed from it; a new table module is added
here, once."""

from __future__ import annotations

from sqlmodel import SQLModel

import gateway.db.tables
import gateway.db.tables_audit
import gateway.db.tables_auth
import gateway.db.tables_export
import gateway.db.tables_ingest
import gateway.db.tables_placement
import gateway.db.tables_referral  # noqa: F401

METADATA = SQLModel.metadata
