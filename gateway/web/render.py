"""Jinja2 templates for the console (autoescaped), and the HTML error page every failure renders.

Every page is server-rendered and sent with ``Cache-Control: no-store`` (it may carry patient data)
and a Content-Security-Policy that allows only the gateway's own scripts, styles and images.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES = Path(__file__).parent / "templates"
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

ROLE_LABELS = {
    "police_officer": "Police officer",
    "cit_officer": "CIT officer",
    "crisis_clinician": "Crisis clinician",
    "ed_clinician": "ED clinician",
    "bh_case_manager": "Case manager",
    "facility_intake": "Facility intake",
    "bha_auditor": "Auditor",
    "gateway_admin": "Administrator",
}


def when(ts: float | str | None) -> str:
    """An epoch time or ISO instant as ``YYYY-MM-DD HH:MM UTC`` (empty when unknown)."""
    if ts is None or ts == "":
        return ""
    if isinstance(ts, str):
        try:
            moment = datetime.fromisoformat(ts.replace("Z", "+00:00"))
        except ValueError:
            return ts
    else:
        moment = datetime.fromtimestamp(ts, UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def minutes(seconds: float | None) -> str:
    """A duration as ``45 min`` or ``3.5 h``."""
    if seconds is None:
        return "never reported"
    mins = seconds / 60
    return f"{mins:.0f} min" if mins < 120 else f"{mins / 60:.1f} h"


_ENV = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters["when"] = when
_ENV.filters["minutes"] = minutes
_ENV.globals["role_label"] = lambda role: ROLE_LABELS.get(role or "", role or "")


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
) -> HTMLResponse:
    """Render ``template`` with the signed-in user (``request.state.console``) in the context."""
    user = getattr(request.state, "console", None)
    body = _ENV.get_template(template).render(user=user, path=request.url.path, **(context or {}))
    return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)


def error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    """A page that says what went wrong and what to do, never a trace and never patient data."""
    return render(
        request, "error.html", {"title": title, "message": message, "status": status}, status=status
    )


def render_fragment(request: Request, template: str, context: dict[str, Any]) -> str:
    """A part of a page (for live updates), rendered like the page itself."""
    user = getattr(request.state, "console", None)
    return _ENV.get_template(template).render(user=user, path=request.url.path, **context)
