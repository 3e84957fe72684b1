"""Users, login sessions and the checks behind every request."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import ApiToken, LoginAttempt, Membership, Role, User, UserSession
from app.core import audit
from app.core.config import Settings
from app.core.db import utcnow
from app.core.errors import Conflict, Invalid
from app.core.security import MIN_PASSWORD_LENGTH, hash_password, new_token, token_digest, verify_password

# last_seen_at is written at most this often, so reads do not each become a write.
SESSION_TOUCH_INTERVAL = timedelta(minutes=1)


@dataclass
class Principal:
    """Who is calling: a user, through a browser session or an API token."""

    user: User
    session: UserSession | None = None
    token: ApiToken | None = None


def normalize_email(email: str) -> str:
    return email.strip().lower()


def create_user(
    db: Session, *, email: str, display_name: str, password: str | None, is_site_admin: bool = False,
    is_active: bool = True,
) -> User:
    """Raises Conflict when the email is taken, Invalid for a short password."""
    email = normalize_email(email)
    if "@" not in email or len(email) > 254:
        raise Invalid("an email address is required", field="email")
    if db.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"a user with email {email} already exists", field="email")
    if password is not None:
        check_password_strength(password)
    user = User(
        email=email,
        display_name=display_name.strip() or email,
        password_hash=hash_password(password) if password is not None else None,
        is_site_admin=is_site_admin,
        is_active=is_active,
    )
    db.add(user)
    db.flush()
    return user


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(f"the password must have at least {MIN_PASSWORD_LENGTH} characters", field="password")


def get_user_by_email(db: Session, email: str) -> User | None:
    return db.scalar(select(User).where(User.email == normalize_email(email)))


def authenticate_password(db: Session, *, email: str, password: str) -> User | None:
    """The active user with this email and password, else None (same cost either way)."""
    user = get_user_by_email(db, email)
    ok = verify_password(user.password_hash if user else None, password)
    return user if ok and user is not None and user.is_active else None


def start_session(db: Session, *, user: User, settings: Settings, ip: str | None,
                  user_agent: str | None) -> tuple[UserSession, str]:
    """A new session (a fresh id on every login) and the raw token for the cookie."""
    token, digest = new_token()
    now = utcnow()
    session = UserSession(
        token_hash=digest,
        user_id=user.id,
        csrf_token=new_token()[0],
        last_seen_at=now,
        expires_at=now + timedelta(hours=settings.session_max_hours),
        ip=ip,
        user_agent=(user_agent or "")[:255],
    )
    db.add(session)
    db.flush()
    audit.record(db, action="login", actor_id=user.id, object_type="user", object_id=user.id, ip=ip)
    return session, token


def session_principal(db: Session, *, token: str, settings: Settings) -> Principal | None:
    session = db.scalar(select(UserSession).where(UserSession.token_hash == token_digest(token)))
    now = utcnow()
    if session is None or session.revoked_at is not None or session.expires_at <= now:
        return None
    if now - session.last_seen_at > timedelta(minutes=settings.session_idle_minutes):
        return None
    user = db.get(User, session.user_id)
    if user is None or not user.is_active:
        return None
    if now - session.last_seen_at > SESSION_TOUCH_INTERVAL:
        session.last_seen_at = now
    return Principal(user=user, session=session)


def token_principal(db: Session, *, token: str) -> Principal | None:
    api_token = db.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(token)))
    if api_token is None or api_token.revoked_at is not None:
        return None
    user = db.get(User, api_token.user_id)
    if user is None or not user.is_active:
        return None
    now = utcnow()
    if api_token.last_used_at is None or now - api_token.last_used_at > SESSION_TOUCH_INTERVAL:
        api_token.last_used_at = now
    return Principal(user=user, token=api_token)


def end_session(db: Session, *, session: UserSession) -> None:
    session.revoked_at = utcnow()
    audit.record(db, action="logout", actor_id=session.user_id, object_type="user", object_id=session.user_id)


def project_role(db: Session, *, user: User, project_id: int) -> Role | None:
    """The user's role in the project; site admins administer every project."""
    if user.is_site_admin:
        return Role.admin
    role = db.scalar(
        select(Membership.role).where(Membership.user_id == user.id, Membership.project_id == project_id)
    )
    return Role(role) if role is not None else None


def set_membership(db: Session, *, project_id: int, user: User, role: Role, actor: User | None) -> Membership:
    membership = db.scalar(
        select(Membership).where(Membership.user_id == user.id, Membership.project_id == project_id)
    )
    previous = membership.role if membership else None
    if membership is None:
        membership = Membership(user_id=user.id, project_id=project_id, role=role)
        db.add(membership)
    else:
        membership.role = role
    db.flush()
    audit.record(
        db, action="role.changed", actor_id=actor.id if actor else None, project_id=project_id,
        object_type="user", object_id=user.id, data={"from": previous, "to": str(role)},
    )
    return membership


def login(db: Session, *, email: str, password: str, ip: str, settings: Settings) -> User | None:
    """Check a login, recording the attempt; None for any failure (the reason is not revealed)."""
    email = normalize_email(email)
    user = authenticate_password(db, email=email, password=password)
    db.add(LoginAttempt(email=email, ip=ip, succeeded=user is not None))
    if user is None:
        known = get_user_by_email(db, email)
        audit.record(db, action="login.failed", actor_id=known.id if known else None,
                     data={"email": email}, ip=ip)
    return user
