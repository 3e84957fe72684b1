"""Login and logout pages."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.auth import devices, service
from app.auth.deps import ANON_CSRF_COOKIE, SESSION_COOKIE, client_ip, current_principal, settings_of
from app.core.access import public
from app.core.db import DbSession
from app.core.security import sign
from app.core.templating import render

router = APIRouter()

LOGIN_FAILED = "Wrong email or password."  # the same words whether or not the account exists


@dataclass
class LoginPage:
    next: str
    email: str = ""
    error: str | None = None


def safe_next(target: str | None) -> str:
    """A local path to go to after login; anything that could leave the site becomes "/" (#15).

    Refused: other schemes (`javascript:`), hosts (`//evil`, `https://evil`), backslashes (`/\\evil`,
    which browsers read as `//`), and control characters (browsers drop tabs and newlines, so
    `/\\t/evil` would become `//evil`).
    """
    if not target or len(target) > 2048 or not target.startswith("/") or target.startswith("//"):
        return "/"
    if any(ch == "\\" or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


@router.get("/login", response_class=HTMLResponse)
@public
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "auth/login.html", LoginPage(next=safe_next(next)))


@router.post("/login", response_class=HTMLResponse)
@public
def login(
    request: Request,
    db: DbSession,
    email: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form(max_length=2048)] = "/",
) -> Response:
    settings = settings_of(request)
    device = devices.claim(request.app.state.secret_key, request.cookies.get(devices.COOKIE))
    try:
        user = service.login(db, email=email, password=password, ip=client_ip(request), settings=settings,
                             device=device)
    except service.ThrottledLogin as exc:
        db.commit()  # keep the audit record of the refused try
        page = LoginPage(next=safe_next(next), email=email, error=exc.message)
        refused = render(request, "auth/login.html", page, status_code=429)
        refused.headers["retry-after"] = str(exc.retry_after)
        return refused
    if user is None:
        db.commit()  # keep the failed attempt: throttling counts it
        page = LoginPage(next=safe_next(next), email=email, error=LOGIN_FAILED)
        return render(request, "auth/login.html", page, status_code=401)
    previous = request.state.principal.session if request.state.principal else None
    _session, token = service.start_session(db, user=user, settings=settings, ip=client_ip(request),
                                            user_agent=request.headers.get("user-agent"), replacing=previous)
    db.commit()
    response: Response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        sign(token, request.app.state.secret_key),
        max_age=settings.session_max_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies or request.url.scheme == "https",
        path="/",
    )
    response.delete_cookie(ANON_CSRF_COOKIE, path="/")
    if device is None or device[0] != user.id:  # this browser is now a known device of the account
        response.set_cookie(devices.COOKIE, devices.issue(request.app.state.secret_key, user_id=user.id),
                            max_age=devices.MAX_AGE_SECONDS, httponly=True, samesite="lax", path=devices.PATH,
                            secure=settings.secure_cookies or request.url.scheme == "https")
    return response


@router.post("/logout")
def logout(request: Request, db: DbSession) -> RedirectResponse:
    principal = current_principal(request)
    if principal.session is not None:
        service.end_session(db, session=principal.session)
        db.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
