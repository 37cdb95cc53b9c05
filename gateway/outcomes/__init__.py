"""Program reports: the numbers behind the program dashboard (``GET /outcomes/dashboard``).

endpoints (HTTP, roles, audit) -> service (figures) -> repository (SQL); suppression of small cells
is applied to everything before it leaves (:mod:`gateway.outcomes.suppression`).
"""
