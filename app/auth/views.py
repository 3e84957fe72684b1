"""Login and logout pages."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.auth import service
from app.auth.deps import SESSION_COOKIE, current_principal, public, settings_of
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
    """A local path to go to after login; anything that could leave the site becomes "/"."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if any(ch in target for ch in "\\\r\n\t") or ":" in target.split("?", 1)[0]:
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
    ip = request.client.host if request.client else "unknown"
    user = service.login(db, email=email, password=password, ip=ip, settings=settings)
    if user is None:
        db.commit()  # keep the failed attempt: throttling counts it
        page = LoginPage(next=safe_next(next), email=email, error=LOGIN_FAILED)
        return render(request, "auth/login.html", page, status_code=401)
    _session, token = service.start_session(
        db, user=user, settings=settings, ip=ip, user_agent=request.headers.get("user-agent")
    )
    db.commit()
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        sign(token, request.app.state.secret_key),
        max_age=settings.session_max_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies or request.url.scheme == "https",
        path="/",
    )
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
