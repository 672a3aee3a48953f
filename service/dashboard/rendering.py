"""Jinja2 templates, their filters, and the page wrapper that adds the session's CSRF token and
the one-shot flash message to every page."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from service.dashboard.auth import Admin, clear_cookie, secret_of
from service.dashboard.eval_queries import input_text, output_text
from service.dashboard.session import FLASH_COOKIE, read_flash
from service.settings import Settings

HERE = Path(__file__).parent
NAV = (
    ("overview", "Overview", "/admin"),
    ("jobs", "Jobs", "/admin/jobs"),
    ("evals", "Evaluations", "/admin/evals"),
    ("studies", "Studies", "/admin/studies"),
    ("spend", "Spend", "/admin/spend"),
    ("providers", "Providers", "/admin/providers"),
    ("webhooks", "Webhooks", "/admin/webhooks"),
)


def money(value: Decimal | float | str | None, currency: str = "USD") -> str:
    if value is None:
        return "—"
    amount = Decimal(str(value))
    cents = amount.quantize(Decimal("0.01"))
    # Sub-dollar amounts that cents would round away (a few thousand tokens) keep 4 places.
    shown = f"{cents:,}" if cents == amount or abs(amount) >= 1 else f"{amount:,.4f}"
    return f"${shown}" if currency == "USD" else f"{shown} {currency}"


def when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).isoformat()


def as_json(value: Any) -> Markup:
    """JSON for an HTML attribute or a <pre>: escaped by autoescape when placed in the page."""
    return Markup.escape(json.dumps(value, indent=None, sort_keys=True, default=str))


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.filters.update(
    money=money,
    when=when,
    iso=iso,
    as_json=as_json,
    pretty_json=pretty_json,
    percent=percent,
    input_text=input_text,
    output_text=output_text,
)


def render(
    request: Request,
    settings: Settings,
    admin: Admin | None,
    template: str,
    *,
    section: str = "",
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    flash = read_flash(secret_of(settings), request.cookies.get(FLASH_COOKIE))
    response = templates.TemplateResponse(
        request,
        template,
        {
            "nav": NAV,
            "section": section,
            "admin": admin,
            "csrf_token": admin.csrf_token if admin else "",
            "flash": flash,
            **context,
        },
        status_code=status_code,
    )
    if flash is not None:
        clear_cookie(request, response, FLASH_COOKIE)
    # Admin pages carry tenant data: never cache them, never frame them.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'"
    )
    response.headers["Referrer-Policy"] = "same-origin"
    return response
