"""API tokens for scripts: shown once, stored as SHA-256, checked on every request, revoked at once."""
from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from app.auth.models import ApiToken, User
from app.auth.service import SESSION_TOUCH_INTERVAL, Principal
from app.core import audit
from app.core.db import utcnow
from app.core.errors import Conflict, Invalid, NotFound
from app.core.security import new_token, token_digest

TOKEN_PREFIX = "cnc_"  # noqa: S105  (not a secret: lets scanners and people recognise a Concord token)
SHOWN_PREFIX_LENGTH = 12
MAX_ACTIVE_TOKENS = 50


def create_token(db: Session, *, user: User, name: str, actor: User | None) -> tuple[ApiToken, str]:
    """A new token of `user` and its raw value (never stored). Raises Invalid, Conflict (too many)."""
    name = name.strip()
    if not name or len(name) > 120:
        raise Invalid("a token needs a name of 1 to 120 characters", field="name")
    active = db.scalar(select(func.count()).select_from(ApiToken).where(
        ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))) or 0
    if active >= MAX_ACTIVE_TOKENS:
        raise Conflict(f"at most {MAX_ACTIVE_TOKENS} active tokens; revoke one first")
    raw, digest = new_token(TOKEN_PREFIX)
    token = ApiToken(user_id=user.id, name=name, token_hash=digest, prefix=raw[:SHOWN_PREFIX_LENGTH])
    db.add(token)
    db.flush()
    audit.record(db, action="token.created", actor_id=actor.id if actor else None, object_type="api_token",
                 object_id=token.id, data={"user_id": user.id, "name": name, "prefix": token.prefix})
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
        token.revoked_at = utcnow()
        audit.record(db, action="token.revoked", actor_id=actor.id if actor else None, object_type="api_token",
                     object_id=token.id, data={"user_id": token.user_id, "prefix": token.prefix})
    return token


_TOKEN_AND_USER = (select(ApiToken, User).join(User, User.id == ApiToken.user_id)
                   .where(ApiToken.token_hash == bindparam("digest")))


def token_principal(db: Session, *, token: str) -> Principal | None:
    """The active user behind a live token, else None; stamps last use (at most once a minute)."""
    found = db.execute(_TOKEN_AND_USER, {"digest": token_digest(token)}).first()  # one round trip per request
    if found is None:
        return None
    api_token, user = found
    if api_token.revoked_at is not None or not user.is_active:
        return None
    now = utcnow()
    if api_token.last_used_at is None or now - api_token.last_used_at > SESSION_TOUCH_INTERVAL:
        api_token.last_used_at = now
    return Principal(user=user, token=api_token)
