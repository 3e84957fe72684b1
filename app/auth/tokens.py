"""API tokens for scripts: shown once, stored as SHA-256, checked on every request, revoked at once.

Each token expires after the days chosen at creation (DEFAULT_DAYS unless chosen), never more than
the site's `token_max_days`. A password change or an operator's reset revokes every token of the
account (a stolen password must not leave a stolen token working); the account page and the API's
401 say when and why a token stopped. Deactivating an account stops its tokens while it is inactive.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from app.auth.models import ApiToken, TokenRevoked, User
from app.auth.service import SESSION_TOUCH_INTERVAL, Principal
from app.core import audit
from app.core.db import utcnow
from app.core.errors import Conflict, Invalid, NotFound, Unauthorized
from app.core.security import new_token, token_digest

TOKEN_PREFIX = "cnc_"  # noqa: S105  (not a secret: lets scanners and people recognise a Concord token)
SHOWN_PREFIX_LENGTH = 12
MAX_ACTIVE_TOKENS = 50
DEFAULT_DAYS = 30


def lifetime(days: int | None, *, max_days: int) -> timedelta:
    """The chosen lifetime (DEFAULT_DAYS, or the maximum when that is shorter); Invalid outside 1..max_days."""
    chosen = min(DEFAULT_DAYS, max_days) if days is None else days
    if not 1 <= chosen <= max_days:
        raise Invalid(f"a token lasts 1 to {max_days} days (the site's maximum)", field="expires_in_days")
    return timedelta(days=chosen)


def create_token(db: Session, *, user: User, name: str, actor: User | None, max_days: int,
                 days: int | None = None) -> tuple[ApiToken, str]:
    """A new token of `user` and its raw value (never stored). Raises Invalid, Conflict (too many)."""
    name = name.strip()
    if not name or len(name) > 120:
        raise Invalid("a token needs a name of 1 to 120 characters", field="name")
    expires_at = utcnow() + lifetime(days, max_days=max_days)
    active = db.scalar(select(func.count()).select_from(ApiToken).where(
        ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))) or 0
    if active >= MAX_ACTIVE_TOKENS:
        raise Conflict(f"at most {MAX_ACTIVE_TOKENS} active tokens; revoke one first")
    raw, digest = new_token(TOKEN_PREFIX)
    token = ApiToken(user_id=user.id, name=name, token_hash=digest, prefix=raw[:SHOWN_PREFIX_LENGTH],
                     expires_at=expires_at)
    db.add(token)
    db.flush()
    audit.record(db, action="token.created", actor_id=actor.id if actor else None, object_type="api_token",
                 object_id=token.id, data={"user_id": user.id, "name": name, "prefix": token.prefix,
                                           "expires_at": expires_at.isoformat()})
    return token, raw


def tokens_of(db: Session, *, user_id: int) -> Sequence[ApiToken]:
    """Newest first; revoked ones included (they show when and that they were revoked)."""
    return db.scalars(select(ApiToken).where(ApiToken.user_id == user_id)
                      .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())).all()


def get_token(db: Session, *, token_id: int, user_id: int | None) -> ApiToken:
    """The token by id, owned by `user_id` (None: any owner, for the operator's CLI); else NotFound."""
    token = db.get(ApiToken, token_id)
    if token is None or (user_id is not None and token.user_id != user_id):
        raise NotFound("token not found")
    return token


def revoke_token(db: Session, *, token_id: int, user_id: int | None, actor: User | None) -> ApiToken:
    """Revoke (idempotent: a revoked token stays revoked, with its first date). Raises NotFound."""
    token = get_token(db, token_id=token_id, user_id=user_id)
    if token.revoked_at is None:
        token.revoked_at, token.revoked_reason = utcnow(), TokenRevoked.by_hand
        audit.record(db, action="token.revoked", actor_id=actor.id if actor else None, object_type="api_token",
                     object_id=token.id, data={"user_id": token.user_id, "prefix": token.prefix})
    return token


_TOKEN_AND_USER = (select(ApiToken, User).join(User, User.id == ApiToken.user_id)
                   .where(ApiToken.token_hash == bindparam("digest")))


def token_principal(db: Session, *, token: str) -> Principal:
    """The active user behind a live token; stamps last use (at most once a minute).

    Raises Unauthorized saying whether the token is unknown, revoked (when, and why) or expired.
    """
    found = db.execute(_TOKEN_AND_USER, {"digest": token_digest(token)}).first()  # one round trip per request
    if found is None:
        raise Unauthorized("the API token is not valid")
    api_token, user = found
    now = utcnow()
    if api_token.revoked_at is not None:
        reason = TokenRevoked(api_token.revoked_reason or TokenRevoked.by_hand)
        raise Unauthorized(f"this API token was revoked on {api_token.revoked_at:%Y-%m-%d}{reason.because()}; "
                           "create a new one on /account")
    if api_token.expires_at <= now:
        raise Unauthorized(f"this API token expired on {api_token.expires_at:%Y-%m-%d}; create a new one on /account")
    if not user.is_active:
        raise Unauthorized("the API token's account is deactivated")
    if api_token.last_used_at is None or now - api_token.last_used_at > SESSION_TOUCH_INTERVAL:
        api_token.last_used_at = now
    return Principal(user=user, token=api_token)
