"""Users, passwords, login sessions and the project-role check behind every request.

Other domains use: `project_role`, `set_membership`, `get_user_by_email`, `create_user`.
Memberships as pages and the API manage them live in `app.auth.members`; API tokens in
`app.auth.tokens`; login throttling in `app.auth.throttle`. Nothing here commits.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from app.auth import passwords, throttle
from app.auth.models import ApiToken, Membership, Role, TokenRevoked, User, UserSession
from app.core import audit
from app.core.config import Settings
from app.core.db import utcnow
from app.core.errors import Conflict, Invalid, NotFound, TooManyRequests
from app.core.listing import Filter, Filtering, FilterSet, Sorting, SortOrder, parse_bool
from app.core.security import (
    hash_password,
    needs_rehash,
    new_token,
    token_digest,
    verify_password,
)
from app.projects.models import Project

# last_seen_at is written at most this often, so reads do not each become a write.
SESSION_TOUCH_INTERVAL = timedelta(minutes=1)

USER_SORT = Sorting({"email": User.email, "name": User.display_name, "created": User.created_at},
                    default="email", tiebreak=User.id)
USER_FILTER = Filtering({"active": Filter(User.is_active, parse_bool),
                         "site_admin": Filter(User.is_site_admin, parse_bool)})


@dataclass
class Principal:
    """Who is calling: a user, through a browser session or an API token."""

    user: User
    session: UserSession | None = None
    token: ApiToken | None = None


class ThrottledLogin(TooManyRequests):
    """A login try refused before the password was checked; `retry_after` in seconds."""

    def __init__(self, verdict: throttle.Verdict) -> None:
        super().__init__(verdict.message(), detail={"retry_after": verdict.retry_after})
        self.retry_after = verdict.retry_after


# ---- users ---------------------------------------------------------------------------------------------

def normalize_email(email: str) -> str:
    return email.strip().lower()


def create_user(
    db: Session, *, email: str, display_name: str, password: str | None, is_site_admin: bool = False,
    is_active: bool = True, actor: User | None = None,
) -> User:
    """Raises Conflict when the email is taken, Invalid for a bad email or a short password."""
    email = normalize_email(email)
    local, at, domain = email.partition("@")
    if not (local and at and domain) or len(email) > 254 or any(c.isspace() for c in email):
        raise Invalid("a valid email address is required", field="email")
    if db.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"a user with email {email} already exists", field="email")
    if password is not None:
        check_password_strength(password, email=email, name=display_name)
    user = User(
        email=email,
        display_name=display_name.strip()[:120] or email,
        password_hash=hash_password(password) if password is not None else None,
        is_site_admin=is_site_admin,
        is_active=is_active,
    )
    db.add(user)
    db.flush()
    audit.record(db, action="user.created", actor_id=actor.id if actor else None, object_type="user",
                 object_id=user.id, data={"email": email, "site_admin": is_site_admin})
    return user


def check_password_strength(password: str, *, email: str, name: str) -> None:
    """Raises Invalid saying why the password is refused (see app.auth.passwords)."""
    reason = passwords.problem(password, email=email, name=name)
    if reason is not None:
        raise Invalid(reason, field="password")


def get_user_by_email(db: Session, email: str) -> User | None:
    return db.scalar(select(User).where(User.email == normalize_email(email)))


def get_user(db: Session, user_id: int) -> User:
    user = db.get(User, user_id)
    if user is None:
        raise NotFound("user not found")
    return user


def list_users(db: Session, *, order: SortOrder | None = None, filters: FilterSet | None = None) -> Sequence[User]:
    query = (order or USER_SORT.default).apply(select(User))
    return db.scalars(filters.apply(query) if filters else query).all()


def membership_counts(db: Session) -> dict[int, int]:
    return dict(db.execute(select(Membership.user_id, func.count()).group_by(Membership.user_id)).all())


def member_counts_by_project(db: Session) -> dict[int, int]:
    return dict(db.execute(select(Membership.project_id, func.count()).group_by(Membership.project_id)).all())


def set_user_active(db: Session, *, user_id: int, active: bool, actor: User) -> User:
    """Deactivating ends the user's sessions; their API tokens stop working while inactive."""
    user = get_user(db, user_id)
    if user.id == actor.id and not active:
        raise Conflict("you cannot deactivate your own account")
    if user.is_active != active:
        user.is_active = active
        if not active:
            revoke_sessions(db, user_id=user.id)
        audit.record(db, action="user.activated" if active else "user.deactivated", actor_id=actor.id,
                     object_type="user", object_id=user.id)
    return user


# ---- passwords -----------------------------------------------------------------------------------------

