"""Jinja2 pages: strict (a missing value fails), autoescaped, one typed page object per template."""
from __future__ import annotations

from pathlib import Path
from typing import Any

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


templates = Jinja2Templates(directory=str(TEMPLATES_DIR), context_processors=[_request_context])
templates.env.undefined = StrictUndefined
templates.env.autoescape = True
templates.env.filters["pct"] = lambda v, digits=0: "–" if v is None else f"{100 * v:.{digits}f}%"
templates.env.filters["num"] = lambda v, digits=3: "–" if v is None else f"{v:.{digits}f}"
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
