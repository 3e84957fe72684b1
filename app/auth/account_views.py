"""/account: change one's own password, see and end other sessions, manage one's API tokens."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from app.auth import service, tokens
from app.auth.deps import BrowserSession, CurrentPrincipal, CurrentUser, client_ip, settings_of
from app.auth.models import ApiToken, User
from app.core.config import Settings
from app.core.db import DbSession, utcnow
from app.core.errors import Conflict, Invalid, TooManyRequests
from app.core.flash import redirect_with_flash
from app.core.templating import render

router = APIRouter()


@dataclass
class AccountPage:
    user: User
    tokens: Sequence[ApiToken]
    other_sessions: int
    lifetimes: list[int]  # the token lifetimes offered, in days (the site maximum last)
    default_lifetime: int
    now: datetime
    new_token: str | None = None  # shown on this one response, never again
    password_error: str | None = None
    token_error: str | None = None
    token_name: str = ""


def _page(db: Session, principal: service.Principal, settings: Settings, **extra: object) -> AccountPage:
    live = service.count_live_sessions(db, user_id=principal.user.id, settings=settings)
    lifetimes = sorted({d for d in (7, 30, 90, 365) if d < settings.token_max_days} | {settings.token_max_days})
    return AccountPage(user=principal.user, tokens=tokens.tokens_of(db, user_id=principal.user.id),
                       other_sessions=max(0, live - (1 if principal.session else 0)), lifetimes=lifetimes,
                       default_lifetime=tokens.lifetime(None, max_days=settings.token_max_days).days, now=utcnow(),
                       **extra)  # type: ignore[arg-type]


@router.get("/account", response_class=HTMLResponse)
def account(request: Request, principal: CurrentPrincipal, db: DbSession) -> HTMLResponse:
    return render(request, "auth/account.html", _page(db, principal, settings_of(request)))


@router.post("/account/password", response_class=HTMLResponse)
def change_password(
    request: Request, principal: BrowserSession, db: DbSession,
    current_password: Annotated[str, Form(max_length=1024)],
    new_password: Annotated[str, Form(max_length=1024)],
    confirm_password: Annotated[str, Form(max_length=1024)],
) -> Response:
    try:
        if new_password != confirm_password:
            raise Invalid("the two new passwords differ", field="confirm_password")
        ended = service.change_password(db, user=principal.user, current=current_password, new=new_password,
                                        keep=principal.session, ip=client_ip(request), settings=settings_of(request))
    except (Invalid, TooManyRequests) as exc:
        db.commit()  # a wrong current password is counted like a failed login
        page = _page(db, principal, settings_of(request), password_error=exc.message)
        return render(request, "auth/account.html", page, status_code=exc.status_code)
    db.commit()
    said = ended.sentence()
    return redirect_with_flash(request, "/account", f"Password changed{'; ' + said if said else ''}.")


@router.post("/account/tokens", response_class=HTMLResponse)
def create_token(request: Request, principal: BrowserSession, db: DbSession,
                 name: Annotated[str, Form(max_length=200)],
                 expires_in_days: Annotated[int | None, Form()] = None) -> HTMLResponse:
    try:
        with db.begin_nested():  # a refusal undoes only this attempt
            _token, raw = tokens.create_token(db, user=principal.user, name=name, actor=principal.user,
                                              days=expires_in_days, max_days=settings_of(request).token_max_days)
    except (Invalid, Conflict) as exc:
        page = _page(db, principal, settings_of(request), token_error=exc.message, token_name=name)
        return render(request, "auth/account.html", page, status_code=exc.status_code)
    db.commit()
    # Rendered, not redirected: the token must not ride in a URL; no-store keeps it out of caches.
    response = render(request, "auth/account.html", _page(db, principal, settings_of(request), new_token=raw))
    response.headers["cache-control"] = "no-store"
    return response


@router.post("/account/tokens/{token_id}/revoke")
def revoke_token(request: Request, token_id: int, user: CurrentUser, db: DbSession) -> RedirectResponse:
    token = tokens.revoke_token(db, token_id=token_id, user_id=user.id, actor=user)
    db.commit()
    return redirect_with_flash(request, "/account", f"Token {token.prefix}… revoked.")


@router.post("/account/sessions/revoke")
def revoke_other_sessions(request: Request, principal: BrowserSession, db: DbSession) -> RedirectResponse:
    ended = service.end_other_sessions(db, user=principal.user, keep=principal.session)
    db.commit()
    return redirect_with_flash(request, "/account", f"{ended} other session{'s' if ended != 1 else ''} signed out.")
