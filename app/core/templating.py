"""Jinja2 pages: strict (a missing value fails), autoescaped, one typed page object per template."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import StrictUndefined
from markupsafe import Markup, escape
from starlette.templating import Jinja2Templates

from app.core.flash import flash_of

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"


def _request_context(request: Request) -> dict[str, Any]:
    principal = getattr(request.state, "principal", None)
    csrf = getattr(request.state, "csrf_token", "")

    def csrf_input() -> Markup:
        return Markup('<input type="hidden" name="csrf_token" value="{}">').format(csrf)

    return {
        "current_user": principal.user if principal else None,
        "csrf_token": csrf,
        "csrf_input": csrf_input,
        "flash": flash_of(request),  # short status line after a redirect (signed: see flash.py)
    }


DISPLAY_ZONE = UTC  # the one zone pages show times in; every shown time names it
_PRECISION = {"day": "%Y-%m-%d", "minute": "%Y-%m-%d %H:%M", "second": "%Y-%m-%d %H:%M:%S"}


def when(value: datetime | str | None, precision: Literal["day", "minute", "second"] = "minute") -> Markup:
    """A moment for a page: `<time datetime="2026-12-06T05:14:34Z">2026-12-06 05:14 UTC</time>`.

    Takes a datetime or an ISO 8601 string (the JSON form of job and report times); a naive one is
    UTC, as the database stores it. None is a dash."""
    if value is None:
        return Markup("–")
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(DISPLAY_ZONE)
    machine = moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return Markup('<time datetime="{}">{} {}</time>').format(machine, moment.strftime(_PRECISION[precision]),
                                                            moment.tzname())


templates = Jinja2Templates(directory=str(TEMPLATES_DIR), context_processors=[_request_context])
templates.env.undefined = StrictUndefined
templates.env.autoescape = True
templates.env.filters["pct"] = lambda v, digits=0: "–" if v is None else f"{100 * v:.{digits}f}%"
templates.env.filters["num"] = lambda v, digits=3: "–" if v is None else f"{v:.{digits}f}"
templates.env.filters["when"] = when
templates.env.globals["escape"] = escape


def render(request: Request, template: str, page: Any = None, *, status_code: int = 200,
           **extra: Any) -> HTMLResponse:
    """Render `template` with `page` (a dataclass) as its context."""
    response = templates.TemplateResponse(request, template, {"page": page, **extra}, status_code=status_code)
    pending = getattr(request.state, "new_anon_csrf", None)
    if pending:  # the double-submit cookie behind the forms of a visitor not logged in yet
        secure = request.url.scheme == "https" or request.app.state.settings.secure_cookies
        response.set_cookie("concord_csrf", pending, httponly=True, samesite="lax", path="/", secure=secure)
    return response
