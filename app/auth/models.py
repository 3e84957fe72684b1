"""People, their roles in projects, their sessions and API tokens."""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.columns import created_at_column, one_of
from app.core.db import Base, UTCDateTime


class Role(StrEnum):
    """Project roles, each including the rights of the ones before it."""

    inspector = "inspector"
    reviewer = "reviewer"
    admin = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-case
    display_name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str | None] = mapped_column(String(255))  # None: cannot log in (imported)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_site_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = created_at_column()


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "project_id"), one_of("role", Role))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = created_at_column()


class TokenRevoked(StrEnum):
    """Why an API token stopped before its expiry (its owner is told)."""

    by_hand = "revoked"
    password_changed = "password_changed"  # noqa: S105  (a reason, not a password)
    password_reset = "password_reset"  # noqa: S105

    def because(self) -> str:
        return {TokenRevoked.by_hand: "", TokenRevoked.password_changed: " when the account's password changed",
                TokenRevoked.password_reset: " when an operator reset the account's password"}[self]


class ApiToken(Base):
    """A script's credential; only its SHA-256 is stored, the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # first characters, to recognise it in lists
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)  # chosen at creation, within the site maximum
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(String(32))  # a TokenRevoked


class UserSession(Base):
    """A browser session. The cookie carries the signed id; logout or expiry ends it for good."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at_column()
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))


class LoginAttempt(Base):
    """Every login try, kept in the database so that throttling holds across app processes."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_email_created", "email", "created_at"),
        Index("ix_login_attempts_ip_created", "ip", "created_at"),
        Index("ix_login_attempts_device_created", "device", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    ip: Mapped[str] = mapped_column(String(64))
    # A browser the account logged in from before (app.auth.devices): its tries are counted apart
    device: Mapped[str | None] = mapped_column(String(32))
    succeeded: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = created_at_column()