def authenticate_password(db: Session, *, email: str, password: str) -> User | None:
    """The active user with this email and password, else None (same cost either way)."""
    user = get_user_by_email(db, email)
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.is_active:
        return None
    if user.password_hash and needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)  # older parameters: upgrade while we know the password
    return user


@dataclass(frozen=True)
class Ended:
    """What a password change or reset ended: the other sessions, and every API token."""

    sessions: int
    tokens: int

    def sentence(self, *, other: bool = True) -> str:
        which = "other session" if other else "session"
        parts = [f"{self.sessions} {which}{'s' if self.sessions != 1 else ''} signed out"] if self.sessions else []
        if self.tokens:
            parts.append(f"{self.tokens} API token{'s' if self.tokens != 1 else ''} revoked (create new ones)")
        return "; ".join(parts)


def set_password(db: Session, *, user: User, password: str, actor: User | None) -> Ended:
    """Set a password (an operator's reset); every session and API token of the user ends."""
    check_password_strength(password, email=user.email, name=user.display_name)
    user.password_hash = hash_password(password)
    ended = Ended(revoke_sessions(db, user_id=user.id),
                  revoke_tokens(db, user_id=user.id, reason=TokenRevoked.password_reset))
    audit.record(db, action="password.changed", actor_id=actor.id if actor else None, object_type="user",
                 object_id=user.id, data={"by": "self" if actor and actor.id == user.id else "operator",
                                          "sessions_ended": ended.sessions, "tokens_revoked": ended.tokens})
    return ended


def change_password(db: Session, *, user: User, current: str, new: str, keep: UserSession | None, ip: str,
                    settings: Settings) -> Ended:
    """The user's own change: the current password is checked (and throttled like a login).

    Every other session and every API token of the user ends. Raises ThrottledLogin, Invalid. Tries are
    counted on the session's own key (a logged-in browser is a known device): a stranger's guesses that
    lock the account must not stop its owner from changing the password.
    """
    device = f"session-{keep.id}" if keep is not None else None
    verdict = throttle.check(db, email=user.email, ip=ip, settings=settings, device=device)
    if not verdict.allowed:
        raise ThrottledLogin(verdict)
    if not verify_password(user.password_hash, current):
        throttle.record(db, email=user.email, ip=ip, succeeded=False, settings=settings, device=device)
        audit.record(db, action="password.change_failed", actor_id=user.id, object_type="user", object_id=user.id,
                     ip=ip)
        raise Invalid("the current password is wrong", field="current_password")
    if new == current:
        raise Invalid("the new password must differ from the current one", field="new_password")
    check_password_strength(new, email=user.email, name=user.display_name)
    user.password_hash = hash_password(new)
    ended = Ended(revoke_sessions(db, user_id=user.id, keep=keep),
                  revoke_tokens(db, user_id=user.id, reason=TokenRevoked.password_changed))
    audit.record(db, action="password.changed", actor_id=user.id, object_type="user", object_id=user.id,
                 data={"by": "self", "sessions_ended": ended.sessions, "tokens_revoked": ended.tokens}, ip=ip)
    return ended


# ---- login and sessions --------------------------------------------------------------------------------

def login(db: Session, *, email: str, password: str, ip: str, settings: Settings,
          device: tuple[int, str] | None = None) -> User | None:
    """Check a login, recording the attempt; None for any failure (the reason is not revealed).

    `device`: (account id, device id) of the browser's known-device cookie (app.auth.devices); when it
    is the account's, the try is throttled on the device's key only. Raises ThrottledLogin, before any
    password is checked, while the try's keys are throttled.
    """
    email = normalize_email(email)
    known_device = _device_of(db, email, device)
    verdict = throttle.check(db, email=email, ip=ip, settings=settings, device=known_device)
    if not verdict.allowed:
        audit.record(db, action="login.throttled", data=_attempted(email), ip=ip)
        raise ThrottledLogin(verdict)
    user = authenticate_password(db, email=email, password=password)
    throttle.record(db, email=email, ip=ip, succeeded=user is not None, settings=settings, device=known_device)
    if user is None:
        known = get_user_by_email(db, email)
        audit.record(db, action="login.failed", actor_id=known.id if known else None, object_type="user",
                     object_id=known.id if known else None, data=_attempted(email), ip=ip)
    return user


def _device_of(db: Session, email: str, device: tuple[int, str] | None) -> str | None:
    if device is None:
        return None
    account = db.scalar(select(User.id).where(User.email == email))
    return device[1] if account == device[0] else None


def _attempted(email: str) -> dict[str, str]:
    # People type passwords into the email box; only something shaped like an address is kept.
    looks_like_email = "@" in email and not any(c.isspace() for c in email)
    return {"email": email} if looks_like_email else {"email": "(not an address)"}


def start_session(db: Session, *, user: User, settings: Settings, ip: str | None, user_agent: str | None,
                  replacing: UserSession | None = None) -> tuple[UserSession, str]:
    """A new session (a fresh id and CSRF token on every login) and the raw token for the cookie.

    `replacing`: the session the browser already had, which ends here (no id survives a login).
    """
    if replacing is not None and replacing.revoked_at is None:
        replacing.revoked_at = utcnow()
    token, digest = new_token()
    now = utcnow()
    session = UserSession(
        token_hash=digest,
        user_id=user.id,
        csrf_token=new_token()[0],
        last_seen_at=now,
        expires_at=now + timedelta(hours=settings.session_max_hours),
        ip=(ip or "")[:64] or None,
        user_agent=(user_agent or "")[:255],
    )
    db.add(session)
    db.flush()
    audit.record(db, action="login", actor_id=user.id, object_type="user", object_id=user.id, ip=ip,
                 data={"session_id": session.id})
    return session, token


def session_principal(db: Session, *, token: str, settings: Settings) -> Principal | None:
    """The live session behind a cookie: not revoked, not past its absolute or idle expiry."""
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


def end_session(db: Session, *, session: UserSession) -> None:
    session.revoked_at = utcnow()
    audit.record(db, action="logout", actor_id=session.user_id, object_type="user", object_id=session.user_id,
                 data={"session_id": session.id})


def revoke_sessions(db: Session, *, user_id: int, keep: UserSession | None = None) -> int:
    """End every live session of the user except `keep`; returns how many ended."""
    query = update(UserSession).where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
    if keep is not None:
        query = query.where(UserSession.id != keep.id)
    result = db.execute(query.values(revoked_at=utcnow()).execution_options(synchronize_session="fetch"))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def revoke_tokens(db: Session, *, user_id: int, reason: TokenRevoked) -> int:
    """Revoke every live API token of the user (a password change or reset); returns how many."""
    now = utcnow()
    query = update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None),
                                   ApiToken.expires_at > now)
    result = db.execute(query.values(revoked_at=now, revoked_reason=reason)
                        .execution_options(synchronize_session="fetch"))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def end_other_sessions(db: Session, *, user: User, keep: UserSession | None) -> int:
    """"Sign out everywhere else": every session of the user but `keep` ends; returns how many."""
    ended = revoke_sessions(db, user_id=user.id, keep=keep)
    if ended:
        audit.record(db, action="sessions.revoked", actor_id=user.id, object_type="user", object_id=user.id,
                     data={"count": ended})
    return ended


def count_live_sessions(db: Session, *, user_id: int, settings: Settings) -> int:
    """Sessions that would still let someone in: not revoked, not expired, not idle too long."""
    now = utcnow()
    return db.scalar(select(func.count()).select_from(UserSession).where(
        UserSession.user_id == user_id, UserSession.revoked_at.is_(None), UserSession.expires_at > now,
        UserSession.last_seen_at > now - timedelta(minutes=settings.session_idle_minutes))) or 0


# ---- project roles -------------------------------------------------------------------------------------

_PROJECT_AND_ROLE = (select(Project, Membership.role)
                     .outerjoin(Membership, (Membership.project_id == Project.id)
                                & (Membership.user_id == bindparam("user_id")))
                     .where(Project.id == bindparam("project_id")))


def project_and_role(db: Session, *, user: User, project_id: int) -> tuple[Project | None, Role | None]:
    """The project and the user's role in it, in one round trip (every project route asks)."""
    found = db.execute(_PROJECT_AND_ROLE, {"user_id": user.id, "project_id": project_id}).first()
    if found is None:
        return None, None
    project, role = found
    if user.is_site_admin:
        return project, Role.admin
    return project, Role(role) if role is not None else None


def project_role(db: Session, *, user: User, project_id: int) -> Role | None:
    """The user's role in the project; site admins administer every project."""
    if user.is_site_admin:
        return Role.admin
    role = db.scalar(
        select(Membership.role).where(Membership.user_id == user.id, Membership.project_id == project_id)
    )
    return Role(role) if role is not None else None


def roles_of(db: Session, *, user: User) -> dict[int, Role]:
    """Project id → the user's role, for the projects they are a member of."""
    rows = db.execute(select(Membership.project_id, Membership.role).where(Membership.user_id == user.id)).all()
    return {project_id: Role(role) for project_id, role in rows}


def set_membership(db: Session, *, project_id: int, user: User, role: Role, actor: User | None) -> Membership:
    """Add the user to the project with `role`, or change their role (CLI, demo data, tests)."""
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
    if previous != role:
        audit.record(
            db, action="member.added" if previous is None else "role.changed", actor_id=actor.id if actor else None,
            project_id=project_id, object_type="user", object_id=user.id, data={"from": previous, "to": str(role)},
        )
    return membership
